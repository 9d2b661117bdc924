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
    if exemption is not None:
        return {
            "outcome": Outcome.ALLOW,
            "source": EffectiveSource.EXEMPTION,
            "decision": current.decision,
            "override": None,
            "exemption": exemption,
        }
    override = (
        Override.objects.filter(case__subject=entity, status=OverrideStatus.APPLIED, decision_id=current.decision_id)
        .order_by("-applied_at", "-id")
        .first()
    )
    if override is not None:
        return {
            "outcome": override.proposed_outcome,
            "source": EffectiveSource.OVERRIDE,
            "decision": current.decision,
            "override": override,
            "exemption": None,
        }
    return {
        "outcome": current.decision.outcome,
        "source": EffectiveSource.AUTOMATIC,
        "decision": current.decision,
        "override": None,
        "exemption": None,
    }
