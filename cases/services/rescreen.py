"""Incremental and portfolio-wide re-screening, durable and idempotent.

Flow of an ownership change (entity, person, relationship, interest) or a policy change:

1. **Record** (same transaction as the change): ``rescreen_requests.rescreen_request``
   adds the changed entity/person ids (or ``all_entities`` for a policy change) to the
   transaction's one ``RescreenRequest`` row. Services call it through
   ``rescreen_changed``; the model receivers in ``cases.receivers_ownership`` call it
   for ORM writes no service made (shell, data fixes) and see service writes too, which
   adds nothing twice to the same row. If the change rolls back, so does the row; if the
   process dies after the commit, the row is still there.
2. **Decide inline** (services, small downstream sets): ``rescreen_changed`` re-decides
   downstream of its seeds in the caller's transaction and takes those seeds out of the
   row again, so the worker never re-decides what was decided inline.
3. **Kick** (``transaction.on_commit``): enqueue processing (``queue.RESCREEN``) once per
   transaction that left a row.
4. **Process** (worker): ``rescreen_process_pending`` claims rows with a lease,
   re-decides everything downstream of their seeds (for ``all_entities``: every
   entity, in a ``ScreenRun`` whose id-range chunks ``PORTFOLIO_WORKERS`` workers
   claim with leases), then deletes the rows it claimed. A worker that dies leaves
   its rows (and its chunk); once the lease runs out the next run (or the
   scheduler's sweep) retries them.

Exactly-once effects come from the screening adapter itself: a decision whose
result is unchanged is not stored again and has no consequences
(``decision_consequences``), and each stored chunk (decisions, cases, audit,
effective decisions, feed entries) commits atomically. Re-processing a request after
a crash therefore re-decides the same entities and changes nothing that was already
committed. Two screenings of one entity at once (the worker and an inline decision,
two workers) cannot overwrite each other with stale data: the adapter does not store
over a decision that moved after it read the graph (``ScreenSummary.raced``) and
the entity is recorded again, to be decided from a snapshot that has both changes. A
portfolio chunk additionally commits only while its worker still holds the chunk's
lease (``_screen_chunk``), so two workers never both store one chunk. None of this
depends on the task backend: the database backend and RQ (at-least-once delivery,
no transaction with our tables) give the same guarantees (``tests/tasks/test_rq.py``).
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import F, Min, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from cases.models import Entity, RescreenRequest, ScreenRun, ScreenRunChunk

from . import queue
from .decision_prefetch import decision_prefetch
from .import_tuning import SQLITE_IMPORT_CACHE_KIB, sqlite_page_cache
from .policy import policy_get_active
from .rescreen_requests import rescreen_request, rescreen_request_withdraw, seed_ids
from .screening import (
    DecisionRow,
    PortfolioScreening,
    ScreenSummary,
    decision_row,
    downstream_entity_ids,
    portfolio_objects_frozen,
    portfolio_screening,
    screen_entities,
    store_portfolio_part,
)

logger = logging.getLogger(__name__)

#: How long a claimed request is protected from other workers (extended per chunk for portfolio runs).
LEASE = datetime.timedelta(minutes=10)
#: Requests claimed per incremental batch.
CLAIM_LIMIT = 500
#: How long a chunk of a portfolio run is protected from other workers (a chunk takes seconds).
CHUNK_LEASE = datetime.timedelta(minutes=5)
#: How often the owner of a run, waiting for chunks other workers hold, looks again.
CHUNK_POLL_SECONDS = 1.0
#: Downstream sets up to this size are re-decided inline by ``ownership_changed`` (API writes).
INLINE_LIMIT = 1000


def enqueue_portfolio_helpers(*, run_id: int, count: int, actor=None) -> None:
    """Ask ``count`` more workers to share a portfolio run; if that fails the run's owner does it all."""
    actor_id = getattr(actor, "pk", None)
    for _ in range(count):
        queue.enqueue(queue.PORTFOLIO_CHUNKS, run_id=run_id, actor_id=actor_id)


# --------------------------------------------------------------------------- processing


