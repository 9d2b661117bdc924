"""Partitioned portfolio runs: workers share one run's chunks, each chunk decided exactly once.

The workers here interleave in one process (claims and commits in a chosen order);
``tests/reliability/test_portfolio_partition.py`` races real threads on PostgreSQL and
``tests/tasks/test_rq.py`` real RQ worker processes.
"""

import contextlib
import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.models import Case, Decision, DecisionChangeEvent, Entity, ScreenRun, ScreenRunChunk
from cases.services import rescreen as rescreen_service
from cases.services.policy import policy_get_active, policy_publish
from cases.services.rescreen import (
    LeaseLost,
    _claim_chunk,
    _open_run,
    _screen_chunk,
    rescreen_portfolio,
    rescreen_portfolio_work,
)
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 6, 1)


@pytest.fixture
def portfolio():
    """Twelve companies owned by GB persons, screened; then GB becomes restricted: every decision must change."""
    companies = [EntityFactory() for _ in range(12)]
    for company in companies:
        stake(PersonFactory(nationalities=["GB"]), company, 60)
    CustomerFactory(entity=companies[0])
    screen_entities(trigger="onboarding", as_of=AS_OF)
    policy_publish(user=None, restricted_codes=["CN", "RU", "IR", "KP", "BY", "GB"])
    return companies


def decided_under_active_policy() -> int:
    return Decision.objects.filter(policy=policy_get_active()).count()


def test_two_workers_share_a_run_and_decide_every_entity_once(portfolio):
    run = _open_run(kind="manual", as_of=AS_OF, resume=False, chunk_size=5)
    a = _claim_chunk(run_id=run.pk, worker_id="a")
    b = _claim_chunk(run_id=run.pk, worker_id="b")
    assert (a.first_entity_id, b.first_entity_id) == (portfolio[0].pk, portfolio[5].pk)
    _screen_chunk(chunk=b, worker_id="b", actor=None, on_payloads=None)  # out of order: b commits first
    run.refresh_from_db()
    assert run.screened == 5
    assert run.last_entity_id == portfolio[0].pk - 1  # a's range is still open: only the ids before it are done
    _screen_chunk(chunk=a, worker_id="a", actor=None, on_payloads=None)
    run.refresh_from_db()
    assert run.last_entity_id == portfolio[9].pk
    assert rescreen_portfolio_work(run_id=run.pk, worker_id="a") == 1  # the last two entities
    run.refresh_from_db()
    assert run.status == ScreenRun.Status.FINISHED and run.screened == run.changed == len(portfolio)
    assert decided_under_active_policy() == Entity.objects.count()
    chunks = list(run.chunks.values_list("first_entity_id", "last_entity_id", "claimed_by"))
    assert chunks == [
        (portfolio[0].pk, portfolio[4].pk, "a"),
        (portfolio[5].pk, portfolio[9].pk, "b"),
        (portfolio[10].pk, portfolio[11].pk, "a"),
    ]


def test_a_worker_whose_lease_ran_out_cannot_commit_its_chunk(portfolio):
    run = _open_run(kind="manual", as_of=AS_OF, resume=False, chunk_size=6)
    slow = _claim_chunk(run_id=run.pk, worker_id="slow")
    ScreenRunChunk.objects.filter(pk=slow.pk).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    taken = _claim_chunk(run_id=run.pk, worker_id="fast")
    assert taken.pk == slow.pk and taken.attempts == 2  # the abandoned chunk comes before a new one
    _screen_chunk(chunk=taken, worker_id="fast", actor=None, on_payloads=None)
    with pytest.raises(LeaseLost):
        _screen_chunk(chunk=slow, worker_id="slow", actor=None, on_payloads=None)
    assert decided_under_active_policy() == 6  # the slow worker's decisions were rolled back
    assert DecisionChangeEvent.objects.filter(decision__policy=policy_get_active()).count() == 1  # the customer
    assert ScreenRun.objects.get(pk=run.pk).screened == 6


def test_a_lost_lease_is_not_fatal_the_worker_goes_on(portfolio, monkeypatch):
    run = _open_run(kind="manual", as_of=AS_OF, resume=False, chunk_size=6)
    real = rescreen_service.screen_entities
    stolen = []

    def steal_first_chunk(**kwargs):
        if not stolen:  # another worker takes the chunk over while this one computes
            stolen.append(_claim_chunk_after_expiry(run))
        return real(**kwargs)

    monkeypatch.setattr(rescreen_service, "screen_entities", steal_first_chunk)
    assert rescreen_portfolio_work(run_id=run.pk, worker_id="me") == 1  # the second chunk; the first was lost
    assert ScreenRunChunk.objects.get(pk=stolen[0].pk).finished_at is None
    assert ScreenRunChunk.objects.get(pk=stolen[0].pk).claimed_by == "thief"


def _claim_chunk_after_expiry(run):
    ScreenRunChunk.objects.filter(run=run).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    return _claim_chunk(run_id=run.pk, worker_id="thief")


