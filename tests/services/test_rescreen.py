"""Incremental re-screening: what is re-decided, exactly-once effects, crash recovery, policy changes."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from cases.models import (
    Case,
    CurrentDecision,
    Decision,
    DecisionChangeEvent,
    EffectiveDecision,
    Entity,
    RescreenRequest,
    ScreenRun,
)
from cases.services import rescreen as rescreen_service
from cases.services import screening as screening_service
from cases.services.entities import entity_update
from cases.services.policy import policy_publish
from cases.services.rescreen import rescreen_changed, rescreen_portfolio, rescreen_process_pending
from cases.services.rescreen_requests import rescreen_request
from cases.services.screening import downstream_entity_ids, screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph():
    """P -100-> X -60-> Y -70-> Z -30-> W -20-> Z (cycle); Q -100-> U unrelated; everything screened."""
    p = PersonFactory(nationalities=["GB"])
    x, y, z, w, u = (EntityFactory(external_id=name) for name in "XYZWU")
    links = {
        "px": stake(p, x, 100),
        "xy": stake(x, y, 60),
        "zy": stake(PersonFactory(nationalities=["GB"]), y, 40),
        "yz": stake(y, z, 70),
        "z_rest": stake(PersonFactory(nationalities=["FR"]), z, 10),
        "zw": stake(z, w, 30),
        "wz": stake(w, z, 20),
        "w_rest": stake(PersonFactory(nationalities=["FR"]), w, 70),
        "qu": stake(PersonFactory(nationalities=["GB"]), u, 100),
    }
    customer = CustomerFactory(entity=z)
    screen_entities(trigger="onboarding")
    rescreen_process_pending(worker_id="fixture")  # the fixture's own writes
    assert not RescreenRequest.objects.exists()
    return {"p": p, "x": x, "y": y, "z": z, "w": w, "u": u, "links": links, "customer": customer}


def rescreened_since(moment) -> set[str]:
    return set(CurrentDecision.objects.filter(screened_at__gt=moment).values_list("entity__external_id", flat=True))


def run_pending():
    return rescreen_process_pending(worker_id="test-worker")


def test_stake_change_redecides_exactly_the_downstream_entities(graph, django_capture_on_commit_callbacks):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        interest = graph["links"]["px"].interests.get()
        interest.share_exact = Decimal("90")
        interest.save()
    assert RescreenRequest.objects.count() == 1
    summary = run_pending()
    assert summary.requests == 1 and summary.affected == 4
    assert rescreened_since(before) == {"X", "Y", "Z", "W"}  # not U, and the cycle Z<->W is included once
    assert not RescreenRequest.objects.exists()


def test_change_inside_a_cycle_redecides_the_cycle_and_below_only(graph):
    before = timezone.now()
    interest = graph["links"]["wz"].interests.get()
    interest.share_exact = Decimal("25")
    interest.save()
    run_pending()
    assert rescreened_since(before) == {"Z", "W"}
    assert downstream_entity_ids([graph["w"].pk]) == {graph["z"].pk, graph["w"].pk}


def test_person_change_flips_customer_once_with_one_case_and_one_feed_entry(graph):
    z = graph["z"]
    assert CurrentDecision.objects.get(entity=z).outcome == "allow"
    cases_before = Case.objects.filter(subject=z).count()
    feed_before = DecisionChangeEvent.objects.filter(entity=z).count()
    person = graph["p"]
    person.nationalities = ["RU"]
    person.save()
    run_pending()
    run_pending()  # a second (duplicate) run changes nothing
    assert CurrentDecision.objects.get(entity=z).outcome == "block"
    assert EffectiveDecision.objects.get(entity=z).outcome == "block"
    assert Case.objects.filter(subject=z).count() == cases_before + 1
    assert DecisionChangeEvent.objects.filter(entity=z).count() == feed_before + 1
    assert Case.objects.get(subject=z).trigger == "ownership_change"


def test_crash_in_the_middle_loses_nothing_and_duplicates_nothing(graph, monkeypatch):
    """The worker dies after the first stored chunk; the re-run finishes the rest, exactly once."""
    monkeypatch.setattr(screening_service, "CHUNK_SIZE", 1)
    decisions_before = Decision.objects.count()
    person = graph["p"]
    person.nationalities = ["CN"]
    person.save()

    real_store = screening_service._store_chunk
    calls = {"n": 0}

    def crashing_store(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real_store(**kwargs)

    monkeypatch.setattr(screening_service, "_store_chunk", crashing_store)
    with pytest.raises(RuntimeError, match="worker killed"):
        run_pending()
    request = RescreenRequest.objects.get()
    assert request.attempts == 1 and "worker killed" in request.last_error
    assert request.claimed_until > timezone.now()  # back-off before the retry
    partial = Decision.objects.count() - decisions_before
    assert 0 < partial < 4

    monkeypatch.setattr(screening_service, "_store_chunk", real_store)
    assert run_pending().requests == 0  # still backing off
    RescreenRequest.objects.update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    run_pending()
    assert not RescreenRequest.objects.exists()
    # X, Y, Z, W each got exactly one new decision; Z (customer) one case, one feed entry.
    assert Decision.objects.count() - decisions_before == 4
    assert Case.objects.filter(subject=graph["z"]).count() == 1
    assert DecisionChangeEvent.objects.filter(entity=graph["z"], outcome="block").count() == 1


def test_killed_worker_lease_expires_and_another_worker_finishes(graph):
    person = graph["p"]
    person.nationalities = ["RU"]
    person.save()
    claimed = rescreen_service._claim(worker_id="dead-worker", all_entities=False, limit=10)
    assert len(claimed) == 1
    assert rescreen_process_pending(worker_id="other").requests == 0  # leased: not touched
    RescreenRequest.objects.update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    assert rescreen_process_pending(worker_id="other").requests == 1
    assert CurrentDecision.objects.get(entity=graph["z"]).outcome == "block"
    assert not RescreenRequest.objects.exists()


def test_rolled_back_change_records_nothing(graph):
    with pytest.raises(RuntimeError), transaction.atomic():
        graph["x"].name = "Renamed"
        graph["x"].save()
        raise RuntimeError("rollback")
    assert not RescreenRequest.objects.exists()


def test_one_request_row_per_seed_per_transaction(graph):
    with transaction.atomic():
        for link in ("xy", "zy"):
            for interest in graph["links"][link].interests.all():
                interest.share_exact = Decimal("45")
                interest.save()
        graph["links"]["xy"].interests.all().delete()
    assert RescreenRequest.objects.count() == 1
    assert RescreenRequest.objects.get().entity_ids == [graph["y"].pk]


def test_savepoint_rollback_does_not_hide_a_later_change(graph):
    with transaction.atomic():
        try:
            with transaction.atomic():
                graph["y"].save()
                raise RuntimeError
        except RuntimeError:
            pass
        graph["y"].save()
    assert RescreenRequest.objects.get().entity_ids == [graph["y"].pk]


def test_relationship_moved_to_another_subject_redecides_both(graph):
    before = timezone.now()
    rel = graph["links"]["qu"]
    rel.subject = graph["w"]
    rel.save()
    assert sorted(RescreenRequest.objects.get().entity_ids) == sorted([graph["u"].pk, graph["w"].pk])
    run_pending()
    assert rescreened_since(before) == {"U", "W", "Z"}


def test_closing_a_relationship_redecides_downstream(graph):
    rel = graph["links"]["xy"]
    rel.is_closed = True
    rel.save()
    run_pending()
    assert CurrentDecision.objects.get(entity=graph["y"]).decision.payload["methods"]["look_through"]["high"] == 60.0


def test_policy_change_redecides_everything_resumably(graph):
    person = graph["p"]
    person.nationalities = ["RU"]
    person.save()
    run_pending()
    assert CurrentDecision.objects.get(entity=graph["z"]).outcome == "block"
    before = timezone.now()
    policy_publish(user=None, restricted_codes=["CN"], notes="RU no longer restricted")
    assert RescreenRequest.objects.filter(all_entities=True).count() == 1
    summary = run_pending()
    assert summary.portfolio_runs
    assert rescreened_since(before) == set(Entity.objects.values_list("external_id", flat=True))
    assert CurrentDecision.objects.get(entity=graph["z"]).outcome == "allow"
    assert CurrentDecision.objects.get(entity=graph["z"]).decision.policy.version == 2
    assert Case.objects.filter(subject=graph["z"]).first().trigger in ("ownership_change", "policy_change")
    assert ScreenRun.objects.get(pk=summary.portfolio_runs[0]).status == ScreenRun.Status.FINISHED


def test_older_snapshot_never_overwrites_a_newer_decision(graph):
    """A slow run that read the graph before a change must not store its stale result over a newer one."""
    z = graph["z"]
    current = CurrentDecision.objects.get(entity=z)
    future = timezone.now() + datetime.timedelta(minutes=5)
    CurrentDecision.objects.filter(pk=current.pk).update(screened_at=future)
    person = graph["p"]
    person.nationalities = ["RU"]
    person.save()
    summary = screen_entities(entity_ids=[z.pk])
    assert summary.superseded == 1 and summary.changed == 0
    assert CurrentDecision.objects.get(entity=z).decision_id == current.decision_id


def test_portfolio_run_resumes_after_a_crash_without_repeating(graph, monkeypatch):
    person = graph["p"]
    person.nationalities = ["RU"]
    person.save()
    entity_count = Entity.objects.count()
    first = rescreen_portfolio(kind="manual", chunk_size=2, stop_after_chunks=1)
    assert first.status == ScreenRun.Status.RUNNING and first.screened == 2

    real = screening_service.screen_entities

    def crash(**kwargs):
        raise RuntimeError("killed")

    real_part = screening_service.store_portfolio_part
    monkeypatch.setattr(rescreen_service, "screen_entities", crash)  # the chunked path
    monkeypatch.setattr(rescreen_service, "store_portfolio_part", crash)  # the whole-graph path
    with pytest.raises(RuntimeError):
        rescreen_portfolio(kind="manual", resume=True, chunk_size=2)
    assert ScreenRun.objects.get(pk=first.pk).status == ScreenRun.Status.FAILED
    monkeypatch.setattr(rescreen_service, "screen_entities", real)
    monkeypatch.setattr(rescreen_service, "store_portfolio_part", real_part)
    seen = []
    done = rescreen_portfolio(kind="manual", resume=True, chunk_size=2, on_payloads=seen.extend)
    assert done.pk == first.pk and done.status == ScreenRun.Status.FINISHED
    assert done.screened == entity_count and len(seen) == entity_count - 2
    assert Case.objects.filter(subject=graph["z"]).count() == 1


def test_rescreen_request_without_seeds_records_nothing(db):
    assert rescreen_request(entity_ids=[], person_ids=[]) is None
    assert not RescreenRequest.objects.exists()


def test_long_chain_is_redecided_to_the_end(db):
    """More ids than one literal list holds on PostgreSQL (array parameter path) and many BFS levels."""
    person = PersonFactory(nationalities=["GB"])
    chain = [EntityFactory() for _ in range(80)]
    stake(person, chain[0], 100)
    for owner, owned in zip(chain, chain[1:], strict=False):
        stake(owner, owned, 90)
    rescreen_process_pending(worker_id="setup")
    assert CurrentDecision.objects.filter(entity__in=chain).count() == 80
    person.nationalities = ["RU"]
    person.save()
    summary = run_pending()
    assert summary.affected == 80
    assert CurrentDecision.objects.get(entity=chain[-1]).outcome == "block"  # control chain: 90 % at every hop


def test_a_poison_request_is_isolated_and_the_rest_of_its_batch_is_done(graph, monkeypatch):
    # Two requests in one batch (one transaction records one row, so these come from two transactions).
    RescreenRequest.objects.create(entity_ids=[graph["u"].pk])  # request 1: U (fails)
    RescreenRequest.objects.create(entity_ids=[graph["w"].pk])  # request 2: W -> Z, W (fine)
    real = rescreen_service.screen_entities

    def fail_on_u(*, entity_ids, **kwargs):
        if graph["u"].pk in entity_ids:
            raise ValueError("poison")
        return real(entity_ids=entity_ids, **kwargs)

    monkeypatch.setattr(rescreen_service, "screen_entities", fail_on_u)
    before = timezone.now()
    with pytest.raises(ValueError, match="poison"):
        run_pending()
    left = RescreenRequest.objects.get()
    assert left.entity_ids == [graph["u"].pk] and "poison" in left.last_error
    assert rescreened_since(before) == {"Z", "W"}


def test_a_service_write_decided_inline_leaves_nothing_for_the_worker(graph, integration):
    """One trigger per write: the model receivers see the service's save too, but the seeds the
    service re-decided inline leave the transaction's request row, so the worker has nothing to redo."""
    before = timezone.now()
    entity_update(actor=integration, entity=graph["x"], jurisdiction="RU")
    assert rescreened_since(before) == {"X", "Y", "Z", "W"}
    assert CurrentDecision.objects.get(entity=graph["z"]).outcome == "block"
    assert not RescreenRequest.objects.exists()
    assert run_pending().screened == 0


