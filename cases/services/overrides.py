"""Outcome overrides: fail closed, four-eyes to loosen.

- Towards a STRICTER outcome (allow→review/block, review→block) an override is
  applied at once and closes the case: being stricter can never let a restricted
  customer through, so it needs no second pair of eyes.
- Towards a LESS strict outcome the case goes to pending_approval; a Manager who
  is not the proposer approves (the override is applied, the effective decision
  updated, the case closed) or rejects (the case returns to in_review).
  Four-eyes is enforced here for everyone, superusers included, and by the
  ``override_four_eyes`` database constraint.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import CaseStatus, CurrentDecision, Outcome, Override, OverrideStatus
from cases.models.casework import outcome_strictness
from cases.roles import require_perm

from .approvals import record_second_person_decision, require_second_person
from .audit import audit_record
from .cases import _lock, _require_assignee, _transition, case_snapshot, close_case
from .effective import effective_recompute


def override_snapshot(override: Override) -> dict:
    return {
        "case": override.case.reference,
        "decision_id": override.decision_id,
        "automatic_outcome": override.automatic_outcome,
        "proposed_outcome": override.proposed_outcome,
        "status": override.status,
        "proposed_by": override.proposed_by.get_username(),
        "approved_by": override.approved_by.get_username() if override.approved_by_id else None,
        "decided_at": override.decided_at,
        "decision_note": override.decision_note or None,
        "applied_at": override.applied_at,
    }


@transaction.atomic
def override_propose(*, case, outcome: str, reason: str, actor) -> Override:
    """Propose ``outcome`` for an in-review case (``cases.propose_override``, assignee only); reason mandatory."""
    require_perm(actor, "propose_override", "propose overrides")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "An override needs a reason."})
    if outcome not in Outcome.values:
        raise ValidationError({"outcome": f"Unknown outcome {outcome!r}."})
    case = _lock(case)
    if case.status != CaseStatus.IN_REVIEW:
        raise ValidationError(f"Case {case.reference} must be in review to propose an override.")
    _require_assignee(case, actor, "propose an override")
    current = CurrentDecision.objects.filter(entity=case.subject).select_related("decision").first()
    if current is None:
        raise ValidationError("The subject has no screening decision to override.")
    if outcome == current.decision.outcome:
        raise ValidationError(
            {"outcome": f"The automatic outcome is already {outcome}; confirm the outcome instead of overriding."}
        )
    now = timezone.now()
    override = Override(
        case=case,
        decision=current.decision,
        automatic_outcome=current.decision.outcome,
        proposed_outcome=outcome,
        reason=reason,
        proposed_by=actor,
    )
    stricter = outcome_strictness(outcome) > outcome_strictness(current.decision.outcome)
    if stricter:
        override.status = OverrideStatus.APPLIED
        override.decided_at = now
        override.applied_at = now
    override.full_clean()
    override.save()
    audit_record(
        actor=actor, action="override.proposed", target=override, after=override_snapshot(override), reason=reason
    )
    if stricter:
        audit_record(
            actor=actor,
            action="override.applied",
            target=override,
            after=override_snapshot(override),
            reason="stricter outcome: applied at once (fail closed)",
        )
        close_case(case=case, outcome=outcome, actor=actor, action="case.closed_by_override", reason=reason)
        effective_recompute(entity=case.subject, actor=actor, reason=f"override {override.pk} applied (fail closed)")
    else:
        before = case_snapshot(case)
        _transition(case, "submit_for_approval")
        case.save()
        audit_record(
            actor=actor, action="case.submitted_for_approval", target=case, before=before, after=case_snapshot(case)
        )
    return override


def _lock_pending(override: Override, actor, verb: str) -> Override:
    require_perm(actor, "approve_override", f"{verb} overrides")
    override = (
        Override.objects.select_for_update(of=("self",)).select_related("case", "proposed_by").get(pk=override.pk)
    )
    if override.status != OverrideStatus.PROPOSED:
        raise ValidationError(f"This override is {override.get_status_display().lower()}; it cannot be {verb}d.")
    require_second_person(
        actor=actor,
        permission="approve_override",
        author_id=override.proposed_by_id,
        author="proposer",
        noun="override",
        verb=verb,
    )
    return override


@transaction.atomic
def override_approve(*, override: Override, actor, note: str = "") -> Override:
    """Approve and apply a pending override (``cases.approve_override``, not the proposer)."""
    override = _lock_pending(override, actor, "approve")
    case = _lock(override.case)
    if case.status != CaseStatus.PENDING_APPROVAL:
        raise ValidationError(f"Case {case.reference} is not pending approval.")
    current = CurrentDecision.objects.filter(entity=case.subject).first()
    if current is None or current.decision_id != override.decision_id:
        raise ValidationError(
            "The automatic decision changed since this override was proposed; reject it and propose again."
        )
    record_second_person_decision(
        override,
        actor=actor,
        status=OverrideStatus.APPROVED,
        note=note,
        action="override.approved",
        snapshot=override_snapshot,
    )
    before = override_snapshot(override)
    override.status = OverrideStatus.APPLIED
    override.applied_at = override.decided_at
    override.save()
    audit_record(
        actor=actor, action="override.applied", target=override, before=before, after=override_snapshot(override)
    )
    override.case = close_case(
        case=case,
        outcome=override.proposed_outcome,
        actor=actor,
        action="case.closed_by_override",
        reason=override.reason,
    )
    effective_recompute(entity=case.subject, actor=actor, reason=f"override {override.pk} approved")
    return override


@transaction.atomic
def override_reject(*, override: Override, actor, note: str = "") -> Override:
    """Reject a pending override (``cases.approve_override``, not the proposer); the case returns to in_review."""
    override = _lock_pending(override, actor, "reject")
    case = _lock(override.case)
    record_second_person_decision(
        override,
        actor=actor,
        status=OverrideStatus.REJECTED,
        note=note,
        action="override.rejected",
        snapshot=override_snapshot,
    )
    if case.status == CaseStatus.PENDING_APPROVAL:
        case_before = case_snapshot(case)
        _transition(case, "return_to_review")
        case.save()
        audit_record(
            actor=actor, action="case.returned_to_review", target=case, before=case_before, after=case_snapshot(case)
        )
    return override
