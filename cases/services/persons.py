"""Creating and updating persons through the API. See ``entities`` for the conventions."""

from django.db import transaction

from cases.models import Person
from cases.roles import require_perm

from .audit import audit_record
from .ownership import ownership_changed
from .parties_common import country_codes

PERSON_FIELDS = (
    "name",
    "names",
    "person_type",
    "nationalities",
    "residence_countries",
    "tax_residencies",
    "birth_date",
    "source",
)


def person_snapshot(person: Person) -> dict:
    return {
        "external_id": person.external_id,
        "name": person.name,
        "person_type": person.person_type,
        "nationalities": person.nationalities,
        "residence_countries": person.residence_countries,
        "tax_residencies": person.tax_residencies,
    }


def person_apply(*, person: Person, data: dict) -> Person:
    """Internal (no permission check, no screening): set fields from ``data``, validate, save."""
    for field in PERSON_FIELDS:
        if field not in data:
            continue
        value = data[field]
        if field in ("nationalities", "residence_countries", "tax_residencies"):
            value = country_codes(value, field=field)
        elif value is None and field == "birth_date":
            value = ""
        setattr(person, field, value)
    person.full_clean()
    person.save()
    return person


@transaction.atomic
def person_create(*, actor, external_id: str, **data) -> Person:
    """Create a person (``cases.add_person``). A new person owns nothing yet: nothing to re-screen."""
    require_perm(actor, "add_person", "create persons")
    person = person_apply(person=Person(external_id=external_id), data=data)
    audit_record(actor=actor, action="person.created", target=person, after=person_snapshot(person))
    return person


@transaction.atomic
def person_update(*, actor, person: Person, **data) -> Person:
    """Change a person (``cases.change_person``); re-screens every entity the person owns, directly or not."""
    require_perm(actor, "change_person", "change persons")
    person = Person.objects.select_for_update().get(pk=person.pk)
    before = person_snapshot(person)
    person = person_apply(person=person, data=data)
    audit_record(actor=actor, action="person.updated", target=person, before=before, after=person_snapshot(person))
    ownership_changed(entity_ids=[], person_ids=[person.pk], actor=actor)
    return person
