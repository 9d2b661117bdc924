"""Exemptions: a time-limited, four-eyes approved 'allow' for one entity.

- Requested by a user with ``cases.request_exemption``; ``expires_on`` must be
  after today and at most one year after the request.
- Approved or rejected by a user with ``cases.approve_exemption`` who is not the
  requester (service check + ``exemption_four_eyes`` DB constraint; superusers too).
  Approval records the ownership fingerprint (outcome + figures) of the current decision.
- Ends when ``expires_on`` has passed (``exemptions_expire``), when revoked, or
  early when the entity's ownership changes materially (``exemption_end_if_material_change``,
  called from ``decision_consequences``). Each end recomputes the effective
  decision and (re)opens a case with trigger exemption_expiry for customers.
"""

import datetime
import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import CaseStatus, CaseTrigger, CurrentDecision, Customer, Decision, Exemption, ExemptionStatus
from cases.roles import require_perm

from .approvals import record_second_person_decision, require_second_person
from .audit import audit_record
from .cases import _lock, _require_assignee, case_reopen_or_open
from .effective import effective_recompute


def one_year_after(day: datetime.date) -> datetime.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def exemption_latest_expiry(*, today: datetime.date | None = None) -> datetime.date:
    """The last ``expires_on`` a request made today may ask for: the admin's date picker and the
    request check both read this, so a 29 February request is limited to 28 February next year."""
    return one_year_after(today or timezone.localdate())


def ownership_fingerprint(decision: Decision) -> str:
    """SHA-256 of the outcome and figures: a change in either is a material ownership change."""
    material = {
        "outcome": decision.outcome,
        "look_through": [decision.look_through_outcome, decision.look_through_low, decision.look_through_high],
        "control_chain": [decision.control_chain_outcome, decision.control_chain_low, decision.control_chain_high],
        "restricted_root": decision.is_restricted_root,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def exemption_snapshot(exemption: Exemption) -> dict:
    return {
        "entity": exemption.entity.external_id,
        "status": exemption.status,
        "expires_on": exemption.expires_on,
        "requested_by": exemption.requested_by.get_username(),
        "approved_by": exemption.approved_by.get_username() if exemption.approved_by_id else None,
        "decided_at": exemption.decided_at,
        "decision_note": exemption.decision_note or None,
        "ownership_fingerprint": exemption.ownership_fingerprint or None,
        "end_reason": exemption.end_reason or None,
    }


@transaction.atomic
def exemption_request(*, entity, reason: str, expires_on: datetime.date, actor, case=None) -> Exemption:
    """Request an exemption (``cases.request_exemption``); expires_on in (today, today + 1 year].

    On a case, only while it is in review (or pending approval) and only by its assignee, like every other act
    on a case.
    """
    require_perm(actor, "request_exemption", "request exemptions")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "An exemption needs a reason."})
    today = timezone.localdate()
    if expires_on <= today:
        raise ValidationError({"expires_on": "The expiry date must be in the future."})
    if expires_on > exemption_latest_expiry(today=today):
        raise ValidationError({"expires_on": "An exemption can last at most one year from the request."})
    if case is not None:
        case = _lock(case)
        if case.subject_id != entity.pk:
            raise ValidationError({"case": "The case is about another entity."})
        # The case workflow's rule for acting on a case: while its assignee works it (in review, or waiting
        # for a manager's approval of an override), by that assignee; never on an open or a closed case.
        if case.status not in (CaseStatus.IN_REVIEW, CaseStatus.PENDING_APPROVAL):
            raise ValidationError(
                f"Case {case.reference} is {case.get_status_display().lower()}: an exemption can be requested on a "
                "case only while it is in review (take it and start the review first)."
            )
        _require_assignee(case, actor, "request an exemption on it")
    exemption = Exemption(entity=entity, case=case, reason=reason, expires_on=expires_on, requested_by=actor)
    exemption.full_clean()
    exemption.save()
    audit_record(
        actor=actor, action="exemption.requested", target=exemption, after=exemption_snapshot(exemption), reason=reason
    )
    return exemption


def _lock_requested(exemption: Exemption, actor, verb: str) -> Exemption:
    require_perm(actor, "approve_exemption", f"{verb} exemptions")
    exemption = (
        Exemption.objects.select_for_update(of=("self",)).select_related("entity", "requested_by").get(pk=exemption.pk)
    )
    if exemption.status != ExemptionStatus.REQUESTED:
        raise ValidationError(f"This exemption is {exemption.get_status_display().lower()}; it cannot be {verb}d.")
    require_second_person(
        actor=actor,
        permission="approve_exemption",
        author_id=exemption.requested_by_id,
        author="requester",
        noun="exemption",
        verb=verb,
    )
    return exemption


