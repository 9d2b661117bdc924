"""A decision's kept input (its upstream closure) gives exactly the figures of the whole graph."""

import dataclasses

import numpy as np
import orjson
import pytest

from benchmarks.synthetic import generate
from cases.ownership import screen
from cases.ownership.snapshot import (
    ClosureTooLarge,
    UpstreamIndex,
    graph_from_snapshot,
    snapshot_fingerprint,
    snapshot_of,
    snapshots_of,
)


def in_force_graph(seed: int):
    graph = generate(1_500, seed=seed).to_graph(labels=True)
    e = graph.owner.size
    full = np.iinfo(np.int32)
    return dataclasses.replace(
        graph, start_day=np.full(e, full.min, dtype=np.int32), end_day=np.full(e, full.max, dtype=np.int32)
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_closure_replay_equals_the_whole_graph(seed):
    graph = in_force_graph(seed)
    whole = screen(graph)
    index = UpstreamIndex(graph)
    labels = list(graph.node_labels)
    names = [f"name {label}" for label in labels]
    rng = np.random.default_rng(seed)
    for node in rng.choice(graph.node_class.size, size=60, replace=False).tolist():
        snapshot = snapshot_of(index, node, labels=labels, names=names, root_reasons={})
        rebuilt = graph_from_snapshot(snapshot)
        part = screen(rebuilt.graph)
        assert part.method_figures(rebuilt.target) == whole.method_figures(node)
        assert part.outcome[rebuilt.target] == whole.outcome[node]
        assert snapshot_fingerprint(snapshot) == snapshot_fingerprint(
            snapshot_of(index, node, labels=labels, names=names, root_reasons={})
        )


def test_a_closure_past_the_cap_is_refused():
    graph = in_force_graph(1)
    index = UpstreamIndex(graph, max_nodes=1)
    owned = int(graph.subject[0])
    with pytest.raises(ClosureTooLarge):
        index.closure(owned)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("max_nodes", [5000, 40, 3])
def test_snapshots_of_many_nodes_are_each_nodes_snapshot(seed, max_nodes):
    """The batched snapshots (a portfolio run's) encode to the same bytes as one ``snapshot_of`` per node,
    with ``None`` exactly where ``snapshot_of`` refuses the closure; batches of any size agree."""
    graph = in_force_graph(seed)
    index = UpstreamIndex(graph, max_nodes=max_nodes)
    labels = list(graph.node_labels)
    rng = np.random.default_rng(seed)
    labels[5] = labels[7]  # equal labels keep node order, as the stable sort does
    names = [f"name {label} ✓" for label in labels]
    reasons = {int(i): [f"reason {i}"] for i in rng.choice(graph.node_class.size, size=200, replace=False)}
    nodes = rng.choice(graph.node_class.size, size=300, replace=False)
    for batch in (1, 7, 4096):
        many = snapshots_of(index, nodes, labels=labels, names=names, root_reasons=reasons, batch=batch)
        assert len(many) == nodes.size
        for node, snapshot in zip(nodes.tolist(), many, strict=True):
            try:
                one = snapshot_of(index, node, labels=labels, names=names, root_reasons=reasons)
            except ClosureTooLarge:
                assert snapshot is None
                continue
            assert orjson.dumps(snapshot) == orjson.dumps(one)
            assert snapshot_fingerprint(snapshot) == snapshot_fingerprint(one)
    assert snapshots_of(index, [], labels=labels, names=names, root_reasons=reasons) == []
