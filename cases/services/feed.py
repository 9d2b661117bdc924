"""The effective-decision change feed: ``DecisionChangeEvent`` rows with a commit-ordered ``seq``.

``feed_record`` is called by ``effective_recompute`` in the transaction that
changes an EffectiveDecision. It locks the single ``DecisionFeedCounter`` row
(``SELECT … FOR UPDATE``), takes ``last_seq + 1`` and writes the event. The lock
is held until that transaction commits or rolls back, so:

- no two transactions hold a sequence number at the same time: numbers are
  handed out in commit order, and a rolled-back transaction gives its number back
  (the sequence has no gaps);
- when a reader sees event N, every event < N is already committed and visible.

A consumer that reads ``seq > cursor`` in order and keeps the last seq it saw can
therefore never miss or double-count an event (docs/api.md). The lock serialises
effective-decision writers from the change to commit; they already serialise on
the audit chain head in the same transactions, so it costs nothing extra.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import (
    Case,
    CaseStatus,
    CurrentDecision,
    DecisionChangeEvent,
    DecisionChangeKind,
    DecisionFeedCounter,
    EffectiveDecision,
)

from .effective import effective_compute


def _iso(value):
    return value.isoformat() if value is not None else None


def decision_body(*, entity, decision, outcome: str, source: str, override=None, exemption=None, updated_at=None):
    """The spec section 11 decision object for the EFFECTIVE decision, plus where it comes from.

    ``outcome`` is the effective outcome; ``automatic_outcome`` the engine's; methods,
    figures, reasons and paths are the automatic decision's (what the data proves).
    """
    payload = decision.payload or {}
    return {
        "entity": entity.external_id,
        "entity_name": entity.name,
        "outcome": outcome,
        "source": source,
        "automatic_outcome": decision.outcome,
        "as_of": _iso(decision.as_of),
        "policy_version": decision.policy.version,
        "methods": {
            "look_through": {
                "outcome": decision.look_through_outcome,
                "low": decision.look_through_low,
                "high": decision.look_through_high,
            },
            "control_chain": {
                "outcome": decision.control_chain_outcome,
                "low": decision.control_chain_low,
                "high": decision.control_chain_high,
            },
        },
        "reasons": payload.get("reasons", []),
        "paths": payload.get("paths", []),
        "decision_id": decision.pk,
        "computed_at": _iso(decision.computed_at),
        "override": None
        if override is None
        else {
            "id": override.pk,
            "automatic_outcome": override.automatic_outcome,
            "outcome": override.proposed_outcome,
            "reason": override.reason,
            "applied_at": _iso(override.applied_at),
        },
        "exemption": None
        if exemption is None
        else {"id": exemption.pk, "expires_on": _iso(exemption.expires_on), "reason": exemption.reason},
        "updated_at": _iso(updated_at),
    }


def effective_body_for(entity) -> dict | None:
    """The effective decision body of ``entity`` (stored row if any, else computed; None if never screened)."""
    row = (
        EffectiveDecision.objects.select_related("decision__policy", "override", "exemption")
        .filter(entity=entity)
        .first()
    )
    if row is not None:
        return decision_body(
            entity=entity,
            decision=row.decision,
            outcome=row.outcome,
            source=row.source,
            override=row.override,
            exemption=row.exemption,
            updated_at=row.updated_at,
        )
    wanted = effective_compute(entity=entity)
    if wanted is None:
        return None
    current = CurrentDecision.objects.filter(entity=entity).only("screened_at").first()
    return decision_body(entity=entity, updated_at=current.screened_at if current else None, **wanted)


def open_case_reference(entity) -> str | None:
    case = Case.objects.filter(subject=entity).exclude(status=CaseStatus.CLOSED).only("reference").first()
    return case.reference if case else None


def _next_seq() -> int:
    try:
        with transaction.atomic():
            counter, created = DecisionFeedCounter.objects.select_for_update().get_or_create(id=1)
    except IntegrityError:  # another writer created the row first; wait for its lock
        counter = DecisionFeedCounter.objects.select_for_update().get(id=1)
        created = False
    if created:  # the row went missing (test-database flush): continue after the last event
        last = DecisionChangeEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        counter.last_seq = last or 0
    counter.last_seq += 1
    counter.save(update_fields=["last_seq"])
    return counter.last_seq


def feed_record(*, entity, before: dict | None, effective: EffectiveDecision | None, reason: str = ""):
    """Append the change of ``entity``'s effective decision to the feed and queue its webhooks.

    Must run inside the transaction that changed the EffectiveDecision (``effective_recompute``).
    """
    from .webhooks import webhooks_enqueue

    if effective is not None:
        body = decision_body(
            entity=entity,
            decision=effective.decision,
            outcome=effective.outcome,
            source=effective.source,
            override=effective.override,
            exemption=effective.exemption,
            updated_at=effective.updated_at or timezone.now(),
        )
    else:
        body = {"entity": entity.external_id, "outcome": None, "source": None}
    event = DecisionChangeEvent(
        seq=_next_seq(),
        kind=DecisionChangeKind.CHANGED if effective is not None else DecisionChangeKind.REMOVED,
        entity=entity,
        entity_external_id=entity.external_id,
        outcome=effective.outcome if effective is not None else "",
        source=effective.source if effective is not None else "",
        previous_outcome=(before or {}).get("outcome") or "",
        previous_source=(before or {}).get("source") or "",
        decision_id=effective.decision_id if effective is not None else None,
        payload=body,
        reason=reason[:2000],
    )
    event.save()
    webhooks_enqueue(event=event)
    return event


def event_body(event: DecisionChangeEvent) -> dict:
    """The feed item (and webhook body) for one event."""
    return {
        "seq": event.seq,
        "type": event.kind,
        "entity": event.entity_external_id,
        "outcome": event.outcome or None,
        "source": event.source or None,
        "previous_outcome": event.previous_outcome or None,
        "previous_source": event.previous_source or None,
        "occurred_at": _iso(event.occurred_at),
        "reason": event.reason,
        "decision": event.payload,
    }


def feed_page(*, after: int = 0, limit: int = 100) -> list[DecisionChangeEvent]:
    """Events with seq > ``after``, in order. Every one returned is committed and so is everything before it."""
    return list(DecisionChangeEvent.objects.filter(seq__gt=after).order_by("seq")[:limit])
