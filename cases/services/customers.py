"""Registering and retiring customers (the entities the business sells to)."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from cases.models import Customer, Entity


@transaction.atomic
def customer_register(
    *, entity: Entity, customer_reference: str, onboarded_on: datetime.date, notes: str = ""
) -> tuple[Customer, bool]:
    """Make ``entity`` a customer; registering the same reference again is a no-op.

    Returns (customer, created). A reference already used for another entity, or
    an entity already registered under another reference, is an error: silently
    re-pointing a billing reference would move a decision to the wrong customer.
    """
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
    customer = Customer(entity=entity, customer_reference=customer_reference, onboarded_on=onboarded_on, notes=notes)
    customer.full_clean()
    customer.save()
    return customer, True