def test_a_write_too_large_to_decide_inline_is_left_to_the_worker_once(graph):
    with transaction.atomic():
        graph["x"].jurisdiction_id = "RU"
        graph["x"].save()  # the model receivers record X
        assert rescreen_changed(entity_ids=[graph["x"].pk], inline_limit=1) is None  # four downstream: deferred
    (request,) = RescreenRequest.objects.all()  # the receivers' seed and the service's are one row
    assert request.entity_ids == [graph["x"].pk]
    assert run_pending().affected == 4
    assert CurrentDecision.objects.get(entity=graph["z"]).outcome == "block"


def _store_over(entity, monkeypatch) -> dict:
    """Make another screening store a decision for ``entity`` while this one reads the graph (once)."""
    moved: dict = {}
    load = screening_service.load_screening_input

    def load_while_another_stores(**kwargs):
        data = load(**kwargs)
        if not moved:
            current = CurrentDecision.objects.get(entity=entity)
            decision = current.decision
            decision.pk = None
            decision.result_fingerprint = "0" * 64
            decision.save()
            CurrentDecision.objects.filter(pk=current.pk).update(decision=decision)
            moved["decision_id"] = decision.pk
        return data

    monkeypatch.setattr(screening_service, "load_screening_input", load_while_another_stores)
    return moved


