"""Exact least fixed points of x = min(1, A x + b) over an ownership graph.

Why not fixed-count iteration: cross-holdings converge geometrically, so any fixed count is
either wrong on long cycles or slow everywhere.  Instead the graph is condensed into its
strongly connected components (SCCs), the condensation is ordered into topological levels,
and each level is solved once: acyclic nodes by one sparse gather (their owners are all in
earlier levels), the cyclic SCCs of a level by one sparse direct solve of the
block-diagonal system (I - A_cc) x = rhs.  Only when data errors (stakes over 100 %) make
that system singular or its solution leave [0, 1] does a block fall back to the capped
monotone iteration, started from zero, so it still approaches the least fixed point from
below (an under-approximation is the conservative side for both "proven restricted" and
"proven clean").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu

#: Residual / range tolerance used to accept a direct solve.
SOLVE_TOL = 1e-9
#: Sweeps of the capped fallback iteration (data-error blocks only).
FALLBACK_SWEEPS = 10_000


@dataclass(frozen=True)
class Structure:
    """SCCs and topological levels of the (filtered) edge set, reused for every solve."""

    n: int
    owner: np.ndarray
    subject: np.ndarray
    labels: np.ndarray  # SCC label per node
    cyclic_comp: np.ndarray  # bool per SCC: has a cycle (size > 1 or self-loop)
    closed_comp: np.ndarray  # bool per SCC: cyclic and no edge from outside
    order: np.ndarray  # nodes by (level, cyclic, scc)
    pos: np.ndarray  # inverse of order
    node_ptr: np.ndarray  # level L holds order[node_ptr[L]:node_ptr[L+1]]
    cyc_start: np.ndarray  # first cyclic position in each level
    edge_order: np.ndarray  # edges by level of their subject
    edge_ptr: np.ndarray

    @property
    def n_levels(self) -> int:
        return self.node_ptr.size - 1

    def node_cyclic(self) -> np.ndarray:
        return self.cyclic_comp[self.labels]


def gather_ranges(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Indices ptr[r]..ptr[r+1]-1 for all rows r, concatenated (vectorised CSR gather)."""
    starts = ptr[rows]
    lens = ptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lens) - lens
    return np.repeat(starts - offsets, lens) + np.arange(total)


