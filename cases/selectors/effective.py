"""What an entity's effective decision should be: the precedence rule, read-only.

A selector, not a service: the change feed's read path (``effective_body_for``)
and the writer (``effective_recompute``) both need it, and neither may depend on
the other.
"""

import datetime

from django.utils import timezone

from cases.models import (
    CurrentDecision,
    EffectiveSource,
    Exemption,
    ExemptionStatus,
    Outcome,
    Override,
    OverrideStatus,
)


def effective_compute(*, entity, today: datetime.date | None = None) -> dict | None:
    """What the effective decision should be now (no writes); None if the entity has no decision."""
    today = today or timezone.localdate()
    current = CurrentDecision.objects.filter(entity=entity).select_related("decision").first()
    if current is None:
        return None
    exemption = (
        Exemption.objects.filter(entity=entity, status=ExemptionStatus.APPROVED, expires_on__gte=today)
        .order_by("-decided_at")
        .first()
    )
    decision = current.decision
    if exemption is not None:
        return _effective(Outcome.ALLOW, EffectiveSource.EXEMPTION, decision, exemption=exemption)
    override = (
        Override.objects.filter(case__subject=entity, status=OverrideStatus.APPLIED, decision_id=current.decision_id)
        .order_by("-applied_at", "-id")
        .first()
    )
    if override is not None:
        return _effective(override.proposed_outcome, EffectiveSource.OVERRIDE, decision, override=override)
    return _effective(decision.outcome, EffectiveSource.AUTOMATIC, decision)


def _effective(outcome: str, source: str, decision, *, override=None, exemption=None) -> dict:
    return {"outcome": outcome, "source": source, "decision": decision, "override": override, "exemption": exemption}
