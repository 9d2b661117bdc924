"""Fixtures for the admin tests: role users and a screened scenario (spec example 3) with an open case."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from cases.models import Case, CaseStatus, Entity
from cases.roles import AUDITOR, INTEGRATION, INVESTIGATOR, MANAGER, roles_sync
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, UserFactory, stake


def make_user(role: str | None, **kwargs):
    roles_sync()
    user = UserFactory(is_staff=role != INTEGRATION, **kwargs)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def investigator(db):
    return make_user(INVESTIGATOR, username="ivy")


@pytest.fixture
def investigator2(db):
    return make_user(INVESTIGATOR, username="ian")


@pytest.fixture
def manager(db):
    return make_user(MANAGER, username="mona")


@pytest.fixture
def manager2(db):
    return make_user(MANAGER, username="max")


@pytest.fixture
def auditor(db):
    return make_user(AUDITOR, username="audrey")


@pytest.fixture
def integration(db):
    return make_user(INTEGRATION, username="robot")


@pytest.fixture
def superuser(db):
    return make_user(None, username="root", is_superuser=True)


@pytest.fixture
def staff_without_perms(db):
    return make_user(None, username="nobody")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def scenario(db):
    """CN Holdco owns 55 % of H GmbH (DE, rest clean); H owns 80 % of the customer S: look-through 44 % allow,
    control chain 80 % block → block. Screening opens a case for the customer."""
    cn = EntityFactory(name="CN Holdco", external_id="cn-holdco", jurisdiction_id="CN")
    holding = EntityFactory(name="H GmbH", external_id="h-gmbh", jurisdiction_id="DE")
    subject = EntityFactory(name="Subject Trading Ltd", external_id="subject-s", jurisdiction_id="GB")
    customer = CustomerFactory(entity=subject, customer_reference="CUST-S")
    stake(cn, holding, 55)
    stake(PersonFactory(name="Clean Person A"), holding, 40)
    stake(holding, subject, 80)
    stake(PersonFactory(name="Clean Person B"), subject, 20)
    # A cross-holding cycle elsewhere in the graph must not break the graph view.
    a = EntityFactory(name="Cycle A", jurisdiction_id="NL")
    b = EntityFactory(name="Cycle B", jurisdiction_id="NL")
    stake(a, b, 60)
    stake(b, a, 60)
    stake(a, holding, 5)
    screen_entities(trigger="onboarding")
    case = Case.objects.get(subject=subject)
    assert case.status == CaseStatus.OPEN
    return {"cn": cn, "holding": holding, "subject": subject, "customer": customer, "case": case}


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


__all__ = ["Entity", "client_for", "make_user", "reload"]
