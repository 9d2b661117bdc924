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
from cases.services.bulk_sql import TableWriter

GENESIS_HASH = "0" * 64


def _jsonable(value):
    """Normalise to plain JSON types, so the stored value hashes the same after a database round trip.

    Negative zero becomes 0.0: PostgreSQL's ``jsonb`` stores numbers as ``numeric``, which has no
    negative zero, so an event hashed over ``-0.0`` (a figure the engine can produce) would read back
    as ``0.0`` and fail verification.
    """
    if value is None:
        return None
    try:
        return _plain_copy(value)
    except _NotPlain:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder), parse_float=_parse_float)


def _parse_float(text: str) -> float:
    return float(text) + 0.0  # -0.0 + 0.0 == +0.0


class _NotPlain(Exception):
    pass


def _plain_copy(value):
    """A copy of ``value`` if it is made of exactly JSON's types (what the JSON round trip would return,
    a few times faster: a portfolio run audits every changed decision); ``_NotPlain`` otherwise (tuples
    become lists as in JSON; subclasses such as enums, and non-finite floats, take the round trip)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if value - value != 0:  # inf or nan
            raise _NotPlain
        return value + 0.0  # -0.0 + 0.0 == +0.0
    if kind is dict:
        copy = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            copy[key] = _plain_copy(item)
        return copy
    if kind is list or kind is tuple:
        return [_plain_copy(item) for item in value]
    raise _NotPlain


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
    return _content_hash(audit_event_payload(event))


def _content_hash(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
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
    one lock and one INSERT at a time would dominate the run. The rows go in with
    raw ``COPY``/multi-row ``INSERT`` (``TableWriter``), not ``bulk_create``, whose
    per-field SQL compilation cost more than the hashing; the events returned are
    ordinary saved ``AuditEvent`` instances (``pk`` set).
    """
    if not entries:
        return []
    head = _lock_head()
    is_user = actor is not None and getattr(actor, "pk", None) is not None
    actor_id = actor.pk if is_user else None
    actor_label = actor.get_username() if is_user else "system"
    now = timezone.now()
    occurred_at = _timestamp(now)
    seq, prev_hash = head.last_seq, head.last_hash
    rows = []
    for entry in entries:
        target_type, target_id, target_label = _target_parts(entry.target)
        before, after = _jsonable(entry.before), _jsonable(entry.after)
        reason = entry.reason or ""
        seq += 1
        content = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": entry.action,
            "target_type": target_type,
            "target_id": target_id,
            "target_label": target_label,
            "before": before,
            "after": after,
            "reason": reason,
            "prev_hash": prev_hash,
        }
        event_hash = _content_hash(content)
        # In AuditEvent's concrete field order after the id: seq, occurred_at, actor_id, actor_label, action,
        # target_type, target_id, target_label, before, after, reason, prev_hash, hash.
        rows.append(
            (seq, now, actor_id, actor_label, entry.action, target_type, target_id, target_label)
            + (before, after, reason, prev_hash, event_hash)
        )
        prev_hash = event_hash
    ids = TableWriter(AuditEvent).insert_returning_ids(_EVENT_COLUMNS, rows, key="seq")
    head.last_seq, head.last_hash = seq, prev_hash
    head.save(update_fields=["last_seq", "last_hash"])
    db = head._state.db
    events = [AuditEvent.from_db(db, _EVENT_FIELDS, (event_id, *row)) for event_id, row in zip(ids, rows, strict=True)]
    if is_user:
        for event in events:
            event.actor = actor  # as a freshly created event has it: no query to read it back
    return events


_EVENT_COLUMNS = [
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
]
_EVENT_FIELDS = ["id", *_EVENT_COLUMNS]


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
