"""factory_boy factories shared by all test packages. Keep additions additive."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from cases.models import (
    Customer,
    DirectOrIndirect,
    Entity,
    EntityType,
    Interest,
    InterestType,
    Person,
    PersonType,
    Relationship,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("correct-horse-battery-staple")
    is_staff = True


class EntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entity

    external_id = factory.Sequence(lambda n: f"entity-{n}")
    name = factory.Sequence(lambda n: f"Entity {n} Ltd")
    entity_type = EntityType.REGISTERED_ENTITY
    jurisdiction_id = "GB"


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    external_id = factory.Sequence(lambda n: f"person-{n}")
    name = factory.Sequence(lambda n: f"Person {n}")
    person_type = PersonType.KNOWN_PERSON
    nationalities = factory.LazyFunction(lambda: ["GB"])


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Relationship

    external_id = factory.Sequence(lambda n: f"rel-{n}")
    subject = factory.SubFactory(EntityFactory)
    interested_person = factory.SubFactory(PersonFactory)


class InterestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interest

    relationship = factory.SubFactory(RelationshipFactory)
    interest_type = InterestType.SHAREHOLDING
    direct_or_indirect = DirectOrIndirect.DIRECT
    share_exact = Decimal("100")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    entity = factory.SubFactory(EntityFactory)
    customer_reference = factory.Sequence(lambda n: f"CUST-{n:05d}")
    onboarded_on = factory.LazyFunction(lambda: datetime.date(2026, 1, 1))


def stake(owner, subject, percent, *, interest_type=InterestType.SHAREHOLDING, **interest_fields) -> Relationship:
    """Create ``owner`` (Entity or Person) holding ``percent`` of ``subject`` in one call."""
    parties = {"interested_entity": owner, "interested_person": None}
    if not isinstance(owner, Entity):
        parties = {"interested_entity": None, "interested_person": owner}
    relationship = RelationshipFactory(subject=subject, **parties)
    share = {} if percent is None else {"share_exact": Decimal(str(percent))}
    InterestFactory(relationship=relationship, interest_type=interest_type, **share, **interest_fields)
    return relationship