def _levels(ncomp: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Longest-path level of every component in the condensation DAG (frontier Kahn)."""
    indeg = np.bincount(dst, minlength=ncomp)
    by_src = np.argsort(src, kind="stable")
    dst_sorted = dst[by_src]
    ptr = np.zeros(ncomp + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=ncomp), out=ptr[1:])
    level = np.full(ncomp, -1, dtype=np.int64)
    frontier = np.nonzero(indeg == 0)[0]
    current = 0
    while frontier.size:
        level[frontier] = current
        targets = dst_sorted[gather_ranges(ptr, frontier)]
        if targets.size == 0:
            break
        uniq, counts = np.unique(targets, return_counts=True)
        indeg[uniq] -= counts
        frontier = uniq[indeg[uniq] == 0]
        current += 1
    assert (level >= 0).all(), "condensation must be acyclic"
    return level


def analyse(n: int, owner: np.ndarray, subject: np.ndarray) -> Structure:
    """Compute SCCs and levels once for a given edge set."""
    owner = owner.astype(np.int64)
    subject = subject.astype(np.int64)
    adj = sp.csr_matrix((np.ones(owner.size, dtype=np.int8), (owner, subject)), shape=(n, n))
    ncomp, labels = connected_components(adj, directed=True, connection="strong")
    labels = labels.astype(np.int64)
    sizes = np.bincount(labels, minlength=ncomp)
    cyclic = sizes > 1
    self_loop = owner == subject
    cyclic[labels[owner[self_loop]]] = True
    lo, ls = labels[owner], labels[subject]
    cross = lo != ls
    closed = cyclic & (np.bincount(ls[cross], minlength=ncomp) == 0)
    comp_level = _levels(ncomp, lo[cross], ls[cross])
    node_level = comp_level[labels]
    n_levels = int(node_level.max()) + 1 if n else 0
    key = (node_level * 2 + cyclic[labels]) * max(ncomp, 1) + labels
    order = np.argsort(key, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    node_ptr = np.searchsorted(node_level[order], np.arange(n_levels + 1))
    acyc_counts = np.bincount(node_level[~cyclic[labels]], minlength=n_levels)
    cyc_start = node_ptr[:-1] + acyc_counts
    edge_level = node_level[subject]
    edge_order = np.argsort(edge_level, kind="stable")
    edge_ptr = np.searchsorted(edge_level[edge_order], np.arange(n_levels + 1))
    return Structure(n, owner, subject, labels, cyclic, closed, order, pos, node_ptr,
                     cyc_start, edge_order, edge_ptr)


def solve(st: Structure, weights: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least fixed point of x = min(1, A x + b) per measure.

    ``weights`` is float[e, M] (edge weight per measure, A[subject, owner]); ``b`` is
    float[n, M, R] (R right-hand sides sharing each measure's matrix).  Nodes that must
    keep a fixed value simply have no incoming edges.
    """
    x = np.array(b, dtype=np.float64, copy=True)
    n_m, n_r = b.shape[1], b.shape[2]
    for level in range(st.n_levels):
        lo, hi = st.node_ptr[level], st.node_ptr[level + 1]
        es = st.edge_order[st.edge_ptr[level]:st.edge_ptr[level + 1]]
        if es.size == 0:
            continue
        own, sub = st.owner[es], st.subject[es]
        internal = st.labels[own] == st.labels[sub]
        ext = ~internal
        nodes = st.order[lo:hi]
        local = st.pos[sub[ext]] - lo
        w_ext = weights[es[ext]]
        x_own = x[own[ext]]
        for m in range(n_m):
            for r in range(n_r):
                x[nodes, m, r] += np.bincount(local, w_ext[:, m] * x_own[:, m, r],
                                              minlength=hi - lo)
        x[nodes] = np.minimum(x[nodes], 1.0)
        if internal.any():
            _solve_cyclic(st, x, weights, es[internal], int(st.cyc_start[level]), int(hi))
    np.clip(x, 0.0, 1.0, out=x)
    return x


def _solve_cyclic(st: Structure, x: np.ndarray, weights: np.ndarray, es: np.ndarray,
                  c_lo: int, c_hi: int) -> None:
    """Solve the cyclic SCCs of one level in place (x holds their right-hand sides)."""
    nodes = st.order[c_lo:c_hi]
    labels = st.labels[nodes]
    mass = np.abs(x[nodes]).reshape(nodes.size, -1).sum(axis=1)
    comp_mass = np.zeros(st.labels.max() + 1 if st.labels.size else 0)
    np.add.at(comp_mass, labels, mass)
    active = comp_mass[labels] > 0  # a closed system with zero input has lfp 0
    if not active.any():
        return
    act_nodes = nodes[active]
    local_of = np.full(st.n, -1, dtype=np.int64)
    local_of[act_nodes] = np.arange(act_nodes.size)
    rows, cols = local_of[st.subject[es]], local_of[st.owner[es]]
    keep = rows >= 0
    rows, cols, es = rows[keep], cols[keep], es[keep]
    k = act_nodes.size
    for m in range(x.shape[1]):
        rhs = x[act_nodes, m, :]
        a = sp.csc_matrix((weights[es, m], (rows, cols)), shape=(k, k))
        sol = _direct(a, rhs)
        if sol is None:
            sol = _per_component(a, rhs, st.labels[act_nodes])
        x[act_nodes, m, :] = sol


def _direct(a: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray | None:
    """Sparse LU solve of (I - A) x = rhs; None if singular or outside [0, 1]."""
    system = (sp.identity(a.shape[0], format="csc") - a).tocsc()
    try:
        sol = splu(system).solve(np.ascontiguousarray(rhs))
    except RuntimeError:
        return None
    if not np.all(np.isfinite(sol)):
        return None
    if sol.min() < -SOLVE_TOL or sol.max() > 1 + SOLVE_TOL:
        return None
    if np.abs(system @ sol - rhs).max() > SOLVE_TOL:
        return None
    return np.clip(sol, 0.0, 1.0)


def _per_component(a: sp.csc_matrix, rhs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fallback: solve each SCC separately; iterate those whose direct solve is invalid."""
    out = np.zeros_like(rhs)
    a = a.tocsr()
    for comp in np.unique(labels):
        idx = np.nonzero(labels == comp)[0]
        block = a[idx][:, idx].tocsc()
        sol = _direct(block, rhs[idx])
        if sol is None:
            sol = _capped_iteration(block.tocsr(), rhs[idx])
        out[idx] = sol
    return out


def _capped_iteration(a: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Monotone iteration of min(1, A x + rhs) from 0 (data-error blocks only)."""
    x = np.zeros_like(rhs)
    for _ in range(FALLBACK_SWEEPS):
        nxt = np.minimum(a @ x + rhs, 1.0)
        if np.abs(nxt - x).max() <= 1e-15:
            return nxt
        x = nxt
    return x


def reach(n: int, src: np.ndarray, dst: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Boolean mask of nodes reachable from ``seeds`` (included) along src -> dst edges."""
    seeds = np.nonzero(seeds)[0] if seeds.dtype == bool else seeds
    out = np.zeros(n, dtype=bool)
    if seeds.size == 0:
        return out
    if src.size == 0:
        out[seeds] = True
        return out
    s = np.concatenate([src.astype(np.int64), np.full(seeds.size, n, dtype=np.int64)])
    d = np.concatenate([dst.astype(np.int64), seeds.astype(np.int64)])
    adj = sp.csr_matrix((np.ones(s.size, dtype=np.int8), (s, d)), shape=(n + 1, n + 1))
    found = breadth_first_order(adj, n, directed=True, return_predecessors=False)
    out[found[found < n]] = True
    return out