def test_the_owner_waits_for_helpers_then_takes_over_an_abandoned_chunk(portfolio, monkeypatch):
    run = _open_run(kind="manual", as_of=AS_OF, resume=False, chunk_size=4)
    held = _claim_chunk(run_id=run.pk, worker_id="helper-that-died")
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        ScreenRunChunk.objects.filter(pk=held.pk).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))

    monkeypatch.setattr(rescreen_service.time, "sleep", sleep)
    done = rescreen_portfolio(kind="manual", as_of=AS_OF, resume=True, chunk_size=4, workers=1)
    assert done.pk == run.pk and done.status == ScreenRun.Status.FINISHED
    assert len(waits) == 1 and done.screened == len(portfolio)
    assert ScreenRunChunk.objects.get(pk=held.pk).attempts == 2
    assert decided_under_active_policy() == Entity.objects.count()
    assert Case.objects.count() == 1  # the one customer, once


def test_resume_with_take_over_does_not_wait_for_a_killed_process(portfolio, monkeypatch):
    run = _open_run(kind="manual", as_of=AS_OF, resume=False, chunk_size=4)
    _claim_chunk(run_id=run.pk, worker_id="killed")  # leased for minutes

    def no_waiting(seconds):
        raise AssertionError("take_over should not wait for the lease")

    monkeypatch.setattr(rescreen_service.time, "sleep", no_waiting)
    done = rescreen_portfolio(kind="manual", as_of=AS_OF, resume=True, take_over=True, chunk_size=4, workers=1)
    assert done.status == ScreenRun.Status.FINISHED and done.screened == len(portfolio)


def test_a_chunk_whose_entities_were_all_deleted_is_finished_empty(portfolio):
    run = _open_run(kind="manual", as_of=AS_OF, resume=False, chunk_size=5)
    chunk = _claim_chunk(run_id=run.pk, worker_id="a")
    vanished = EntityFactory()  # a chunk of its own, past the portfolio; then deleted (never screened)
    ScreenRunChunk.objects.filter(pk=chunk.pk).update(first_entity_id=vanished.pk, last_entity_id=vanished.pk)
    vanished.delete()
    chunk.refresh_from_db()
    assert _screen_chunk(chunk=chunk, worker_id="a", actor=None, on_payloads=None) == 0
    assert ScreenRunChunk.objects.get(pk=chunk.pk).finished_at is not None


def test_workers_enqueue_helpers_that_join_the_run(portfolio):
    from django_tasks_db.models import DBTaskResult

    run = rescreen_portfolio(kind="manual", as_of=AS_OF, chunk_size=5, workers=3)
    helpers = DBTaskResult.objects.filter(task_path__endswith="screen_portfolio_chunks", status="READY")
    assert helpers.count() == 2
    assert {h.args_kwargs["kwargs"]["run_id"] for h in helpers} == {run.pk}
    # The owner finished alone; a helper that runs afterwards finds nothing to do.
    from cases.tasks.screening import screen_portfolio_chunks

    assert screen_portfolio_chunks.call(run_id=run.pk) == {"run": run.pk, "chunks": 0}


@settings(max_examples=15, deadline=None)
@given(
    chunk_size=st.integers(1, 4),
    schedule=st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=20),
)
def test_any_interleaving_of_claims_commits_and_expiries_decides_each_entity_once(chunk_size, schedule):
    """Three workers claim, commit or let their lease lapse in any order; chunks stay disjoint and complete."""
    with transaction.atomic():  # examples share the test's transaction: each rolls its portfolio back
        _interleave(chunk_size, schedule)
        transaction.set_rollback(True)


def _interleave(chunk_size, schedule):
    entities = [e.pk for e in (EntityFactory() for _ in range(6))]
    run = _open_run(kind=f"prop-{chunk_size}", as_of=AS_OF, resume=False, chunk_size=chunk_size)
    held: dict[int, ScreenRunChunk] = {}

    def commit(worker: int) -> None:
        with contextlib.suppress(LeaseLost):
            _screen_chunk(chunk=held.pop(worker), worker_id=str(worker), actor=None, on_payloads=None)

    for worker, lapse in schedule:
        if worker in held and lapse:
            ScreenRunChunk.objects.filter(pk=held[worker].pk).update(claimed_until=timezone.now())
        elif worker in held:
            commit(worker)
        else:
            chunk = _claim_chunk(run_id=run.pk, worker_id=str(worker))
            if chunk is not None:
                held[worker] = chunk
    for worker in list(held):  # the workers still computing finish (or find their chunk taken over)
        commit(worker)
    rescreen_portfolio_work(run_id=run.pk, worker_id="finisher", wait=True)
    run.refresh_from_db()
    chunks = list(run.chunks.order_by("first_entity_id").values_list("first_entity_id", "last_entity_id"))
    covered = [pk for pk in entities if any(first <= pk <= last for first, last in chunks)]
    assert covered == entities
    assert all(prev[1] < nxt[0] for prev, nxt in zip(chunks, chunks[1:], strict=False))
    assert run.status == ScreenRun.Status.FINISHED and run.screened == Entity.objects.count()
    assert not run.chunks.filter(finished_at__isnull=True).exists()
