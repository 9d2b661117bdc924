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
    Entity,
    Exemption,
    Override,
)
from cases.selectors.effective import effective_compute
from cases.selectors.feed import iso_or_none

from .webhooks import webhooks_enqueue


def decision_body(*, entity, decision, outcome: str, source: str, override=None, exemption=None, updated_at=None):
    """The spec section 11 decision object for the EFFECTIVE decision, plus where it comes from.

    ``outcome`` is the effective outcome; ``automatic_outcome`` the engine's; methods,
    figures, reasons and paths are the automatic decision's (what the data proves).
    """
    return _body(
        {
            "entity__external_id": entity.external_id,
            "entity__name": entity.name,
            "decision_id": decision.pk,
            **{f"decision__{name}": getattr(decision, name) for name in DECISION_FIELDS},
            "decision__policy__version": decision.policy.version,
        },
        outcome=outcome,
        source=source,
        override=override,
        exemption=exemption,
        updated_at=updated_at,
    )


DECISION_FIELDS = (
    "outcome",
    "look_through_outcome",
    "look_through_low",
    "look_through_high",
    "control_chain_outcome",
    "control_chain_low",
    "control_chain_high",
    "payload",
    "as_of",
    "computed_at",
)


def _body(v: dict, *, outcome, source, override, exemption, updated_at) -> dict:
    payload = v["decision__payload"] or {}
    return {
        "entity": v["entity__external_id"],
        "entity_name": v["entity__name"],
        "outcome": outcome,
        "source": source,
        "automatic_outcome": v["decision__outcome"],
        "as_of": iso_or_none(v["decision__as_of"]),
        "policy_version": v["decision__policy__version"],
        "methods": {
            "look_through": {
                "outcome": v["decision__look_through_outcome"],
                "low": v["decision__look_through_low"],
                "high": v["decision__look_through_high"],
            },
            "control_chain": {
                "outcome": v["decision__control_chain_outcome"],
                "low": v["decision__control_chain_low"],
                "high": v["decision__control_chain_high"],
            },
        },
        "reasons": payload.get("reasons", []),
        "paths": payload.get("paths", []),
        "decision_id": v["decision_id"],
        "computed_at": iso_or_none(v["decision__computed_at"]),
        "override": None
        if override is None
        else {
            "id": override.pk,
            "automatic_outcome": override.automatic_outcome,
            "outcome": override.proposed_outcome,
            "reason": override.reason,
            "applied_at": iso_or_none(override.applied_at),
        },
        "exemption": None
        if exemption is None
        else {"id": exemption.pk, "expires_on": iso_or_none(exemption.expires_on), "reason": exemption.reason},
        "updated_at": iso_or_none(updated_at),
    }


# Only the columns ``decision_body`` reads: the decision read is the API's hottest path.
EFFECTIVE_READ_FIELDS = (
    "outcome",
    "source",
    "updated_at",
    "override_id",
    "exemption_id",
    "entity_id",
    "entity__external_id",
    "entity__name",
    "decision_id",
    *(f"decision__{name}" for name in DECISION_FIELDS),
    "decision__policy__version",
)


def effective_body_for(entity=None, *, external_id: str | None = None) -> dict | None:
    """The effective decision body of ``entity`` (or the entity with ``external_id``): the stored row if
    any (one query), else computed; None if never screened (or no such entity)."""
    # values(): no model instances, and inner joins only: the outer joins to override/exemption (rarely
    # set) cost more PostgreSQL planning time than the whole row fetch; those two are read when present.
    rows = EffectiveDecision.objects.values(*EFFECTIVE_READ_FIELDS)
    rows = rows.filter(entity=entity) if entity is not None else rows.filter(entity__external_id=external_id)
    row = next(iter(rows[:1]), None)  # no ORDER BY: at most one row per entity
    if row is not None:
        return _body(
            row,
            outcome=row["outcome"],
            source=row["source"],
            override=Override.objects.get(pk=row["override_id"]) if row["override_id"] else None,
            exemption=Exemption.objects.get(pk=row["exemption_id"]) if row["exemption_id"] else None,
            updated_at=row["updated_at"],
        )
    if entity is None:
        entity = Entity.objects.filter(external_id=external_id).first()
        if entity is None:
            return None
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
