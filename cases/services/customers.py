"""Registering customers (the entities the business sells to) and changing them.

A customer is what gets cases and an effective decision; whether it is active decides whether a
changed decision opens a case for it. So an admin's change to ``is_active`` is a screening event,
not a bookkeeping edit: it is audited, the effective decision is brought up to date, and a customer
coming back is re-screened on today's data.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from cases.models import Customer, Entity
from cases.roles import require_perm

from .audit import audit_record
from .effective import effective_recompute
from .ownership import ownership_changed

CUSTOMER_EDITABLE_FIELDS = ("onboarded_on", "is_active", "notes")


def customer_snapshot(customer: Customer) -> dict:
    return {
        "customer_reference": customer.customer_reference,
        "entity": customer.entity.external_id,
        "onboarded_on": customer.onboarded_on,
        "is_active": customer.is_active,
        "notes": customer.notes,
    }


@transaction.atomic
def customer_register(
    *,
    entity: Entity,
    customer_reference: str,
    onboarded_on: datetime.date,
    notes: str = "",
    is_active: bool = True,
    actor=None,
) -> tuple[Customer, bool]:
    """Make ``entity`` a customer; registering the same reference again is a no-op.

    Returns (customer, created). A reference already used for another entity, or
    an entity already registered under another reference, is an error: silently
    re-pointing a billing reference would move a decision to the wrong customer.
    ``actor`` None is the system (imports, screening requests, the demo); a user needs
    ``cases.add_customer``.
    """
    if actor is not None:
        require_perm(actor, "add_customer", "register customers")
    existing = Customer.objects.select_for_update().filter(customer_reference=customer_reference).first()
    if existing is not None:
        if existing.entity_id != entity.pk:
            owner = existing.entity.external_id
            raise ValidationError({"customer_reference": f"{customer_reference!r} already belongs to entity {owner}."})
        return existing, False
    other = Customer.objects.filter(entity=entity).first()
    if other is not None:
        raise ValidationError(
            {"entity": f"Entity {entity.external_id} is already customer {other.customer_reference!r}."}
        )
    customer = Customer(
        entity=entity,
        customer_reference=customer_reference,
        onboarded_on=onboarded_on,
        notes=notes,
        is_active=is_active,
    )
    customer.full_clean()
    customer.save()
    audit_record(actor=actor, action="customer.registered", target=customer, after=customer_snapshot(customer))
    if actor is not None:
        ownership_changed(entity_ids=[entity.pk], actor=actor)
    return customer, True


@transaction.atomic
def customer_update(*, customer: Customer, actor, reason: str = "", **changes) -> Customer:
    """Change a customer's onboarding date, active flag or notes (``cases.change_customer``).

    The entity and the reference are fixed once registered (see ``customer_register``). Switching
    ``is_active`` recomputes the effective decision; re-activating also re-screens the entity, since
    its decisions were not acted on while it was inactive.
    """
    require_perm(actor, "change_customer", "change customers")
    unknown = set(changes) - set(CUSTOMER_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be changed once the customer is registered."))
    customer = Customer.objects.select_for_update().select_related("entity").get(pk=customer.pk)
    before = customer_snapshot(customer)
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.full_clean()
    after = customer_snapshot(customer)
    if after == before:
        return customer
    customer.save()
    action = "customer.updated"
    if before["is_active"] != after["is_active"]:
        action = "customer.activated" if customer.is_active else "customer.deactivated"
    audit_record(actor=actor, action=action, target=customer, before=before, after=after, reason=reason)
    if before["is_active"] != after["is_active"]:
        effective_recompute(entity=customer.entity, actor=actor, reason=f"customer {action.split('.')[1]}")
        if customer.is_active:
            ownership_changed(entity_ids=[customer.entity_id], actor=actor)
    return customer