def test_a_decision_stored_by_another_screening_meanwhile_is_not_overwritten(graph, monkeypatch):
    z = graph["z"]
    graph["p"].nationalities = ["RU"]
    graph["p"].save()
    moved = _store_over(z, monkeypatch)
    summary = screen_entities(entity_ids=[graph["y"].pk, z.pk, graph["w"].pk])
    assert summary.raced == [z.pk]
    assert CurrentDecision.objects.get(entity=z).decision_id == moved["decision_id"]
    assert z.pk in RescreenRequest.objects.get().entity_ids  # recorded again, in the same transaction
    assert CurrentDecision.objects.get(entity=graph["y"]).outcome == "block"  # the others are stored


def test_the_worker_decides_a_raced_entity_again_from_newer_data(graph, monkeypatch):
    z = graph["z"]
    graph["p"].nationalities = ["RU"]
    graph["p"].save()
    moved = _store_over(z, monkeypatch)
    summary = run_pending()
    assert summary.requests == 2  # the change, then Z recorded again
    current = CurrentDecision.objects.get(entity=z)
    assert current.decision_id != moved["decision_id"] and current.outcome == "block"
    assert not RescreenRequest.objects.exists()


def test_whole_graph_store_sends_decisions_moved_since_the_read_the_slow_way(db):
    """Between the one read of a whole-graph run and a chunk's store, another screening may store a
    decision (new figures) or re-screen one (same decision, later ``screened_at``): neither may be
    passed over as unchanged."""
    owner = PersonFactory(nationalities=["GB"])
    companies = [EntityFactory(jurisdiction_id="GB") for _ in range(4)]
    for company in companies:
        stake(owner, company, 60)
    screen_entities(entity_ids=[c.pk for c in companies])
    screening = screening_service.portfolio_screening()
    lo, hi = 0, len(companies)
    assert screening.unchanged[lo:hi].all()
    assert not screening_service._moved_in_range(screening, lo, hi).any()

    changed, rescreened = companies[1], companies[3]
    stake(PersonFactory(nationalities=["CN"]), changed, 30)
    screen_entities(entity_ids=[changed.pk])  # a new decision
    CurrentDecision.objects.filter(entity=rescreened).update(screened_at=timezone.now() + datetime.timedelta(hours=1))
    moved = screening_service._moved_in_range(screening, lo, hi)
    assert moved.tolist() == [False, True, False, True]
