"""Explanations of a chunk's nodes, read from the result arrays at once, are each node's own."""

import numpy as np
import pytest

from cases.ownership import screen
from cases.ownership.explain import look_through_paths
from tests.ownership.test_snapshot import in_force_graph


@pytest.mark.parametrize("seed", [1, 2])
def test_decision_dicts_of_a_batch_are_each_nodes_decision_dict(seed):
    """A chunk's explanations are read from the arrays at once (``decision_dicts``); each is the node's own."""
    graph = in_force_graph(seed)
    res = screen(graph)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(graph.node_class.size, size=300, replace=False)
    labels = [f"L{label}" for label in graph.node_labels]
    notes = {int(i): [f"listed {i}"] for i in rng.choice(graph.node_class.size, size=100, replace=False)}
    batch = res.decision_dicts(nodes, labels, 3, path_labels=graph.node_labels, root_notes=notes)
    for node, body in zip(nodes.tolist(), batch, strict=True):
        assert body == res.decision_dict(node, labels, 3, path_labels=graph.node_labels, root_notes=notes)
        assert body["methods"] == res.method_figures(node)
        # one search serves both the paths shown and the owners counted: the first k of more are the k
        assert look_through_paths(res, node, 60)[:3] == look_through_paths(res, node, 3)
    assert res.decision_dicts([]) == []
