"""The whole-graph run's explainer process: the rows it prepares are the ones this process would store."""

from types import SimpleNamespace

import pytest

from cases.models import Decision, DecisionInput, ScreenRun
from cases.ownership.snapshot import snapshot_fingerprint
from cases.services import decision_prefetch as prefetch_module
from cases.services.audit_verify import audit_verify
from cases.services.decision_inputs import decision_input_snapshot, upstream_index
from cases.services.decision_prefetch import DecisionPrefetch, decision_prefetch
from cases.services.rescreen import rescreen_portfolio
from cases.services.screening import decision_payload, portfolio_screening, result_fingerprint
from tests.factories import EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio():
    """Chains, a shared restricted owner, a cycle and a person: 24 entities, none screened yet."""
    cn = EntityFactory(jurisdiction_id="CN", external_id="CN-PARENT")
    companies = [EntityFactory(jurisdiction_id="GB", external_id=f"CO-{index:02d}") for index in range(22)]
    for index, company in enumerate(companies):
        if index % 3 == 0:
            stake(cn, company, 30 + index)
        elif index % 3 == 1:
            stake(companies[index - 1], company, 60)
        else:
            stake(PersonFactory(nationalities=["GB"]), company, 100)
    stake(companies[4], companies[7], 40)
    stake(companies[7], companies[4], 25)  # a cycle
    return [cn, *companies]


@pytest.fixture
def explainer(settings, monkeypatch):
    """Every whole-graph run forks the explainer, which sends three nodes a message. Records the nodes ``take``
    handed over and, apart, those of them this process prepared itself (the head of the first chunk)."""
    settings.PORTFOLIO_EXPLAINER_MIN = 1
    monkeypatch.setattr(prefetch_module, "BATCH_NODES", 3)
    delivered: list[int] = []
    here: list[int] = []
    take, prepare_nodes = DecisionPrefetch.take, prefetch_module.prepare_nodes

    def recording(self, nodes, *, up_to):
        taken = take(self, nodes, up_to=up_to)
        delivered.extend(taken)
        return taken

    def prepared_here(screening, nodes):
        here.extend(nodes)
        return prepare_nodes(screening, nodes)

    monkeypatch.setattr(DecisionPrefetch, "take", recording)
    monkeypatch.setattr(prefetch_module, "prepare_nodes", prepared_here)  # in this process only: forked before
    return SimpleNamespace(delivered=delivered, here=here)


def _assert_stored_as_explained_here(entities):
    """Every stored decision and input equals what this process computes for it from a fresh read."""
    screening = portfolio_screening()
    data, result = screening.data, screening.result
    for decision in Decision.objects.select_related("entity", "policy"):
        node = data.node_by_entity_pk[decision.entity_id]
        payload = decision_payload(
            result=result, data=data, node=node, as_of=decision.as_of, policy_version=decision.policy.version
        )
        assert decision.payload == payload
        assert decision.result_fingerprint == result_fingerprint(payload)
        assert decision.outcome == payload["outcome"]
        stored = DecisionInput.objects.get(decision=decision)
        snapshot = decision_input_snapshot(upstream_index(data), data, node)
        assert stored.snapshot == snapshot and stored.fingerprint == snapshot_fingerprint(snapshot)
    assert Decision.objects.count() == len(entities)


def test_a_first_run_stores_what_the_explainer_prepared(portfolio, explainer):
    run = rescreen_portfolio(whole_graph=True, chunk_size=5)
    assert run.status == ScreenRun.Status.FINISHED and run.changed == len(portfolio)
    assert sorted(explainer.delivered) == list(range(len(portfolio)))  # every decision was prepared ahead
    assert explainer.here == [0, 1]  # the first half of the first chunk here, the rest in the explainer
    _assert_stored_as_explained_here(portfolio)
    assert audit_verify()[1] is None


