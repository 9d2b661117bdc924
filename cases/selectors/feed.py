"""Reads of the effective-decision change feed (``cases.services.feed`` writes it)."""

from cases.models import DecisionChangeEvent


def iso_or_none(value):
    return value.isoformat() if value is not None else None


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
        "occurred_at": iso_or_none(event.occurred_at),
        "reason": event.reason,
        "decision": event.payload,
    }


def feed_page(*, after: int = 0, limit: int = 100) -> list[DecisionChangeEvent]:
    """Events with seq > ``after``, in order. Every one returned is committed and so is everything before it."""
    return list(DecisionChangeEvent.objects.filter(seq__gt=after).order_by("seq")[:limit])
