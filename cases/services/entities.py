"""Creating and updating entities through the API (imports use ``bods_import``).

Each public service is keyword-only and atomic, checks the actor's permission,
validates with ``full_clean()``, audits, and asks ``ownership_changed`` to
re-screen what the change can affect (a new jurisdiction can make an entity a
restricted root, and so change every entity it owns).
"""

from django.db import transaction

from cases.models import Entity, EntityIdentifier
from cases.roles import require_perm

from .audit import audit_record
from .ownership import ownership_changed
from .parties_common import country_codes, jurisdiction_for

ENTITY_FIELDS = (
    "name",
    "entity_type",
    "entity_subtype",
    "jurisdiction",
    "registered_address_country",
    "business_address_countries",
    "alternate_names",
    "addresses",
    "is_listed",
    "listing",
    "founding_date",
    "dissolution_date",
    "source",
)


def entity_snapshot(entity: Entity) -> dict:
    return {
        "external_id": entity.external_id,
        "name": entity.name,
        "entity_type": entity.entity_type,
        "jurisdiction": entity.jurisdiction_id,
        "registered_address_country": entity.registered_address_country_id,
        "business_address_countries": entity.business_address_countries,
        "is_listed": entity.is_listed,
        "identifiers": [str(i) for i in entity.identifiers.all()] if entity.pk else [],
    }


def entity_apply(*, entity: Entity, data: dict) -> Entity:
    """Internal (no permission check, no screening): set fields from ``data``, validate, save."""
    for field in ENTITY_FIELDS:
        if field not in data:
            continue
        value = data[field]
        if field in ("jurisdiction", "registered_address_country"):
            value = jurisdiction_for(value, field=field)
        elif field == "business_address_countries":
            value = country_codes(value, field=field)
        elif value is None and field in ("entity_subtype",):
            value = ""
        setattr(entity, field, value)
    entity.full_clean()
    entity.save()
    if "identifiers" in data and data["identifiers"] is not None:
        entity.identifiers.all().delete()
        for item in data["identifiers"]:
            identifier = EntityIdentifier(
                entity=entity,
                scheme=item.get("scheme") or "",
                scheme_name=item.get("scheme_name") or "",
                value=item["value"],
                uri=item.get("uri") or "",
            )
            identifier.full_clean()
            identifier.save()
    return entity


@transaction.atomic
def entity_create(*, actor, external_id: str, **data) -> Entity:
    """Create an entity (``cases.add_entity``) and screen it."""
    require_perm(actor, "add_entity", "create entities")
    entity = entity_apply(entity=Entity(external_id=external_id), data=data)
    audit_record(actor=actor, action="entity.created", target=entity, after=entity_snapshot(entity))
    ownership_changed(entity_ids=[entity.pk], actor=actor)
    return entity


@transaction.atomic
def entity_update(*, actor, entity: Entity, **data) -> Entity:
    """Change an entity (``cases.change_entity``); only the given fields change. Re-screens it and what it owns."""
    require_perm(actor, "change_entity", "change entities")
    entity = Entity.objects.select_for_update().get(pk=entity.pk)
    before = entity_snapshot(entity)
    entity = entity_apply(entity=entity, data=data)
    audit_record(actor=actor, action="entity.updated", target=entity, before=before, after=entity_snapshot(entity))
    ownership_changed(entity_ids=[entity.pk], actor=actor)
    return entity