@transaction.atomic
def exemption_approve(*, exemption: Exemption, actor, note: str = "") -> Exemption:
    """Approve (``cases.approve_exemption``, not the requester); the entity's effective outcome becomes allow."""
    exemption = _lock_requested(exemption, actor, "approve")
    if exemption.expires_on < timezone.localdate():
        raise ValidationError({"expires_on": "This exemption's expiry date has passed; it cannot be approved."})
    current = CurrentDecision.objects.filter(entity=exemption.entity).select_related("decision").first()
    if current is None:
        raise ValidationError("The entity has no screening decision yet; screen it before exempting it.")
    # Another approved exemption for the entity is superseded by this one.
    for other in Exemption.objects.select_for_update().filter(entity=exemption.entity, status=ExemptionStatus.APPROVED):
        _end(other, status=ExemptionStatus.REVOKED, actor=actor, reason=f"superseded by exemption {exemption.pk}")
    record_second_person_decision(
        exemption,
        actor=actor,
        status=ExemptionStatus.APPROVED,
        note=note,
        action="exemption.approved",
        snapshot=exemption_snapshot,
        decision=current.decision,
        ownership_fingerprint=ownership_fingerprint(current.decision),
    )
    effective_recompute(entity=exemption.entity, actor=actor, reason=f"exemption {exemption.pk} approved")
    return exemption


@transaction.atomic
def exemption_reject(*, exemption: Exemption, actor, note: str = "") -> Exemption:
    """Reject (``cases.approve_exemption``, not the requester)."""
    exemption = _lock_requested(exemption, actor, "reject")
    record_second_person_decision(
        exemption,
        actor=actor,
        status=ExemptionStatus.REJECTED,
        note=note,
        action="exemption.rejected",
        snapshot=exemption_snapshot,
    )
    return exemption


def _end(exemption: Exemption, *, status: str, actor, reason: str) -> Exemption:
    before = exemption_snapshot(exemption)
    exemption.status = status
    exemption.ended_at = timezone.now()
    exemption.end_reason = reason
    exemption.save()
    audit_record(
        actor=actor,
        action=f"exemption.{status}",
        target=exemption,
        before=before,
        after=exemption_snapshot(exemption),
        reason=reason,
    )
    return exemption


def _after_end(exemption: Exemption, *, actor, reason: str, today=None, decision=None) -> None:
    effective_recompute(entity=exemption.entity, actor=actor, today=today, reason=reason)
    if Customer.objects.filter(entity=exemption.entity, is_active=True).exists():
        case_reopen_or_open(
            subject=exemption.entity, trigger=CaseTrigger.EXEMPTION_EXPIRY, reason=reason, decision=decision
        )


@transaction.atomic
def exemption_revoke(*, exemption: Exemption, actor, reason: str) -> Exemption:
    """End an approved exemption now (``cases.approve_exemption``); reason mandatory."""
    require_perm(actor, "approve_exemption", "revoke exemptions")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required to revoke an exemption."})
    exemption = (
        Exemption.objects.select_for_update(of=("self",)).select_related("entity", "requested_by").get(pk=exemption.pk)
    )
    if exemption.status != ExemptionStatus.APPROVED:
        raise ValidationError("Only an approved exemption can be revoked.")
    _end(exemption, status=ExemptionStatus.REVOKED, actor=actor, reason=reason)
    _after_end(exemption, actor=actor, reason=f"Exemption {exemption.pk} revoked: {reason}")
    return exemption


@transaction.atomic
def exemptions_expire(*, today: datetime.date | None = None) -> list[Exemption]:
    """System job: approved exemptions whose expires_on is before ``today`` expire; the effective
    decision is recomputed and the customer's case reopens (or a case opens) with trigger exemption_expiry."""
    today = today or timezone.localdate()
    expired = []
    due = (
        Exemption.objects.select_for_update(of=("self",))
        .select_related("entity", "requested_by")
        .filter(status=ExemptionStatus.APPROVED, expires_on__lt=today)
    )
    for exemption in due:
        reason = f"Exemption {exemption.pk} expired (last day {exemption.expires_on})."
        _end(exemption, status=ExemptionStatus.EXPIRED, actor=None, reason=reason)
        _after_end(exemption, actor=None, reason=reason, today=today)
        expired.append(exemption)
    return expired


def exemption_end_if_material_change(*, entity, decision: Decision, actor=None) -> Exemption | None:
    """End the entity's approved exemption if ``decision`` differs materially
    (outcome or figures) from the one it was approved on; the case reopens."""
    exemption = (
        Exemption.objects.select_for_update(of=("self",))
        .select_related("entity", "requested_by")
        .filter(entity=entity, status=ExemptionStatus.APPROVED)
        .first()
    )
    if exemption is None or exemption.ownership_fingerprint == ownership_fingerprint(decision):
        return None
    reason = f"Exemption {exemption.pk} ended early: the ownership changed materially (decision {decision.pk})."
    _end(exemption, status=ExemptionStatus.REVOKED, actor=actor, reason=reason)
    _after_end(exemption, actor=actor, reason=reason, decision=decision)
    return exemption
