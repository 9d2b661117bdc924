"""The only writer of ``AuditEvent`` rows, and the chain verifier.

``audit_record`` appends one event to the hash chain. Appends are serialised by
locking the single ``AuditChainHead`` row with ``select_for_update()``, so two
transactions on PostgreSQL cannot both extend the same head (the second waits
for the first to commit, then sees the new head). Call it inside the caller's
transaction: the event commits or rolls back with the change it records.
"""

import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import NamedTuple

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cases.audit_keys import LEGACY_KEY_ID, AuditKeyring, audit_keyring
from cases.json_text import json_text
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
    """The canonical content of a row that its hash covers (everything but ``hash``; keyed rows add ``key_id``)."""
    payload = {
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
    if event.key_id != LEGACY_KEY_ID:
        payload["key_id"] = event.key_id
    return payload


def audit_event_hash(event: AuditEvent, keyring: AuditKeyring | None = None) -> str:
    """The hash the row should have: keyed with its own key id, or legacy SHA-256 for pre-0008 rows."""
    payload = audit_event_payload(event)
    if event.key_id == LEGACY_KEY_ID:
        return _legacy_hash(payload)
    return _keyed_hash((keyring or audit_keyring()).keys[event.key_id], payload)


def _legacy_hash(content: dict) -> str:
    """Rows before migration 0008: SHA-256 over the standard library's canonical JSON (public: anyone can
    recompute it, which is why new rows are keyed)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _keyed_hash(key: bytes, content: dict, hasher: "_KeyedHasher | None" = None) -> str:
    """HMAC-SHA256 over orjson's sorted compact JSON (3-5x faster than the standard library's, which matters
    for verifying millions of rows; the encoding only has to be the same at write and verify time). Integers
    beyond 64 bits, which orjson refuses, take the standard library's encoding. ``hasher``, the same key's
    ``_KeyedHasher``, gives the same digest without re-deriving the padded key (a batch hashes many rows)."""
    try:
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if hasher is not None:
        return hasher.hexdigest(canonical)
    return hmac.digest(key, canonical, "sha256").hex()


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


class AuditEntry(NamedTuple):
    """One event to append: what ``audit_record`` takes, for batches (a tuple: a portfolio chunk makes thousands).

    ``plain`` says ``before`` and ``after`` are already fresh values of exactly JSON's types with no negative
    zero and no non-finite float (what ``_jsonable`` would return): a portfolio run builds thousands of such
    entries itself and skips the copy.
    """

    action: str
    target: object
    before: object = None
    after: object = None
    reason: str = ""
    plain: bool = False


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
    return _append(actor=actor, entries=entries, instances=True)


@transaction.atomic
def audit_append_many(*, actor, entries: list[AuditEntry]) -> None:
    """``audit_record_many`` for a caller that needs no ``AuditEvent`` back: the same rows and chain, inserted
    without reading ids back and without building an instance per event (a portfolio run audits every
    changed decision)."""
    _append(actor=actor, entries=entries, instances=False)


def _append(*, actor, entries: list[AuditEntry], instances: bool) -> list[AuditEvent]:
    if not entries:
        return []
    keyring = audit_keyring()  # before the lock: a missing key fails before anything is written
    key_id, key = keyring.current_id, keyring.current_key
    hasher = _KeyedHasher(key)
    head = _lock_head()
    is_user = actor is not None and getattr(actor, "pk", None) is not None
    actor_id = actor.pk if is_user else None
    actor_label = actor.get_username() if is_user else "system"
    now = timezone.now()
    occurred_at = _timestamp(now)
    seq, prev_hash = head.last_seq, head.last_hash
    # Rows only written (no instances back) are built in the database's form at once: the timestamp converted
    # once, not per row, and no second pass over a portfolio run's hundred thousand rows to convert them.
    written_only = not instances
    when = connection.ops.adapt_datetimefield_value(now) if written_only else now
    rows = []
    for entry in entries:
        target_type, target_id, target_label = _target_parts(entry.target)
        if entry.plain:
            before, after = entry.before, entry.after
        else:
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
            "key_id": key_id,
        }
        event_hash = _keyed_hash(key, content, hasher)
        # In AuditEvent's concrete field order after the id: seq, occurred_at, actor_id, actor_label, action,
        # target_type, target_id, target_label, before, after, reason, prev_hash, hash, key_id.
        if written_only:
            before = None if before is None else json_text(before)
            after = None if after is None else json_text(after)
        rows.append(
            (seq, when, actor_id, actor_label, entry.action, target_type, target_id, target_label)
            + (before, after, reason, prev_hash, event_hash, key_id)
        )
        prev_hash = event_hash
    writer = TableWriter(AuditEvent, adapted=["occurred_at", "before", "after"] if written_only else ())
    if not instances:
        writer.insert_rows(_EVENT_COLUMNS, rows)
    else:
        ids = writer.insert_returning_ids(_EVENT_COLUMNS, rows, key="seq")
    head.last_seq, head.last_hash = seq, prev_hash
    head.save(update_fields=["last_seq", "last_hash"])
    if not instances:
        return []
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
    "key_id",
]
_EVENT_FIELDS = ["id", *_EVENT_COLUMNS]


@dataclass(frozen=True)
class AuditBreak:
    """The first place the evidence disagrees: a row (``seq``/``event_id``), the chain head, or a checkpoint file."""

    seq: int | None
    event_id: int | None
    problem: str
    checkpoint: str | None = None

    @property
    def where(self) -> str:
        if self.checkpoint is not None:
            return f"checkpoint {self.checkpoint}"
        if self.seq is not None:
            return f"row #{self.seq} (id {self.event_id})"
        return "chain head"


_CHAIN_COLUMNS = (
    "id, seq, {occurred_at}, actor_id, actor_label, action, target_type, target_id, target_label, "
    "before, after, reason, prev_hash, hash, key_id"
)
# ``occurred_at`` as the canonical text (``_timestamp``) straight from the database: converting a
# million datetimes in Python (parse, time zone, strftime) cost more than hashing the rows.
_TIMESTAMP_SQL = {
    # naive UTC 'YYYY-MM-DD HH:MM:SS[.ffffff]' made canonical (what _db_timestamp would do, per row in Python)
    "sqlite": "REPLACE(CAST(occurred_at AS TEXT), ' ', 'T') "
    "|| CASE WHEN INSTR(CAST(occurred_at AS TEXT), '.') > 0 THEN '' ELSE '.000000' END || 'Z'",
    "postgresql": """to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
}


