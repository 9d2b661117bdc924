"""The effective decision: what the business acts on.

Precedence: an active exemption (approved, not past ``expires_on``) → allow;
else an applied override made on the entity's *current* automatic decision →
its outcome; else the automatic decision. An override is tied to the decision
it overrode: when screening produces a new decision (results changed), the
override no longer applies and the new automatic outcome is effective again.
"""

import datetime

from django.db import transaction

from cases.models import EffectiveDecision
from cases.selectors.effective import effective_compute

from .audit import audit_record
from .feed import feed_record


def _snapshot(effective: EffectiveDecision | None) -> dict | None:
    if effective is None:
        return None
    return {
        "outcome": effective.outcome,
        "source": effective.source,
        "decision_id": effective.decision_id,
        "override_id": effective.override_id,
        "exemption_id": effective.exemption_id,
    }


@transaction.atomic
def effective_recompute(*, entity, actor=None, today: datetime.date | None = None, reason: str = ""):
    """Bring the entity's EffectiveDecision up to date; audit it and append it to the change feed
    (``cases.services.feed``) when it changes. Returns the row or None."""
    wanted = effective_compute(entity=entity, today=today)
    existing = EffectiveDecision.objects.select_for_update().filter(entity=entity).first()
    before = _snapshot(existing)
    if wanted is None:
        if existing is not None:
            existing.delete()
            audit_record(actor=actor, action="effective.removed", target=entity, before=before, reason=reason)
            feed_record(entity=entity, before=before, effective=None, reason=reason)
        return None
    row = existing or EffectiveDecision(entity=entity)
    for field, value in wanted.items():
        setattr(row, field, value)
    row.full_clean(validate_unique=False)
    after = _snapshot(row)
    if after != before:
        row.save()
        audit_record(actor=actor, action="effective.changed", target=entity, before=before, after=after, reason=reason)
        feed_record(entity=entity, before=before, effective=row, reason=reason)  # same transaction: the change feed
    return row
