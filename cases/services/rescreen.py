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
   entity, chunked and resumable through a ``ScreenRun`` checkpoint), then deletes
   the rows it claimed. A worker that dies leaves its rows; once the lease runs out
   the next run (or the scheduler's sweep) retries them.

Exactly-once effects come from the screening adapter itself: a decision whose
result is unchanged is not stored again and has no consequences
(``decision_consequences``), and each stored chunk (decisions, cases, audit,
effective decisions, feed entries) commits atomically. Re-processing a request after
a crash therefore re-decides the same entities and changes nothing that was already
committed. Two screenings of one entity at once (the worker and an inline decision,
two workers) cannot overwrite each other with stale data: the adapter does not store
over a decision that moved after it read the graph (``ScreenSummary.raced``) and
the entity is recorded again, to be decided from a snapshot that has both changes.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cases.models import Entity, RescreenRequest, ScreenRun

from .policy import policy_get_active
from .rescreen_requests import rescreen_request, rescreen_request_withdraw, seed_ids
from .screening import ScreenSummary, downstream_entity_ids, screen_entities

logger = logging.getLogger(__name__)

#: How long a claimed request is protected from other workers (extended per chunk for portfolio runs).
LEASE = datetime.timedelta(minutes=10)
#: Requests claimed per incremental batch.
CLAIM_LIMIT = 500
#: Entities per chunk of a portfolio run (each chunk loads its upstream closure, one transaction).
PORTFOLIO_CHUNK = 5000
#: Downstream sets up to this size are re-decided inline by ``ownership_changed`` (API writes).
INLINE_LIMIT = 1000


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


def rescreen_portfolio(
    *,
    kind: str = "manual",
    as_of: datetime.date | None = None,
    resume: bool = False,
    actor=None,
    chunk_size: int = PORTFOLIO_CHUNK,
    progress: Callable[[int], None] | None = None,
    on_payloads: Callable[[list[dict]], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
    stop_after_chunks: int | None = None,
) -> ScreenRun:
    """Re-decide every entity in entity-id order, ``chunk_size`` at a time, with a checkpoint.

    Each chunk loads only its upstream closure (bounded memory), and stores its
    decisions and the run's checkpoint in one transaction: a killed run resumes
    (``resume=True``: the latest unfinished run of the same kind, policy version
    and date) after the last chunk that committed, and never repeats an effect.
    """
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
        run = ScreenRun.objects.create(
            kind=kind, as_of=as_of, policy_version=policy.version, total=Entity.objects.count()
        )
    else:
        ScreenRun.objects.filter(pk=run.pk).update(status=ScreenRun.Status.RUNNING, error="")
        run.refresh_from_db()
        if progress:
            progress(run.screened)
    chunks = 0
    try:
        while True:
            ids = list(
                Entity.objects.filter(pk__gt=run.last_entity_id)
                .order_by("pk")
                .values_list("pk", flat=True)[:chunk_size]
            )
            if not ids:
                break

            def checkpoint(summary: ScreenSummary, last_id: int = ids[-1]) -> None:
                run.last_entity_id = last_id
                run.screened += summary.screened
                run.changed += summary.changed
                run.save(update_fields=["last_entity_id", "screened", "changed", "heartbeat_at"])

            # A portfolio run re-decides everything; data changes were already re-screened
            # incrementally (with full explanations), so unchanged figures need no new explanation.
            # The chunk's decisions and the checkpoint commit together (``on_stored``); the graph is
            # read before, on one snapshot.
            screen_entities(
                entity_ids=ids,
                as_of=as_of,
                trigger=kind,
                actor=actor,
                on_payloads=on_payloads,
                reexplain=False,
                on_stored=checkpoint,
            )
            if heartbeat:
                heartbeat()
            if progress:
                progress(len(ids))
            chunks += 1
            if stop_after_chunks is not None and chunks >= stop_after_chunks and len(ids) == chunk_size:
                return run  # stopped early on purpose (tests, benchmarks); resumable
    except BaseException as exc:
        ScreenRun.objects.filter(pk=run.pk).update(status=ScreenRun.Status.FAILED, error=repr(exc)[:5000])
        raise
    run.status = ScreenRun.Status.FINISHED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "heartbeat_at"])
    return run


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
