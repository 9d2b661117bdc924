"""Fixtures for the case-workflow service tests: role users and decision helpers."""

import datetime
import hashlib

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from cases.models import CurrentDecision, Decision, ScreeningPolicy
from cases.roles import AUDITOR, INTEGRATION, INVESTIGATOR, MANAGER, roles_sync
from cases.services.consequences import DecisionChange, decision_consequences
from tests.factories import CustomerFactory, EntityFactory, UserFactory


def make_user(role: str | None, **kwargs):
    roles_sync()
    user = UserFactory(is_staff=role != INTEGRATION, **kwargs)
    if role:
        user.groups.add(Group.objects.get(name=role))
    # Reload: permission caches are per instance.
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def investigator(db):
    return make_user(INVESTIGATOR)


@pytest.fixture
def investigator2(db):
    return make_user(INVESTIGATOR)


@pytest.fixture
def manager(db):
    return make_user(MANAGER)


@pytest.fixture
def manager2(db):
    return make_user(MANAGER)


@pytest.fixture
def auditor(db):
    return make_user(AUDITOR)


@pytest.fixture
def integration(db):
    return make_user(INTEGRATION)


@pytest.fixture
def superuser(db):
    return make_user(None, is_superuser=True)


FIGURES = {"allow": (10.0, 10.0), "review": (30.0, 70.0), "block": (70.0, 70.0)}


def decide(entity, outcome: str, *, figures=None, trigger="periodic", actor=None, send=True) -> Decision:
    """Store a Decision + CurrentDecision for ``entity`` like the screening adapter would, with its consequences."""
    low, high = figures or FIGURES[outcome]
    with transaction.atomic():
        current = CurrentDecision.objects.filter(entity=entity).select_related("decision").first()
        previous = current.decision if current else None
        decision = Decision.objects.create(
            entity=entity,
            outcome=outcome,
            look_through_outcome=outcome,
            look_through_low=low,
            look_through_high=high,
            control_chain_outcome=outcome,
            control_chain_low=low,
            control_chain_high=high,
            payload={"entity": entity.external_id, "outcome": outcome},
            policy=ScreeningPolicy.objects.get(is_active=True),
            as_of=datetime.date(2026, 6, 1),
            result_fingerprint=hashlib.sha256(f"{outcome}{low}{high}".encode()).hexdigest(),
        )
        CurrentDecision.objects.update_or_create(
            entity=entity,
            defaults={
                "decision": decision,
                "outcome": outcome,
                "screened_at": datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC),
                "as_of": decision.as_of,
            },
        )
        if send:
            change = DecisionChange(
                decision=decision,
                previous_decision_id=previous.pk if previous else None,
                previous_outcome=previous.outcome if previous else None,
            )
            decision_consequences(changes=[change], trigger=trigger, actor=actor)
    return decision


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def entity(customer):
    return customer.entity


@pytest.fixture
def non_customer_entity(db):
    return EntityFactory()