def chain_rows(*, after_seq: int = 0, through_seq: int | None = None, chunk_size: int = 5000):
    """The rows after ``after_seq`` (through ``through_seq`` if given) in chain order, as raw tuples.

    Raw SQL through a server-side cursor on PostgreSQL: building model instances cost more than the
    hashing, and verifying a million rows must stay within seconds and bounded memory.
    """
    from django.db import connection

    columns = _CHAIN_COLUMNS.format(occurred_at=_TIMESTAMP_SQL.get(connection.vendor, "occurred_at"))
    bounds, params = (
        ("seq > %s", [after_seq]) if through_seq is None else ("seq > %s AND seq <= %s", [after_seq, through_seq])
    )
    sql = f"SELECT {columns} FROM {AuditEvent._meta.db_table} WHERE {bounds} ORDER BY seq"  # noqa: S608
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


@dataclass(frozen=True)
class ChainWalk:
    rows: int
    keyed_rows: int
    last_seq: int
    last_hash: str
    broken: AuditBreak | None
    first_prev_hash: str | None = None  # what the first row linked to (a chunk's join, see audit_verify)


class _KeyedHasher:
    """HMAC-SHA256 under one key (RFC 2104), from SHA-256 states keyed once and copied per row.

    ``hmac.digest`` re-derives the padded key for every message; a million-row verification spent
    more time there than on hashing the rows. Same digests as ``hmac.digest(key, message, "sha256")``.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes):
        if len(key) > 64:  # the block size: longer keys are hashed first, as RFC 2104 says
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def chain_walk(
    rows, *, keyring: AuditKeyring, start_seq: int = 0, start_hash: str | None = GENESIS_HASH, legacy_through=None,
    checkpoints=None, keyed_seen: bool = False,
) -> ChainWalk:  # fmt: skip
    """Recompute the chain over ``rows`` (from ``chain_rows``) continuing from (``start_seq``, ``start_hash``).

    Legacy (unkeyed) rows may only form the chain's prefix, and no further than the signed checkpoints'
    ``legacy_through``: otherwise relabelling rows 'legacy' would let anyone re-hash them with public SHA-256.
    ``keyed_seen`` says keyed rows came before ``rows``; ``start_hash`` None accepts whatever the first row
    links to (one chunk of a parallel walk, whose joins the caller checks with ``first_prev_hash``).

    A keyed row in sequence, with the expected link and no checkpoint, takes the inlined fast path (a
    million rows must verify within seconds); anything else, and any row that does not match, goes
    through ``_row_problem``, which says what is wrong.
    """
    checkpoints = checkpoints or {}
    legacy_limit = legacy_through if legacy_through is not None else float("inf")
    hashers = {key_id: _KeyedHasher(key) for key_id, key in keyring.keys.items()}
    loads, dumps, sort_keys = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS
    expected_seq, expected_prev, first_prev = start_seq + 1, start_hash, None
    checked = keyed = 0
    for row in rows:
        _, seq, occurred_at, actor_id, actor_label, action, target_type, target_id, target_label = row[:9]
        before, after, reason, prev_hash, row_hash, key_id = row[9:]
        if expected_prev is None:
            expected_prev = first_prev = prev_hash
        hasher = hashers.get(key_id)
        if hasher is not None and seq == expected_seq and prev_hash == expected_prev and seq not in checkpoints:
            try:
                content = {
                    "seq": seq,
                    "occurred_at": occurred_at if occurred_at[-1:] == "Z" else _db_timestamp(occurred_at),
                    "actor_id": actor_id,
                    "actor_label": actor_label,
                    "action": action,
                    "target_type": target_type,
                    "target_id": target_id,
                    "target_label": target_label,
                    "before": loads(before) if before.__class__ is str else _db_json(before),
                    "after": loads(after) if after.__class__ is str else _db_json(after),
                    "reason": reason,
                    "prev_hash": prev_hash,
                    "key_id": key_id,
                }
                matches = hasher.hexdigest(dumps(content, option=sort_keys)) == row_hash
            except (TypeError, orjson.JSONDecodeError):  # big integers, unusual JSON: the general path decides
                matches = False
            if matches:
                keyed += 1
                expected_prev = row_hash
                expected_seq += 1
                checked += 1
                continue
        keyed_row, problem = _row_problem(
            row, expected_seq, expected_prev, keyring.keys, legacy_limit, keyed_seen or keyed > 0
        )
        if problem is None:
            checkpoint = checkpoints.get(row[1])
            if checkpoint is not None and checkpoint.head_hash != row[13]:
                problem = f"row #{row[1]} is not the row checkpoint {checkpoint.name} signed (chain rewritten)"
        if problem is not None:
            broken = AuditBreak(row[1], row[0], problem)
            return ChainWalk(checked, keyed, expected_seq - 1, expected_prev, broken, first_prev)
        keyed += keyed_row
        expected_prev = row[13]
        expected_seq += 1
        checked += 1
    return ChainWalk(checked, keyed, expected_seq - 1, expected_prev, None, first_prev)


def _row_problem(row, expected_seq, expected_prev, keys, legacy_limit, keyed_seen) -> tuple[bool, str | None]:
    """(is the row keyed, what is wrong with it or None) for one raw row of ``chain_rows``."""
    _, seq, occurred_at, actor_id, actor_label, action, target_type, target_id, target_label = row[:9]
    before, after, reason, prev_hash, row_hash, key_id = row[9:]
    if seq != expected_seq:
        return False, f"sequence gap: expected #{expected_seq}, found #{seq} (row deleted?)"
    if prev_hash != expected_prev:
        return False, "prev_hash does not match the previous row's hash (rows reordered or deleted?)"
    content = {
        "seq": seq,
        "occurred_at": _db_timestamp(occurred_at),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "before": _db_json(before),
        "after": _db_json(after),
        "reason": reason,
        "prev_hash": prev_hash,
    }
    if key_id == LEGACY_KEY_ID:
        if keyed_seen or seq > legacy_limit:
            return False, "marked legacy (unkeyed) after the keyed chain began: re-hashed without the key?"
        computed = _legacy_hash(content)
    else:
        key = keys.get(key_id)
        if key is None:
            return True, f"keyed with unknown key id {key_id!r} (not in AUDIT_HMAC_KEYS)"
        content["key_id"] = key_id
        computed = _keyed_hash(key, content)
    keyed = key_id != LEGACY_KEY_ID
    if computed != row_hash:
        return keyed, "hash does not match the row's content (row edited, or re-hashed without the key)"
    return keyed, None


def _db_timestamp(value) -> str:
    """``_timestamp`` of a raw ``occurred_at`` (``_TIMESTAMP_SQL``): canonical text, SQLite's naive UTC text,
    or a datetime (another database)."""
    if isinstance(value, str):
        if value[-1] == "Z":
            return value
        text = value.replace(" ", "T")
        return (text if "." in text else text + ".000000") + "Z"
    return _timestamp(value)


def _db_json(value):
    """A raw JSON column as Python values, decoded as the JSONField would (big integers via the standard library)."""
    if not isinstance(value, str | bytes):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)
