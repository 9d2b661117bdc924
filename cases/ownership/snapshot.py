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
        self._indptr_array = reverse.indptr.astype(np.int64)
        self._indptr = self._indptr_array.tolist()
        self._indices = reverse.indices.astype(np.int64)
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


def _edge_table(graph: Graph, owners: np.ndarray, subjects: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The snapshot's edge rows: owner and subject position, both measures' bounds and flags, as ``<f8``."""
    return np.column_stack(
        [
            owners,
            subjects,
            graph.share_low[edges],
            graph.share_high[edges],
            graph.low_open[edges],
            graph.high_open[edges],
            graph.has_share[edges],
            graph.control[edges],
            graph.indicator[edges],
        ]
    ).astype("<f8")


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
    table = _edge_table(graph, owner[order], subject[order], edges)
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


#: Targets whose closures ``snapshots_of`` walks together: bounds the (target, node) pairs held at once.
BATCH_TARGETS = 4096


def snapshots_of(
    index: UpstreamIndex,
    nodes,
    *,
    labels: list[str],
    names: list[str],
    root_reasons: dict[int, list[str]],
    batch: int = BATCH_TARGETS,
) -> list[dict | None]:
    """``snapshot_of`` of many nodes at once, ``None`` where the closure is past the cap.

    The same dicts, byte for byte once encoded (``tests/ownership/test_snapshot.py`` compares them), but
    the work is numpy over all the nodes' closures together rather than Python per node: the closures
    are one breadth-first walk over (target, node) pairs, the label order one stable sort of the labels
    of the batch's nodes (it ranks each closure's nodes as ``snapshot_of``'s stable sort of that closure's
    labels does), and every closure's edges are ordered by one ``lexsort`` with the
    target first and the edge index last (``snapshot_of``'s stable sort over ascending edge indices).
    A first portfolio run keeps one snapshot per decision.
    """
    nodes = np.asarray(nodes, dtype=np.int64).reshape(-1)
    out: list[dict | None] = []
    for start in range(0, nodes.size, max(1, batch)):
        out += _snapshot_batch(index, nodes[start : start + batch], labels, names, root_reasons)
    return out


def _has_reasons(index: UpstreamIndex, root_reasons: dict[int, list[str]]) -> np.ndarray:
    """Per node: has it root reasons (cached on the index for the same dict)?"""
    cached = index.__dict__.get("_has_reasons")
    if cached is not None and cached[0] is root_reasons and cached[1] == len(root_reasons):
        return cached[2]
    mask = np.zeros(index.graph.node_class.size, dtype=bool)
    keys = np.fromiter((key for key in root_reasons if 0 <= key < mask.size), dtype=np.int64)
    mask[keys] = True
    index.__dict__["_has_reasons"] = (root_reasons, len(root_reasons), mask)
    return mask


def _gather(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` without Python per range."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return offsets + np.arange(total)


def _snapshot_batch(index, targets, labels, names, root_reasons) -> list[dict | None]:
    graph = index.graph
    n = graph.node_class.size
    k = targets.size
    indptr = index._indptr_array
    indices = index._indices
    too_large = index._component_size[index._component[targets]] > index.max_nodes
    # Breadth-first over (target position, node) pairs, as keys target * n + node, kept sorted and unique
    # (sorts and binary searches: each step's new keys are merged into the sorted run).
    live = np.nonzero(~too_large)[0]
    reached = live * n + targets[live]
    size = np.bincount(live, minlength=k)
    frontier_t, frontier_v = live, targets[live]
    while frontier_t.size:
        counts = indptr[frontier_v + 1] - indptr[frontier_v]
        keys = np.repeat(frontier_t, counts) * n + indices[_gather(indptr[frontier_v], counts)]
        keys.sort()
        if keys.size:
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        at = np.minimum(np.searchsorted(reached, keys), max(reached.size - 1, 0))
        if reached.size:
            keys = keys[reached[at] != keys]
        if not keys.size:
            break
        reached = np.sort(np.concatenate((reached, keys)), kind="stable")
        size += np.bincount(keys // n, minlength=k)
        over = size > index.max_nodes
        if over.any():  # the closure only grows: past the cap now, past it at the end
            too_large |= over
            size[over] = 0
            reached = reached[~over[reached // n]]
            keys = keys[~over[keys // n]]
        frontier_t, frontier_v = keys // n, keys % n
    pair_t, pair_v = reached // n, reached % n
    # Each closure's nodes in label order: by (target, label rank). A stable sort of the labels of the batch's
    # distinct nodes (ascending) ranks each closure's nodes as ``snapshot_of``'s stable sort of its own labels.
    distinct, inverse = np.unique(pair_v, return_inverse=True)
    label_order = np.argsort(np.array([labels[i] for i in distinct.tolist()], dtype=object), kind="stable")
    rank = np.empty(label_order.size, dtype=np.int64)
    rank[label_order] = np.arange(label_order.size)
    by_label = np.lexsort((rank[inverse.reshape(-1)], pair_t))
    pair_t, pair_v = pair_t[by_label], pair_v[by_label]
    node_count = np.bincount(pair_t, minlength=k)
    node_start = np.concatenate(([0], np.cumsum(node_count)))
    position = np.arange(pair_t.size) - node_start[pair_t]  # each node's place in its closure
    # Every closure's edges: the in-edges of its nodes (whose owners are in the closure too).
    sub_start = index._subject_start
    edge_counts = sub_start[pair_v + 1] - sub_start[pair_v]
    edges = index._edges_by_subject[_gather(sub_start[pair_v], edge_counts)]
    edge_t = np.repeat(pair_t, edge_counts)
    subject_pos = np.repeat(position, edge_counts)
    # The owner's place in the same closure: look (target, owner) up among the sorted pair keys.
    label_place = np.empty_like(by_label)
    label_place[by_label] = np.arange(by_label.size)
    owner_pos = position[label_place[np.searchsorted(reached, edge_t * n + graph.owner[edges])]]
    low, high = graph.share_low[edges], graph.share_high[edges]
    order = np.lexsort((edges, high[:, 1], high[:, 0], low[:, 1], low[:, 0], subject_pos, owner_pos, edge_t))
    edges, edge_t = edges[order], edge_t[order]
    table = _edge_table(graph, owner_pos[order], subject_pos[order], edges)
    edge_count = np.bincount(edge_t, minlength=k)
    edge_start = np.concatenate(([0], np.cumsum(edge_count))).tolist()
    table_bytes = table.tobytes()
    row_bytes = table.shape[1] * 8 if table.ndim == 2 else len(EDGE_COLUMNS) * 8
    class_bytes = graph.node_class[pair_v].astype("<i1").tobytes()
    # The closure nodes with root reasons, as (target, position) pairs: most closures have none.
    with_reasons = np.nonzero(_has_reasons(index, root_reasons)[pair_v])[0]
    reason_at: dict[int, list[tuple[int, int]]] = {}
    found = (pair_t[with_reasons].tolist(), position[with_reasons].tolist(), pair_v[with_reasons].tolist())
    for t, p, i in zip(*found, strict=True):
        reason_at.setdefault(t, []).append((p, i))
    all_nodes = pair_v.tolist()
    starts = node_start.tolist()
    counts = edge_count.tolist()
    b64 = base64.b64encode
    out: list[dict | None] = []
    for t, target in enumerate(targets.tolist()):
        if too_large[t]:
            out.append(None)
            continue
        a, b = starts[t], starts[t + 1]
        node_list = all_nodes[a:b]
        e0, e1 = edge_start[t], edge_start[t + 1]
        out.append(
            {
                "format": FORMAT,
                "target": labels[target],
                "nodes": {
                    "label": [labels[i] for i in node_list],
                    "class": b64(class_bytes[a:b]).decode("ascii"),
                    "name": [names[i] for i in node_list],
                    "reasons": {str(p): root_reasons[i] for p, i in reason_at.get(t, ())},
                },
                "edges": {
                    "count": counts[t],
                    "columns": EDGE_COLUMNS,
                    "table": b64(table_bytes[e0 * row_bytes : e1 * row_bytes]).decode(),
                },
            }
        )
    return out


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
