"""Overrides: fail closed towards stricter outcomes, four-eyes towards looser ones."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from cases.models import Case, CaseStatus, EffectiveDecision, EffectiveSource, Override, OverrideStatus
from cases.services.cases import case_start_review
from cases.services.overrides import override_approve, override_propose, override_reject

from .conftest import decide

pytestmark = pytest.mark.django_db


def case_in_review(entity, outcome, actor):
    decide(entity, outcome)
    case = Case.objects.get(subject=entity, status=CaseStatus.OPEN)
    return case_start_review(case=case, actor=actor)


@pytest.mark.parametrize(("automatic", "proposed"), [("review", "block"), ("allow", "review"), ("allow", "block")])
def test_stricter_override_applies_at_once_and_closes(entity, investigator, automatic, proposed):
    if automatic == "allow":  # an allow opens no case; change the outcome so one opens
        decide(entity, "review")
        case = case_start_review(case=Case.objects.get(subject=entity), actor=investigator)
        decide(entity, "allow")
        case.refresh_from_db()
    else:
        case = case_in_review(entity, automatic, investigator)
    override = override_propose(case=case, outcome=proposed, reason="Adverse media", actor=investigator)
    assert override.status == OverrideStatus.APPLIED and override.approved_by is None
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.outcome == proposed
    effective = EffectiveDecision.objects.get(entity=entity)
    assert (effective.outcome, effective.source, effective.override) == (proposed, EffectiveSource.OVERRIDE, override)


def test_looser_override_waits_for_a_second_manager(entity, investigator, manager):
    case = case_in_review(entity, "block", investigator)
    override = override_propose(case=case, outcome="allow", reason="Stake sold, see evidence", actor=investigator)
    case.refresh_from_db()
    assert override.status == OverrideStatus.PROPOSED and case.status == CaseStatus.PENDING_APPROVAL
    assert EffectiveDecision.objects.get(entity=entity).outcome == "block"  # nothing loosened yet
    override = override_approve(override=override, actor=manager)
    case.refresh_from_db()
    assert override.status == OverrideStatus.APPLIED and override.approved_by == manager
    assert case.status == CaseStatus.CLOSED and case.outcome == "allow"
    assert EffectiveDecision.objects.get(entity=entity).outcome == "allow"
    with pytest.raises(ValidationError):
        override_approve(override=override, actor=manager)  # double approval


def test_reject_returns_case_to_review(entity, investigator, manager):
    case = case_in_review(entity, "review", investigator)
    override = override_propose(case=case, outcome="allow", reason="Looks fine", actor=investigator)
    override = override_reject(override=override, actor=manager, note="Need the share register")
    case.refresh_from_db()
    assert override.status == OverrideStatus.REJECTED and case.status == CaseStatus.IN_REVIEW
    assert EffectiveDecision.objects.get(entity=entity).outcome == "review"


def test_proposer_cannot_approve_own_override_even_as_manager(entity, manager):
    case = case_in_review(entity, "block", manager)
    override = override_propose(case=case, outcome="allow", reason="x", actor=manager)
    with pytest.raises(PermissionDenied, match="Four-eyes"):
        override_approve(override=override, actor=manager)
    with pytest.raises(PermissionDenied, match="Four-eyes"):
        override_reject(override=override, actor=manager)


def test_superuser_obeys_four_eyes(entity, superuser):
    case = case_in_review(entity, "block", superuser)
    override = override_propose(case=case, outcome="review", reason="x", actor=superuser)
    with pytest.raises(PermissionDenied, match="Four-eyes"):
        override_approve(override=override, actor=superuser)


def test_investigator_cannot_approve(entity, investigator, investigator2):
    case = case_in_review(entity, "block", investigator)
    override = override_propose(case=case, outcome="allow", reason="x", actor=investigator)
    with pytest.raises(PermissionDenied):
        override_approve(override=override, actor=investigator2)


def test_four_eyes_db_constraint(entity, investigator):
    case = case_in_review(entity, "block", investigator)
    override = override_propose(case=case, outcome="allow", reason="x", actor=investigator)
    with pytest.raises(IntegrityError), transaction.atomic():
        Override.objects.filter(pk=override.pk).update(approved_by=investigator)


def test_reason_mandatory_and_outcome_must_change(entity, investigator):
    case = case_in_review(entity, "block", investigator)
    with pytest.raises(ValidationError):
        override_propose(case=case, outcome="allow", reason="   ", actor=investigator)
    with pytest.raises(ValidationError):
        override_propose(case=case, outcome="block", reason="same", actor=investigator)
    with pytest.raises(IntegrityError), transaction.atomic():
        Override.objects.create(
            case=case,
            decision=case.opened_on_decision,
            automatic_outcome="block",
            proposed_outcome="allow",
            reason="",
            proposed_by=investigator,
        )


def test_new_decision_invalidates_pending_override(entity, investigator, manager):
    case = case_in_review(entity, "block", investigator)
    override = override_propose(case=case, outcome="allow", reason="x", actor=investigator)
    decide(entity, "block", figures=(80.0, 80.0))
    with pytest.raises(ValidationError, match="changed"):
        override_approve(override=override, actor=manager)


def test_applied_override_stops_applying_after_new_decision(entity, investigator, manager):
    case = case_in_review(entity, "block", investigator)
    override_approve(
        override=override_propose(case=case, outcome="allow", reason="x", actor=investigator), actor=manager
    )
    assert EffectiveDecision.objects.get(entity=entity).outcome == "allow"
    decide(entity, "block", figures=(90.0, 90.0))
    effective = EffectiveDecision.objects.get(entity=entity)
    assert (effective.outcome, effective.source) == ("block", EffectiveSource.AUTOMATIC)
    assert Case.objects.filter(subject=entity).exclude(status=CaseStatus.CLOSED).count() == 1


def test_only_assignee_in_review_can_propose(entity, investigator, investigator2):
    decide(entity, "block")
    case = Case.objects.get(subject=entity)
    with pytest.raises(ValidationError):
        override_propose(case=case, outcome="allow", reason="x", actor=investigator)  # still open
    case_start_review(case=case, actor=investigator)
    with pytest.raises(PermissionDenied):
        override_propose(case=case, outcome="allow", reason="x", actor=investigator2)