@dataclass
class ProcessSummary:
    requests: int = 0
    seeds: int = 0
    affected: int = 0
    screened: int = 0
    changed: int = 0
    portfolio_runs: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "seeds": self.seeds,
            "affected": self.affected,
            "screened": self.screened,
            "changed": self.changed,
            "portfolio_runs": self.portfolio_runs,
            "seconds": round(self.seconds, 3),
        }


def _claimable(now: datetime.datetime):
    return RescreenRequest.objects.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))


@transaction.atomic
def _claim(*, worker_id: str, all_entities: bool, limit: int) -> list[RescreenRequest]:
    now = timezone.now()
    rows = _claimable(now).filter(all_entities=all_entities).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    claimed = list(rows[:limit])
    if claimed:
        RescreenRequest.objects.filter(pk__in=[row.pk for row in claimed]).update(
            claimed_by=worker_id, claimed_until=now + LEASE, attempts=F("attempts") + 1
        )
    return claimed


def _extend_lease(ids: list[int], worker_id: str) -> None:
    RescreenRequest.objects.filter(pk__in=ids, claimed_by=worker_id).update(claimed_until=timezone.now() + LEASE)


def retry_backoff(attempts: int) -> datetime.timedelta:
    """10 s, 20 s, 40 s … at most 15 minutes."""
    return datetime.timedelta(seconds=min(900, 10 * 2 ** max(0, attempts - 1)))


def _release(ids: list[int], worker_id: str, error: str) -> None:
    """Give failed requests back, claimable again after a back-off (a poison request cannot spin)."""
    attempts = max(RescreenRequest.objects.filter(pk__in=ids).values_list("attempts", flat=True), default=1)
    RescreenRequest.objects.filter(pk__in=ids, claimed_by=worker_id).update(
        claimed_by="", claimed_until=timezone.now() + retry_backoff(attempts), last_error=error[:5000]
    )


def _done(ids: list[int], worker_id: str) -> None:
    RescreenRequest.objects.filter(pk__in=ids, claimed_by=worker_id).delete()


def rescreen_process_pending(
    *, worker_id: str | None = None, as_of: datetime.date | None = None, max_seconds: float | None = None
) -> ProcessSummary:
    """Process pending re-screen requests until none is claimable (or ``max_seconds`` passed).

    Safe to run in several workers at once and safe to re-run after a crash.
    Raises the first error after releasing the failed batch (its rows stay pending).
    """
    worker_id = worker_id or uuid.uuid4().hex
    summary = ProcessSummary()
    started = time.perf_counter()
    while max_seconds is None or time.perf_counter() - started < max_seconds:
        # A policy change re-decides everything, which also covers every older incremental request.
        portfolio = _claim(worker_id=worker_id, all_entities=True, limit=CLAIM_LIMIT)
        if portfolio:
            _process_portfolio(rows=portfolio, worker_id=worker_id, as_of=as_of, summary=summary)
            continue
        batch = _claim(worker_id=worker_id, all_entities=False, limit=CLAIM_LIMIT)
        if not batch:
            break
        _process_incremental(rows=batch, worker_id=worker_id, as_of=as_of, summary=summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _process_incremental(*, rows, worker_id, as_of, summary: ProcessSummary) -> None:
    """Re-decide the downstream set of a batch; if it fails, isolate the failing request(s).

    A request that keeps failing (a "poison" row) is released alone with its error and
    back-off; the other requests of its batch are done.
    """
    try:
        _screen_requests(rows=rows, as_of=as_of, summary=summary)
    except Exception as exc:
        if len(rows) == 1:
            _release([rows[0].pk], worker_id, repr(exc))
            raise
        failed: list[tuple[RescreenRequest, Exception]] = []
        for row in rows:
            try:
                _screen_requests(rows=[row], as_of=as_of, summary=summary)
            except Exception as row_exc:  # noqa: BLE001 - kept and re-raised below
                failed.append((row, row_exc))
                _release([row.pk], worker_id, repr(row_exc))
            except BaseException:
                _release([r.pk for r in rows], worker_id, "interrupted")
                raise
            else:
                _done([row.pk], worker_id)
                summary.requests += 1
        if failed:
            raise failed[0][1] from exc
        return
    except BaseException:
        _release([row.pk for row in rows], worker_id, "interrupted")
        raise
    _done([row.pk for row in rows], worker_id)
    summary.requests += len(rows)


def _screen_requests(*, rows, as_of, summary: ProcessSummary) -> None:
    groups: dict[tuple[str, int | None], tuple[set[int], set[int]]] = {}
    for row in rows:
        entities, persons = groups.setdefault((row.trigger, row.actor_id), (set(), set()))
        entities.update(row.entity_ids)
        persons.update(row.person_ids)
    for (trigger, actor_id), (entities, persons) in groups.items():
        affected = downstream_entity_ids(entities, persons)
        summary.seeds += len(entities) + len(persons)
        summary.affected += len(affected)
        result = screen_entities(entity_ids=affected, as_of=as_of, trigger=trigger, actor=_user(actor_id))
        summary.screened += result.screened
        summary.changed += result.changed


def _process_portfolio(*, rows, worker_id, as_of, summary: ProcessSummary) -> None:
    ids = [row.pk for row in rows]
    trigger = rows[-1].trigger or "policy_change"
    try:
        run = rescreen_portfolio(
            kind=trigger,
            as_of=as_of,
            resume=True,
            actor=_user(rows[-1].actor_id),
            heartbeat=lambda: _extend_lease(ids, worker_id),
        )
        summary.portfolio_runs.append(run.pk)
        summary.screened += run.screened
        summary.changed += run.changed
        # Incremental requests stay: re-deciding them again is cheap and changes nothing already stored.
        summary.requests += len(ids)
        _done(ids, worker_id)
    except BaseException as exc:
        _release(ids, worker_id, repr(exc))
        raise


def _user(pk: int | None):
    if pk is None:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=pk).first()


