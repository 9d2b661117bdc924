"""Walking a long stretch of the audit chain in spans, in parallel processes, with one walk's answer.

Verifying a million rows one after another takes longer than the 10 s an auditor's check should
(reading, decoding and hashing are all CPU in this process). The chain is checkable span by span:
each span is walked linked to whatever its first row says, and the joins (first ``prev_hash`` against
the previous span's last ``hash``, sequence continuity, no legacy rows after keyed ones) are checked
afterwards. From the first span that does not join cleanly the walk continues in this process, so the
first break it names, and the counts, are exactly those of a single walk from the start.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

from django.db import connection, connections
from django.db.models import Max

from cases.audit_keys import audit_keyring
from cases.models import AuditEvent

from .audit import GENESIS_HASH, ChainWalk, chain_rows, chain_walk

PARALLEL_MIN_ROWS = 100_000  # below this, starting processes costs more than it saves
SPANS_PER_WORKER = 4  # a few spans each, so one slow span does not hold up the end


@dataclass(frozen=True)
class _WalkRules:
    """What every span's walk needs (pickled to the worker processes)."""

    chunk_size: int
    legacy_through: int | None
    checkpoints: dict


def chain_walk_spans(
    *, after_seq: int = 0, after_hash: str = GENESIS_HASH, legacy_through: int | None = None,
    checkpoints: dict | None = None, chunk_size: int = 5000, workers: int | None = None, span: int | None = None,
) -> ChainWalk:  # fmt: skip
    """``chain_walk`` over every row after ``after_seq``, in spans of ``span`` sequence numbers.

    ``workers`` None: one process per CPU when there are ``PARALLEL_MIN_ROWS`` rows to check and other
    connections can read them, else one walk. With ``workers`` 1 and a ``span``, the spans are walked in
    this process (what the tests check against the single walk).
    """
    rules = _WalkRules(chunk_size=chunk_size, legacy_through=legacy_through, checkpoints=checkpoints or {})
    last_seq = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    if workers is None:
        large = last_seq - after_seq >= PARALLEL_MIN_ROWS
        workers = (os.cpu_count() or 1) if large and _readable_elsewhere() else 1
    if workers <= 1 and span is None:
        return _walk_from(rules, after_seq, after_hash, keyed_seen=False)
    span = span or max(1, -(-(last_seq - after_seq) // (workers * SPANS_PER_WORKER)))
    spans = [(first, min(first + span, last_seq)) for first in range(after_seq, last_seq, span)]
    tasks = [(rules, *bounds) for bounds in spans]
    if workers <= 1 or not _readable_elsewhere():  # the same spans in this process
        return _spans_walk(rules, after_seq, after_hash, spans, map(_walk_span, tasks))
    connections.close_all()  # each forked worker opens its own connection
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return _spans_walk(rules, after_seq, after_hash, spans, pool.imap(_walk_span, tasks))


def _readable_elsewhere() -> bool:
    """Whether another process sees what this connection sees: not inside a transaction (a test's rows are
    uncommitted) and not an in-memory SQLite database."""
    if connection.in_atomic_block:
        return False
    return not (connection.vendor == "sqlite" and connection.is_in_memory_db())


def _walk_span(task) -> ChainWalk:
    """One span (``after_seq``, ``through_seq``], linked to whatever its first row says (checked by the caller)."""
    rules, after_seq, through_seq = task
    return _walk_from(rules, after_seq, None, through_seq=through_seq, keyed_seen=False)


def _walk_from(
    rules: _WalkRules, after_seq: int, after_hash: str | None, *, keyed_seen: bool, through_seq: int | None = None
) -> ChainWalk:
    rows = chain_rows(after_seq=after_seq, through_seq=through_seq, chunk_size=rules.chunk_size)
    return chain_walk(
        rows, keyring=audit_keyring(), start_seq=after_seq, start_hash=after_hash,
        legacy_through=rules.legacy_through, checkpoints=rules.checkpoints, keyed_seen=keyed_seen,
    )  # fmt: skip


def _spans_walk(rules: _WalkRules, after_seq: int, after_hash: str, spans, walks) -> ChainWalk:
    """Join the spans' walks in order, then walk on in this process from the end of the clean ones (rows
    written after the spans were planned, or the first span with a break, a link or sequence number that
    does not join, or legacy rows after keyed ones)."""
    rows = keyed = 0
    last_seq, last_hash = after_seq, after_hash
    for (first, through), walk in zip(spans, walks, strict=False):
        joins = first == last_seq and walk.first_prev_hash == last_hash and walk.last_seq == through
        if walk.broken is not None or not joins or (keyed > 0 and walk.rows > walk.keyed_rows):
            break
        rows, keyed, last_seq, last_hash = rows + walk.rows, keyed + walk.keyed_rows, walk.last_seq, walk.last_hash
    rest = _walk_from(rules, last_seq, last_hash, keyed_seen=keyed > 0)
    return ChainWalk(rows + rest.rows, keyed + rest.keyed_rows, rest.last_seq, rest.last_hash, rest.broken)
