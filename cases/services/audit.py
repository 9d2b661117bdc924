"""The only writer of ``AuditEvent`` rows, and the chain verifier.

``audit_record`` appends one event to the hash chain. Appends are serialised by
locking the single ``AuditChainHead`` row with ``select_for_update()``, so two
transactions on PostgreSQL cannot both extend the same head (the second waits
for the first to commit, then sees the new head). Call it inside the caller's
transaction: the event commits or rolls back with the change it records.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


def _jsonable(value):
    """Normalise to plain JSON types, so the stored value hashes the same after a database round trip."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _timestamp(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_event_payload(event: AuditEvent) -> dict:
    """The canonical content of a row that its hash covers (everything but ``hash``)."""
    return {
        "seq": event.seq,
        "occurred_at": _timestamp(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": str(event.target_id),
        "target_label": event.target_label,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "prev_hash": event.prev_hash,
    }


def audit_event_hash(event: AuditEvent) -> str:
    canonical = json.dumps(
        audit_event_payload(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _target_parts(target) -> tuple[str, str, str]:
    if isinstance(target, tuple):
        target_type, target_id, *label = target
        return str(target_type), str(target_id), str(label[0]) if label else ""
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk), str(target)[:500]


def _lock_head() -> AuditChainHead:
    try:
        with transaction.atomic():
            head, created = AuditChainHead.objects.select_for_update().get_or_create(id=1)
    except IntegrityError:  # another writer created it first; now wait for its lock
        head = AuditChainHead.objects.select_for_update().get(id=1)
        created = False
    if created:
        # The head row went missing (e.g. a test-database flush): continue from the last event.
        last = AuditEvent.objects.order_by("-seq").first()
        if last is not None:
            head.last_seq, head.last_hash = last.seq, last.hash
    return head


@dataclass(frozen=True)
class AuditEntry:
    """One event to append: what ``audit_record`` takes, for batches."""

    action: str
    target: object
    before: object = None
    after: object = None
    reason: str = ""


@transaction.atomic
def audit_record(*, actor, action: str, target, before=None, after=None, reason: str = "") -> AuditEvent:
    """Append one event. ``target`` is a model instance or a ``(type, id[, label])`` tuple.

    ``actor`` is a user or None for the system.
    """
    entry = AuditEntry(action=action, target=target, before=before, after=after, reason=reason)
    return audit_record_many(actor=actor, entries=[entry])[0]


@transaction.atomic
def audit_record_many(*, actor, entries: list[AuditEntry]) -> list[AuditEvent]:
    """Append several events under one lock of the chain head and one bulk insert.

    A portfolio re-screen changes thousands of decisions at once; chaining them
    one lock and one INSERT at a time would dominate the run.
    """
    if not entries:
        return []
    head = _lock_head()
    is_user = actor is not None and getattr(actor, "pk", None) is not None
    now = timezone.now()
    events = []
    for entry in entries:
        target_type, target_id, target_label = _target_parts(entry.target)
        event = AuditEvent(
            seq=head.last_seq + 1,
            occurred_at=now,
            actor=actor if is_user else None,
            actor_label=actor.get_username() if is_user else "system",
            action=entry.action,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            before=_jsonable(entry.before),
            after=_jsonable(entry.after),
            reason=entry.reason or "",
            prev_hash=head.last_hash,
        )
        event.hash = audit_event_hash(event)
        events.append(event)
        head.last_seq, head.last_hash = event.seq, event.hash
    AuditEvent.objects.append_chained(events)
    head.save(update_fields=["last_seq", "last_hash"])
    return events


@dataclass(frozen=True)
class AuditBreak:
    seq: int | None
    event_id: int | None
    problem: str


def audit_verify(*, chunk_size: int = 2000) -> tuple[int, AuditBreak | None]:
    """Recompute the chain in sequence order. Returns (rows checked, first break or None)."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            return checked, AuditBreak(
                event.seq, event.pk, f"sequence gap: expected #{expected_seq}, found #{event.seq} (row deleted?)"
            )
        if event.prev_hash != expected_prev:
            return checked, AuditBreak(
                event.seq, event.pk, "prev_hash does not match the previous row's hash (rows reordered or deleted?)"
            )
        if audit_event_hash(event) != event.hash:
            return checked, AuditBreak(event.seq, event.pk, "hash does not match the row's content (row edited?)")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = AuditChainHead.objects.filter(id=1).first()
    if head is not None and checked and (head.last_seq != expected_seq - 1 or head.last_hash != expected_prev):
        return checked, AuditBreak(
            None, None, f"chain head points at #{head.last_seq}, last row is #{expected_seq - 1}"
        )
    return checked, None
