"""A decision's kept input (its upstream closure) gives exactly the figures of the whole graph."""

import dataclasses

import numpy as np
import pytest

from benchmarks.synthetic import generate
from cases.ownership import screen
from cases.ownership.snapshot import (
    ClosureTooLarge,
    UpstreamIndex,
    graph_from_snapshot,
    snapshot_fingerprint,
    snapshot_of,
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