# --------------------------------------------------------------------------- portfolio runs


#: Decisions to store from which a whole-graph run takes the import's larger SQLite page cache.
LARGE_STORE = 5000


class LeaseLost(Exception):
    """Another worker took this chunk over (our lease ran out, or ``take_over``): ours is rolled back."""


def rescreen_portfolio(
    *,
    kind: str = "manual",
    as_of: datetime.date | None = None,
    resume: bool = False,
    take_over: bool = False,
    actor=None,
    chunk_size: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_payloads: Callable[[list[dict]], None] | None = None,
    on_rows: Callable[[list[DecisionRow]], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
    stop_after_chunks: int | None = None,
    whole_graph: bool | None = None,
) -> ScreenRun:
    """Re-decide every entity, in entity-id chunks that ``workers`` workers share; returns the run.

    Each chunk loads only its upstream closure (bounded memory) and commits its
    decisions with its own ``finished_at`` (``_screen_chunk``), so a killed run
    resumes (``resume=True``: the latest unfinished run of the same kind, policy
    version and date) with the chunks not finished, and never repeats an effect.
    With ``workers`` > 1 (default: the ``PORTFOLIO_WORKERS`` setting) helper tasks
    join the run; this call works chunks too and returns when every chunk is
    finished, taking over the chunks of a helper whose lease ran out.
    ``take_over`` (``screen --all --resume``: the operator says the earlier process
    is gone) makes the chunks still leased claimable at once; that is safe even if
    their worker lives, since its commit then fails.

    ``whole_graph`` (default: one worker and at most ``PORTFOLIO_WHOLE_GRAPH_MAX`` entities) reads the
    whole graph and every current decision once, as columns, decides every entity in one engine run
    and finds the unchanged decisions in bulk (``screening.portfolio_screening``); the chunks then only
    store what changed. Otherwise each chunk loads its own upstream closure, so memory stays bounded
    and workers can share the run. Both store the same decisions. ``on_rows`` receives the printed
    table's rows, which the whole-graph path takes from the engine's arrays instead of payloads.
    """
    from django.conf import settings

    workers = settings.PORTFOLIO_WORKERS if workers is None else workers
    total = Entity.objects.count()
    if whole_graph is None:
        whole_graph = workers == 1 and total <= settings.PORTFOLIO_WHOLE_GRAPH_MAX
    # Whole-graph chunks only store what the one engine run decided: larger chunks, fewer commits.
    default_chunk = settings.PORTFOLIO_WHOLE_GRAPH_CHUNK if whole_graph else settings.PORTFOLIO_CHUNK
    run = _open_run(kind=kind, as_of=as_of, resume=resume, chunk_size=chunk_size or default_chunk, total=total)
    if take_over:
        run.chunks.filter(finished_at__isnull=True).update(claimed_by="", claimed_until=None)
    if progress and run.screened:
        progress(run.screened)
    if workers > 1:
        enqueue_portfolio_helpers(run_id=run.pk, count=workers - 1, actor=actor)
    try:
        rescreen_portfolio_work(
            run_id=run.pk,
            actor=actor,
            wait=True,
            progress=progress,
            on_payloads=on_payloads,
            on_rows=on_rows,
            heartbeat=heartbeat,
            stop_after_chunks=stop_after_chunks,
            whole_graph=whole_graph,
        )
    except BaseException as exc:
        ScreenRun.objects.filter(pk=run.pk).update(status=ScreenRun.Status.FAILED, error=repr(exc)[:5000])
        raise
    run.refresh_from_db()
    return run


def _open_run(
    *, kind: str, as_of: datetime.date | None, resume: bool, chunk_size: int, total: int | None = None
) -> ScreenRun:
    as_of = as_of or timezone.localdate()
    policy = policy_get_active()
    run = None
    if resume:
        run = (
            ScreenRun.objects.filter(kind=kind, policy_version=policy.version, as_of=as_of)
            .exclude(status=ScreenRun.Status.FINISHED)
            .order_by("-started_at", "-id")
            .first()
        )
    if run is None:
        return ScreenRun.objects.create(
            kind=kind,
            as_of=as_of,
            policy_version=policy.version,
            total=Entity.objects.count() if total is None else total,
            chunk_size=chunk_size,
        )
    ScreenRun.objects.filter(pk=run.pk).update(status=ScreenRun.Status.RUNNING, error="", chunk_size=chunk_size)
    run.refresh_from_db()
    return run


def rescreen_portfolio_work(
    *,
    run_id: int,
    worker_id: str | None = None,
    actor=None,
    wait: bool = False,
    progress: Callable[[int], None] | None = None,
    on_payloads: Callable[[list[dict]], None] | None = None,
    on_rows: Callable[[list[DecisionRow]], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
    stop_after_chunks: int | None = None,
    whole_graph: bool = False,
) -> int:
    """Claim and decide chunks of one run until none is left; returns how many this worker committed.

    A helper (``wait=False``) stops when nothing is claimable; the run's owner
    (``wait=True``) also waits for chunks other workers hold, takes over those
    whose lease ran out, and finishes the run. A chunk whose lease was lost is
    rolled back and left to its new holder. With ``whole_graph`` the portfolio is read and decided
    once, when the first chunk is claimed, and every chunk stores from that one result.
    """
    worker_id = worker_id or uuid.uuid4().hex
    with ExitStack() as frozen:  # a whole-graph run's portfolio, frozen out of the collector until the end
        committed = 0
        screening: PortfolioScreening | None = None
        while True:
            chunk = _claim_chunk(run_id=run_id, worker_id=worker_id)
            if chunk is None:
                if _finish_if_complete(run_id) or not wait:
                    return committed
                if heartbeat:
                    heartbeat()
                time.sleep(CHUNK_POLL_SECONDS)
                continue
            try:
                if whole_graph and screening is None:
                    screening = portfolio_screening(as_of=chunk.run.as_of)
                    frozen.enter_context(portfolio_objects_frozen())
                    if np.count_nonzero(~screening.unchanged) >= LARGE_STORE:
                        # Chunks that write thousands of decisions write into the same growing indexes (the
                        # audit trail's hashes at random); measured slower for a run that stores few.
                        frozen.enter_context(sqlite_page_cache(SQLITE_IMPORT_CACHE_KIB))
                    if on_payloads is None:  # the JSON output needs every payload as a dict: explained here
                        screening.prefetch = frozen.enter_context(
                            decision_prefetch(
                                screening, from_entity_id=chunk.first_entity_id, chunk_size=chunk.run.chunk_size
                            )
                        )
                screened = _screen_chunk(
                    chunk=chunk,
                    worker_id=worker_id,
                    actor=actor,
                    on_payloads=on_payloads,
                    on_rows=on_rows,
                    screening=screening,
                )
            except LeaseLost:
                logger.warning("Chunk %s of run %s was taken over by another worker", chunk.pk, run_id)
                continue
            except BaseException:
                _release_chunk(chunk_id=chunk.pk, worker_id=worker_id)
                raise
            committed += 1
            if heartbeat:
                heartbeat()
            if progress:
                progress(screened)
            if stop_after_chunks is not None and committed >= stop_after_chunks:
                _finish_if_complete(run_id)
                return committed  # stopped early on purpose (tests, benchmarks); resumable


@transaction.atomic
def _claim_chunk(*, run_id: int, worker_id: str) -> ScreenRunChunk | None:
    """Lease the first abandoned chunk, else cut the next ``chunk_size`` ids from the frontier.

    The run's row lock serialises claims (a few milliseconds each), so no two
    workers cut or re-lease the same range.
    """
    run = ScreenRun.objects.select_for_update().get(pk=run_id)
    if run.status == ScreenRun.Status.FINISHED:
        return None
    now = timezone.now()
    abandoned = (
        run.chunks.filter(finished_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("first_entity_id")
        .first()
    )
    if abandoned is not None:
        abandoned.claimed_by, abandoned.claimed_until = worker_id, now + CHUNK_LEASE
        abandoned.attempts += 1
        abandoned.save(update_fields=["claimed_by", "claimed_until", "attempts"])
        return abandoned
    first, last = _next_id_range(after=run.frontier_entity_id, size=run.chunk_size)
    if first is None:
        return None
    ScreenRun.objects.filter(pk=run_id).update(frontier_entity_id=last)
    return ScreenRunChunk.objects.create(
        run=run,
        first_entity_id=first,
        last_entity_id=last,
        claimed_by=worker_id,
        claimed_until=now + CHUNK_LEASE,
        attempts=1,
    )


def _next_id_range(*, after: int, size: int) -> tuple[int | None, int | None]:
    """First and last of the next ``size`` entity ids above ``after``: the database walks the primary key
    index and returns one row, instead of the chunk's ids."""
    table = connection.ops.quote_name(Entity._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id FROM {table} WHERE id > %s ORDER BY id LIMIT %s) AS cut",  # noqa: S608
            [after, size],
        )
        return cursor.fetchone()


def _screen_chunk(*, chunk: ScreenRunChunk, worker_id: str, actor, on_payloads, on_rows=None, screening=None) -> int:
    """Decide one chunk; its decisions, ``finished_at`` and the run's counters commit together.

    The commit is fenced by the lease: if another worker holds the chunk by now,
    ``LeaseLost`` rolls this chunk's decisions back, so the chunk is decided once.
    """
    run = chunk.run
    if screening is not None:
        return store_portfolio_part(
            screening=screening,
            first_entity_id=chunk.first_entity_id,
            last_entity_id=chunk.last_entity_id,
            trigger=run.kind,
            actor=actor,
            on_payloads=on_payloads,
            on_rows=on_rows,
            on_stored=lambda summary: _commit_chunk(chunk=chunk, worker_id=worker_id, summary=summary),
        ).screened
    ids = list(
        Entity.objects.filter(pk__gte=chunk.first_entity_id, pk__lte=chunk.last_entity_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )

    def commit(summary: ScreenSummary) -> None:
        _commit_chunk(chunk=chunk, worker_id=worker_id, summary=summary)

    if on_rows is not None:
        on_payloads = _rows_sink(on_payloads, on_rows)
    if not ids:  # every entity of the range was deleted since it was cut
        with transaction.atomic():
            commit(ScreenSummary(as_of=run.as_of, policy_version=run.policy_version))
        return 0
    # A portfolio run re-decides everything; data changes were already re-screened
    # incrementally (with full explanations), so unchanged figures need no new explanation.
    summary = screen_entities(
        entity_ids=ids,
        as_of=run.as_of,
        trigger=run.kind,
        actor=actor,
        on_payloads=on_payloads,
        reexplain=False,
        on_stored=commit,
    )
    return summary.screened


def _rows_sink(on_payloads, on_rows):
    def both(payloads: list[dict]) -> None:
        if on_payloads:
            on_payloads(payloads)
        on_rows([decision_row(payload) for payload in payloads])

    return both


def _commit_chunk(*, chunk: ScreenRunChunk, worker_id: str, summary: ScreenSummary) -> None:
    """Mark the chunk finished and add its counts to the run, in the transaction of its decisions."""
    run = chunk.run
    # Lock order run → chunk, as in ``_claim_chunk`` (no deadlock with a claim re-leasing this chunk).
    locked = ScreenRun.objects.select_for_update().filter(pk=run.pk)
    list(locked.values_list("pk", flat=True))
    now = timezone.now()
    held = ScreenRunChunk.objects.filter(pk=chunk.pk, claimed_by=worker_id, finished_at__isnull=True).update(
        finished_at=now, screened=summary.screened, changed=summary.changed
    )
    if not held:
        raise LeaseLost(f"chunk {chunk.pk} of run {run.pk}")
    first_open = run.chunks.filter(finished_at__isnull=True).aggregate(first=Min("first_entity_id"))["first"]
    done_up_to = F("frontier_entity_id") if first_open is None else Value(first_open - 1)
    locked.update(
        screened=F("screened") + summary.screened,
        changed=F("changed") + summary.changed,
        last_entity_id=Greatest(F("last_entity_id"), done_up_to),
        heartbeat_at=now,
    )


def _release_chunk(*, chunk_id: int, worker_id: str) -> None:
    """A failed chunk is claimable again at once (its decisions were rolled back)."""
    ScreenRunChunk.objects.filter(pk=chunk_id, claimed_by=worker_id, finished_at__isnull=True).update(
        claimed_by="", claimed_until=None
    )


@transaction.atomic
def _finish_if_complete(run_id: int) -> bool:
    """Mark the run finished once every id is in a finished chunk; True if it is (now or before)."""
    run = ScreenRun.objects.select_for_update().get(pk=run_id)
    if run.status == ScreenRun.Status.FINISHED:
        return True
    if run.chunks.filter(finished_at__isnull=True).exists():
        return False
    if Entity.objects.filter(pk__gt=run.frontier_entity_id).exists():
        return False
    ScreenRun.objects.filter(pk=run_id).update(
        status=ScreenRun.Status.FINISHED,
        finished_at=timezone.now(),
        last_entity_id=run.frontier_entity_id,
        error="",
    )
    return True


def pending_count() -> int:
    return RescreenRequest.objects.count()


def has_claimable_requests(*, older_than: datetime.timedelta | None = None) -> bool:
    now = timezone.now()
    rows = _claimable(now)
    if older_than is not None:
        rows = rows.filter(created_at__lt=now - older_than)
    return rows.exists()


# --------------------------------------------------------------------------- API writes


@transaction.atomic
def rescreen_changed(
    *,
    entity_ids: Iterable[int] = (),
    person_ids: Iterable[int] = (),
    actor=None,
    trigger: str = "api",
    inline_limit: int = INLINE_LIMIT,
) -> ScreenSummary | None:
    """The services' one re-screen trigger: record the change and, if its downstream set is small,
    re-decide it now instead of in the worker.

    Inline re-screening runs in the caller's transaction, so an API client reads its own write's
    decisions in the response; the seeds it covered leave the transaction's request row in the same
    transaction (the model receivers saw the same write), so the worker does not decide them again.
    Entities a concurrent screening moved meanwhile go back into a request (``ScreenSummary.raced``).
    A larger downstream set is left to the worker, processed after commit.
    """
    entity_ids, person_ids = seed_ids(entity_ids), seed_ids(person_ids)
    rescreen_request(entity_ids=entity_ids, person_ids=person_ids, trigger=trigger, actor=actor)
    affected = downstream_entity_ids(entity_ids, person_ids)
    if len(affected) > inline_limit:
        return None
    # Withdrawn first: an entity the screening must record again (raced) goes into the row after this.
    # Should the screening fail, this function's transaction rolls back and the row is whole again.
    rescreen_request_withdraw(entity_ids=entity_ids, person_ids=person_ids)
    return screen_entities(entity_ids=affected, trigger=trigger, actor=actor)
