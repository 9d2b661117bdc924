"""Ownership and control relationships with their interests, written through the API.

A write replaces the relationship's interests wholesale (as a BODS ``updated``
statement does) and re-screens the subject and everything downstream of it, in
the same transaction (``ownership_changed``). Closing keeps the row as evidence.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from cases.bods.mapping import INTEREST_FIELDS  # the one list of an interest's columns
from cases.models import Entity, Interest, Person, Relationship
from cases.roles import require_perm

from .audit import audit_record
from .ownership import ownership_changed


def relationship_snapshot(relationship: Relationship) -> dict:
    return {
        "external_id": relationship.external_id,
        "subject": relationship.subject.external_id,
        "interested_entity": relationship.interested_entity.external_id if relationship.interested_entity_id else None,
        "interested_person": relationship.interested_person.external_id if relationship.interested_person_id else None,
        "unspecified_reason": relationship.unspecified_reason or None,
        "is_closed": relationship.is_closed,
        "interests": [str(interest) for interest in relationship.interests.all()] if relationship.pk else [],
    }


def _party(model, external_id: str | None, field: str):
    if not external_id:
        return None
    found = model.objects.filter(external_id=external_id).first()
    if found is None:
        raise ValidationError({field: f"No {model._meta.verbose_name} with external id {external_id!r}."})
    return found


def relationship_apply(*, relationship: Relationship, data: dict) -> Relationship:
    """Internal (no permission check, no screening): set parties, fields and interests; validate; save."""
    if "subject" in data:
        relationship.subject = _party(Entity, data["subject"], "subject")
    if {"interested_entity", "interested_person", "unspecified_reason"} & data.keys():
        relationship.interested_entity = _party(Entity, data.get("interested_entity"), "interested_entity")
        relationship.interested_person = _party(Person, data.get("interested_person"), "interested_person")
        relationship.unspecified_reason = data.get("unspecified_reason") or ""
        relationship.unspecified_description = data.get("unspecified_description") or ""
    for field in ("is_component", "component_record_ids", "source"):
        if field in data:
            setattr(relationship, field, data[field])
    if relationship.subject_id is None:
        raise ValidationError({"subject": "A relationship needs a subject entity."})
    parties = [relationship.interested_entity_id, relationship.interested_person_id, relationship.unspecified_reason]
    if sum(bool(p) for p in parties) != 1:
        raise ValidationError(
            {"interested_entity": "Give exactly one of interested_entity, interested_person or unspecified_reason."}
        )
    relationship.full_clean()
    relationship.save()
    if data.get("interests") is not None:
        relationship.interests.all().delete()
        for item in data["interests"]:
            interest = Interest(relationship=relationship, **{k: v for k, v in item.items() if k in INTEREST_FIELDS})
            interest.full_clean()
            interest.save()
    return relationship


def _affected(relationship: Relationship, before_subject_id: int | None) -> list[int]:
    return [pk for pk in {relationship.subject_id, before_subject_id} if pk]


@transaction.atomic
def relationship_create(*, actor, external_id: str, **data) -> Relationship:
    """Create a relationship with its interests (``cases.add_relationship``); re-screens downstream."""
    require_perm(actor, "add_relationship", "create relationships")
    if not data.get("interests"):
        raise ValidationError({"interests": "A relationship needs at least one interest."})
    relationship = relationship_apply(relationship=Relationship(external_id=external_id), data=data)
    audit_record(
        actor=actor, action="relationship.created", target=relationship, after=relationship_snapshot(relationship)
    )
    ownership_changed(entity_ids=_affected(relationship, None), actor=actor)
    return relationship


@transaction.atomic
def relationship_update(*, actor, relationship: Relationship, **data) -> Relationship:
    """Change a relationship (``cases.change_relationship``); interests, if given, are replaced wholesale."""
    require_perm(actor, "change_relationship", "change relationships")
    relationship = Relationship.objects.select_for_update().get(pk=relationship.pk)
    if relationship.is_closed:
        raise ValidationError("This relationship is closed; create a new one instead.")
    if "interests" in data and not data["interests"]:
        raise ValidationError({"interests": "A relationship needs at least one interest."})
    before = relationship_snapshot(relationship)
    before_subject = relationship.subject_id
    relationship = relationship_apply(relationship=relationship, data=data)
    audit_record(
        actor=actor,
        action="relationship.updated",
        target=relationship,
        before=before,
        after=relationship_snapshot(relationship),
    )
    ownership_changed(entity_ids=_affected(relationship, before_subject), actor=actor)
    return relationship


@transaction.atomic
def relationship_close(*, actor, relationship: Relationship, reason: str = "") -> Relationship:
    """End a relationship (``cases.change_relationship``): it no longer counts; the row stays as evidence."""
    require_perm(actor, "change_relationship", "close relationships")
    relationship = Relationship.objects.select_for_update().get(pk=relationship.pk)
    if relationship.is_closed:
        return relationship
    before = relationship_snapshot(relationship)
    relationship.is_closed = True
    relationship.full_clean()
    relationship.save()
    audit_record(
        actor=actor,
        action="relationship.closed",
        target=relationship,
        before=before,
        after=relationship_snapshot(relationship),
        reason=reason,
    )
    ownership_changed(entity_ids=[relationship.subject_id], actor=actor)
    return relationship
