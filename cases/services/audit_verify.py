"""Verifying the audit chain: every row against its key, the chain head, and the signed checkpoints.

Apart from ``audit`` (which writes and hashes rows) because verification needs the
checkpoints of ``audit_anchor``, which itself builds on ``audit``'s chain walk.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

from django.db import connection, connections
from django.db.models import Max

from cases.audit_keys import audit_keyring
from cases.models import AuditChainHead, AuditEvent

from .audit import GENESIS_HASH, AuditBreak, ChainWalk, chain_rows, chain_walk
from .audit_anchor import load_checkpoints

PARALLEL_MIN_ROWS = 100_000  # below this, starting processes costs more than it saves


@dataclass(frozen=True)
class AuditVerification:
    """What ``verify_audit`` reports: how much was checked, up to where, and the first break (or None)."""

    rows: int
    keyed_rows: int
    legacy_rows: int
    last_seq: int
    last_hash: str
    checkpoints: int
    latest_checkpoint: object  # audit_anchor.Checkpoint | None
    broken: AuditBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def audit_verify(*, chunk_size: int = 5000) -> tuple[int, AuditBreak | None]:
    """Recompute the chain and compare it with the checkpoints. Returns (rows checked, first break or None)."""
    result = audit_verification(chunk_size=chunk_size)
    return result.rows, result.broken


def audit_verification(
    *, chunk_size: int = 5000, workers: int | None = None, span: int | None = None
) -> AuditVerification:
    """Check every row (sequence, link, keyed hash), the chain head, and every signed checkpoint.

    Checkpoints are read first: one that does not verify under the public key is the first break,
    since the rows can only be trusted as far as an intact anchor vouches for them.

    A large chain is verified in spans of ``span`` sequence numbers by ``workers`` processes (default:
    one per CPU when the chain has ``PARALLEL_MIN_ROWS`` rows and the database is readable from another
    connection); the result, including the first break, is the same as one walk's (``_spans_walk``).
    """
    checkpoints, invalid = load_checkpoints()
    if invalid:
        name, problem = invalid[0]
        return AuditVerification(
            0, 0, 0, 0, GENESIS_HASH, len(checkpoints), None, AuditBreak(None, None, problem, name)
        )
    by_seq = {checkpoint.seq: checkpoint for checkpoint in checkpoints}
    legacy_through = min((c.legacy_through for c in checkpoints), default=None)
    walk = _walk(
        _WalkRules(chunk_size=chunk_size, legacy_through=legacy_through, checkpoints=by_seq), workers=workers, span=span
    )
    latest = checkpoints[-1] if checkpoints else None
    broken = walk.broken or _head_break(walk) or _checkpoint_ahead(checkpoints, walk.last_seq)
    return AuditVerification(
        walk.rows, walk.keyed_rows, walk.rows - walk.keyed_rows, walk.last_seq, walk.last_hash,
        len(checkpoints), latest, broken,
    )  # fmt: skip


@dataclass(frozen=True)
class _WalkRules:
    """What every span's walk needs (pickled to the worker processes)."""

    chunk_size: int
    legacy_through: int | None
    checkpoints: dict


def _walk(rules: _WalkRules, *, workers: int | None, span: int | None) -> ChainWalk:
    last_seq = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    if workers is None:
        workers = (os.cpu_count() or 1) if last_seq >= PARALLEL_MIN_ROWS and _readable_elsewhere() else 1
    if workers <= 1 and span is None:
        return _walk_from(rules, 0, GENESIS_HASH, keyed_seen=False)
    span = span or max(
        1, -(-last_seq // (workers * 4))
    )  # a few spans per worker, so a slow one does not hold up the end
    spans = [(first, min(first + span, last_seq)) for first in range(0, last_seq, span)]
    if workers <= 1 or not _readable_elsewhere():  # the same spans in this process: what workers would do
        return _spans_walk(rules, spans, map(_walk_span, [(rules, *bounds) for bounds in spans]))
    connections.close_all()  # each forked worker opens its own connection
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return _spans_walk(rules, spans, pool.imap(_walk_span, [(rules, *bounds) for bounds in spans]))


def _readable_elsewhere() -> bool:
    """Whether another process sees what this connection sees: not inside a transaction (a test's rows are
    uncommitted) and not an in-memory SQLite database."""
    if connection.in_atomic_block:
        return False
    return not (connection.vendor == "sqlite" and connection.is_in_memory_db())


def _walk_span(task) -> ChainWalk:
    """One span (``after_seq``, ``through_seq``], linked to whatever its first row says (checked by the caller)."""
    rules, after_seq, through_seq = task
    rows = chain_rows(after_seq=after_seq, through_seq=through_seq, chunk_size=rules.chunk_size)
    return chain_walk(
        rows, keyring=audit_keyring(), start_seq=after_seq, start_hash=None,
        legacy_through=rules.legacy_through, checkpoints=rules.checkpoints,
    )  # fmt: skip


def _walk_from(rules: _WalkRules, after_seq: int, after_hash: str, *, keyed_seen: bool) -> ChainWalk:
    rows = chain_rows(after_seq=after_seq, chunk_size=rules.chunk_size)
    return chain_walk(
        rows, keyring=audit_keyring(), start_seq=after_seq, start_hash=after_hash,
        legacy_through=rules.legacy_through, checkpoints=rules.checkpoints, keyed_seen=keyed_seen,
    )  # fmt: skip


def _spans_walk(rules: _WalkRules, spans, walks) -> ChainWalk:
    """Join the spans' walks in order; from the first span that is not a clean continuation of the previous
    ones (a break inside it, a link or sequence that does not join, legacy rows after keyed ones), and for rows
    written after the spans were planned, walk on in this process: that walk names the first break exactly
    as a single walk from the start would."""
    rows = keyed = last_seq = 0
    last_hash = GENESIS_HASH
    for (after_seq, through_seq), walk in zip(spans, walks, strict=True):
        joins = after_seq == last_seq and walk.first_prev_hash == last_hash and walk.last_seq == through_seq
        legacy_after_keyed = keyed > 0 and walk.rows > walk.keyed_rows
        if walk.broken is not None or not joins or legacy_after_keyed:
            break
        rows, keyed, last_seq, last_hash = rows + walk.rows, keyed + walk.keyed_rows, walk.last_seq, walk.last_hash
    rest = _walk_from(rules, last_seq, last_hash, keyed_seen=keyed > 0)
    return ChainWalk(rows + rest.rows, keyed + rest.keyed_rows, rest.last_seq, rest.last_hash, rest.broken)


def _head_break(walk) -> AuditBreak | None:
    head = AuditChainHead.objects.filter(id=1).first()
    if head is not None and walk.rows and (head.last_seq != walk.last_seq or head.last_hash != walk.last_hash):
        return AuditBreak(None, None, f"chain head points at #{head.last_seq}, last row is #{walk.last_seq}")
    return None


def _checkpoint_ahead(checkpoints, last_seq: int) -> AuditBreak | None:
    for checkpoint in checkpoints:
        if checkpoint.seq > last_seq:
            return AuditBreak(
                None,
                None,
                f"signed at {checkpoint.created_at} for row #{checkpoint.seq}, but the database ends at #{last_seq}: "
                "rows were deleted or the database was restored from an older backup",
                checkpoint.name,
            )
    return None
