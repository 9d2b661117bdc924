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

import base64
import hashlib
from dataclasses import dataclass

import numpy as np
import orjson
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .graph import Graph

FORMAT = "engine-input/1"
EDGE_COLUMNS = [
    "owner", "subject", "share_low", "share_low_votes", "share_high", "share_high_votes", "low_open",
    "low_open_votes", "high_open", "high_open_votes", "has_share", "has_share_votes", "control", "indicator",
]  # fmt: skip
INT32_MIN, INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max


MAX_INPUT_NODES = 5000  # a larger closure is not kept (replay says so): bounded cost per stored decision


class ClosureTooLarge(Exception):
    """The node's upstream closure has more than ``MAX_INPUT_NODES`` nodes."""


class UpstreamIndex:
    """Answers "which nodes and edges does this node's figure depend on" for many nodes of one graph.

    The walk is a plain breadth-first search over the reversed adjacency's CSR arrays, so each closure
    costs its own size (scipy's ``breadth_first_order`` allocates per call arrays the size of the whole
    graph: quadratic over a portfolio). A node in a strongly connected component larger than the cap is
    refused at once (every member's closure contains the whole component).
    """

    def __init__(self, graph: Graph, max_nodes: int = MAX_INPUT_NODES) -> None:
        n = graph.node_class.size
        e = graph.owner.size
        self.graph = graph
        self.max_nodes = max_nodes
        # subject -> owner: walking it from a node reaches every direct and indirect owner.
        reverse = csr_matrix((np.ones(e, dtype=np.int8), (graph.subject, graph.owner)), shape=(n, n))
        self._indptr = reverse.indptr.tolist()
        self._indices = reverse.indices
        _, component = connected_components(reverse, directed=True, connection="strong")
        self._component = component
        self._component_size = np.bincount(component)
        self._edges_by_subject = np.argsort(graph.subject, kind="stable")
        self._subject_start = np.searchsorted(graph.subject[self._edges_by_subject], np.arange(n + 1))

    def closure(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(nodes, edges) of ``node``'s upstream closure, both sorted; ``ClosureTooLarge`` past the cap."""
        if self._component_size[self._component[node]] > self.max_nodes:
            raise ClosureTooLarge(node)
        indptr, indices = self._indptr, self._indices
        seen = {node}
        frontier = [node]
        while frontier:
            reached = []
            for v in frontier:
                for w in indices[indptr[v] : indptr[v + 1]].tolist():
                    if w not in seen:
                        seen.add(w)
                        reached.append(w)
            if len(seen) > self.max_nodes:
                raise ClosureTooLarge(node)
            frontier = reached
        nodes = np.fromiter(sorted(seen), dtype=np.int64, count=len(seen))
        starts = self._subject_start[nodes]
        counts = self._subject_start[nodes + 1] - starts
        total = int(counts.sum())
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        edges = np.sort(self._edges_by_subject[offsets + np.arange(total)])
        return nodes, edges


def snapshot_of(
    index: UpstreamIndex, node: int, *, labels: list[str], names: list[str], root_reasons: dict[int, list[str]]
) -> dict:
    """The canonical input of ``node``'s decision: the closure's nodes and edges, column by column.

    Nodes are ordered by label and edges by (owner, subject, shares), both with numpy sorts, and every
    column is one ``tolist()``: a portfolio run keeps thousands of these, so no per-edge Python work.
    """
    graph = index.graph
    nodes, edges = index.closure(node)
    node_labels = np.array([labels[i] for i in nodes.tolist()], dtype=object)
    by_label = np.argsort(node_labels, kind="stable")
    nodes = nodes[by_label]
    position = np.empty(graph.node_class.size, dtype=np.int64)
    position[nodes] = np.arange(nodes.size)
    owner, subject = position[graph.owner[edges]], position[graph.subject[edges]]
    low, high = graph.share_low[edges], graph.share_high[edges]
    order = np.lexsort((high[:, 1], high[:, 0], low[:, 1], low[:, 0], subject, owner))
    node_list = nodes.tolist()
    edges = edges[order]
    table = np.column_stack(
        [
            owner[order],
            subject[order],
            graph.share_low[edges],
            graph.share_high[edges],
            graph.low_open[edges],
            graph.high_open[edges],
            graph.has_share[edges],
            graph.control[edges],
            graph.indicator[edges],
        ]
    ).astype("<f8")
    return {
        "format": FORMAT,
        "target": labels[node],
        "nodes": {
            "label": node_labels[by_label].tolist(),
            "class": base64.b64encode(graph.node_class[nodes].astype("<i1").tobytes()).decode("ascii"),
            "name": [names[i] for i in node_list],
            "reasons": {str(k): root_reasons[i] for k, i in enumerate(node_list) if i in root_reasons},
        },
        # One little-endian float64 row per edge (EDGE_COLUMNS), base64: one copy instead of a Python
        # object per figure (a portfolio run keeps thousands of these).
        "edges": {
            "count": int(edges.size),
            "columns": EDGE_COLUMNS,
            "table": base64.b64encode(table.tobytes()).decode(),
        },
    }


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
    nodes, edges = snapshot["nodes"], snapshot["edges"]
    labels = list(nodes["label"])
    e = edges["count"]
    table = np.frombuffer(base64.b64decode(edges["table"]), dtype="<f8").reshape(e, len(EDGE_COLUMNS))

    def pair(start: int, dtype) -> np.ndarray:
        return table[:, start : start + 2].astype(dtype)

    graph = Graph(
        node_class=np.frombuffer(base64.b64decode(nodes["class"]), dtype="<i1").astype(np.int8),
        owner=table[:, 0].astype(np.int32),
        subject=table[:, 1].astype(np.int32),
        share_low=pair(2, np.float64),
        share_high=pair(4, np.float64),
        low_open=pair(6, bool),
        high_open=pair(8, bool),
        has_share=pair(10, bool),
        control=table[:, 12].astype(bool),
        indicator=table[:, 13].astype(bool),
        start_day=np.full(e, INT32_MIN, dtype=np.int32),
        end_day=np.full(e, INT32_MAX, dtype=np.int32),
        node_labels=labels,
    )
    return RebuiltInput(
        graph=graph,
        target=labels.index(snapshot["target"]),
        labels=labels,
        names=list(nodes["name"]),
        root_reasons={int(k): list(v) for k, v in nodes["reasons"].items()},
    )