def test_a_failed_explainer_leaves_the_rest_to_this_process(portfolio, explainer, monkeypatch):
    batches = prefetch_module._ExplainSource.batches

    def failing(self):
        for index, batch in enumerate(batches(self)):
            if index == 2:
                raise MemoryError("the explainer ran out of memory")
            yield batch

    monkeypatch.setattr(prefetch_module._ExplainSource, "batches", failing)
    run = rescreen_portfolio(whole_graph=True, chunk_size=5)
    assert run.changed == len(portfolio)
    # The head of the first chunk here, two messages of three nodes, then this process explained the rest.
    assert sorted(explainer.delivered) == list(range(8)) and explainer.here == [0, 1]
    _assert_stored_as_explained_here(portfolio)


def test_nodes_asked_out_of_order_are_left_to_this_process(portfolio, settings):
    settings.PORTFOLIO_EXPLAINER_MIN = 1
    screening = portfolio_screening()
    with decision_prefetch(screening, from_entity_id=0, chunk_size=4) as prefetch:
        assert isinstance(prefetch, DecisionPrefetch) and prefetch.first_node == 2
        first = prefetch.take([0, 1], up_to=9)
        assert sorted(first) == [0, 1]
        # Nodes 2-9 were delivered and passed over (deleted since, say): asking for them again gets nothing.
        assert prefetch.take([5, 12], up_to=14) == {12: _prepared_here(screening, 12)}


def _prepared_here(screening, node):
    """What the explainer sends for ``node``, computed here."""
    from cases.services.decision_inputs import prepared_inputs
    from cases.services.screening import decision_payloads, prepared_decision

    payload = decision_payloads(
        result=screening.result,
        data=screening.data,
        nodes=[node],
        as_of=screening.as_of,
        policy_version=screening.policy.version,
    )[0]
    return (prepared_decision(payload), prepared_inputs(data=screening.data, nodes=[node])[0])


def test_no_explainer_below_the_minimum_or_when_turned_off(portfolio, settings):
    screening = portfolio_screening()
    slow = int((~screening.unchanged).sum())  # every entity in the database, none screened yet
    assert slow >= len(portfolio)
    settings.PORTFOLIO_EXPLAINER_MIN = slow + 1
    with decision_prefetch(screening, from_entity_id=0, chunk_size=5) as prefetch:
        assert prefetch is None
    settings.PORTFOLIO_EXPLAINER_MIN = 0
    with decision_prefetch(screening, from_entity_id=0, chunk_size=5) as prefetch:
        assert prefetch is None
    # From an entity id on, only the slow entities at or above it count.
    settings.PORTFOLIO_EXPLAINER_MIN = slow - 5
    with decision_prefetch(screening, from_entity_id=int(screening.entity_pks[5]), chunk_size=5) as prefetch:
        assert prefetch is not None
    with decision_prefetch(screening, from_entity_id=int(screening.entity_pks[6]), chunk_size=5) as prefetch:
        assert prefetch is None


def test_the_json_output_explains_in_this_process(portfolio, explainer):
    received = []
    rescreen_portfolio(whole_graph=True, chunk_size=5, on_payloads=received.extend)
    assert not explainer.delivered and len(received) == len(portfolio)
    _assert_stored_as_explained_here(portfolio)


def test_the_portfolio_is_freed_when_the_run_ends(portfolio, explainer, monkeypatch):
    """No reference cycle keeps a run's portfolio (gigabytes at a million entities) for the cycle collector."""
    import gc
    import weakref

    from cases.services import rescreen as rescreen_module

    screened = []
    read = rescreen_module.portfolio_screening

    def recording(**kwargs):
        screening = read(**kwargs)
        screened.append(weakref.ref(screening))
        return screening

    monkeypatch.setattr(rescreen_module, "portfolio_screening", recording)
    gc.disable()
    try:
        rescreen_portfolio(whole_graph=True, chunk_size=5)
        assert explainer.delivered and len(screened) == 1
        assert screened[0]() is None  # freed by reference counting alone
    finally:
        gc.enable()
