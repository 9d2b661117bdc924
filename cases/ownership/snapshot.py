"""A decision's input, kept: the engine graph restricted to one entity's upstream closure.

A decision depends only on its entity's owners, their owners and so on (the upstream closure), as
they were in force on the screening date. Keeping exactly that part of the engine's input, in a
canonical form with a fingerprint, lets a later version of the engine be re-run on the graph as it
was ("replay"), however the ownership rows have changed since, and lets anyone check that a
reconstruction is the input the decision saw (same fingerprint).

Pure numpy/scipy: the closure is one breadth-first search over a sparse reversed adjacency built once
per graph, and the closure's edges are gathered from a subject-sorted edge index without a scan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import orjson
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from .graph import Graph

FORMAT = "engine-input/1"
INT32_MIN, INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max


class UpstreamIndex:
    """Answers "which nodes and edges does this node's figure depend on" for many nodes of one graph."""

    def __init__(self, graph: Graph) -> None:
        n = graph.node_class.size
        e = graph.owner.size
        self.graph = graph
        # subject -> owner: walking it from a node reaches every direct and indirect owner.
        self._reverse = csr_matrix((np.ones(e, dtype=np.int8), (graph.subject, graph.owner)), shape=(n, n))
        self._edges_by_subject = np.argsort(graph.subject, kind="stable")
        self._subject_start = np.searchsorted(graph.subject[self._edges_by_subject], np.arange(n + 1))

    def closure(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(nodes, edges) of ``node``'s upstream closure, both sorted."""
        nodes = np.sort(breadth_first_order(self._reverse, node, directed=True, return_predecessors=False))
        starts = self._subject_start[nodes]
        counts = self._subject_start[nodes + 1] - starts
        total = int(counts.sum())
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        edges = np.sort(self._edges_by_subject[offsets + np.arange(total)])
        return nodes, edges


def snapshot_of(
    index: UpstreamIndex, node: int, *, labels: list[str], names: list[str], root_reasons: dict[int, list[str]]
) -> dict:
    """The canonical input of ``node``'s decision: closure nodes (label, class, name, root reasons) and edges."""
    graph = index.graph
    nodes, edges = index.closure(node)
    classes = graph.node_class[nodes].tolist()
    node_rows = [
        [labels[i], cls, names[i], root_reasons.get(i, [])] for i, cls in zip(nodes.tolist(), classes, strict=True)
    ]
    columns = (
        graph.owner[edges].tolist(),
        graph.subject[edges].tolist(),
        graph.share_low[edges].tolist(),
        graph.share_high[edges].tolist(),
        graph.low_open[edges].tolist(),
        graph.high_open[edges].tolist(),
        graph.has_share[edges].tolist(),
        graph.control[edges].tolist(),
        graph.indicator[edges].tolist(),
    )
    edge_rows = [
        [labels[owner], labels[subject], low, high, low_open, high_open, has_share, control, indicator]
        for owner, subject, low, high, low_open, high_open, has_share, control, indicator in zip(*columns, strict=True)
    ]
    node_rows.sort(key=lambda row: row[0])
    edge_rows.sort(key=lambda row: (row[0], row[1], row[2], row[3]))
    return {"format": FORMAT, "target": labels[node], "nodes": node_rows, "edges": edge_rows}


def snapshot_fingerprint(snapshot: dict) -> str:
    """SHA-256 of the snapshot's sorted compact JSON: equal inputs, equal fingerprints."""
    return hashlib.sha256(orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class RebuiltInput:
    graph: Graph
    target: int
    labels: list[str]
    names: list[str]
    root_reasons: dict[int, list[str]]


def graph_from_snapshot(snapshot: dict) -> RebuiltInput:
    """The engine graph a snapshot describes (edges already filtered to the screening date: always in force)."""
    if snapshot.get("format") != FORMAT:
        raise ValueError(f"unknown input snapshot format {snapshot.get('format')!r}")
    labels = [row[0] for row in snapshot["nodes"]]
    position = {label: i for i, label in enumerate(labels)}
    edges = snapshot["edges"]
    e = len(edges)

    def column(index: int, dtype, shape=()) -> np.ndarray:
        return np.array([row[index] for row in edges], dtype=dtype).reshape((e, *shape))

    graph = Graph(
        node_class=np.array([row[1] for row in snapshot["nodes"]], dtype=np.int8),
        owner=np.array([position[row[0]] for row in edges], dtype=np.int32),
        subject=np.array([position[row[1]] for row in edges], dtype=np.int32),
        share_low=column(2, np.float64, (2,)),
        share_high=column(3, np.float64, (2,)),
        low_open=column(4, bool, (2,)),
        high_open=column(5, bool, (2,)),
        has_share=column(6, bool, (2,)),
        control=column(7, bool),
        indicator=column(8, bool),
        start_day=np.full(e, INT32_MIN, dtype=np.int32),
        end_day=np.full(e, INT32_MAX, dtype=np.int32),
        node_labels=labels,
    )
    return RebuiltInput(
        graph=graph,
        target=position[snapshot["target"]],
        labels=labels,
        names=[row[2] for row in snapshot["nodes"]],
        root_reasons={i: list(row[3]) for i, row in enumerate(snapshot["nodes"]) if row[3]},
    )
