"""Exact least fixed points of x = min(1, A x + b) over an ownership graph.

Why not fixed-count iteration: cross-holdings converge geometrically, so any fixed count is
either wrong on long cycles or slow everywhere.  Instead the graph is condensed into its
strongly connected components (SCCs), the condensation is ordered into topological levels,
and each level is solved once: acyclic nodes by one sparse gather (their owners are all in
earlier levels), the cyclic SCCs of a level by one sparse direct solve of the
block-diagonal system (I - A_cc) x = rhs.  Only when data errors (stakes over 100 %) make
that system singular or its solution leave [0, 1] is each such SCC solved on its own by
saturation (see ``_saturated``), and only if that fails by the capped monotone iteration
from zero (bounded; an under-approximation is the conservative side for both "proven
restricted" and "proven clean").
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
    # scipy's COO -> CSR conversion is a linear-time counting sort by source (and merges
    # parallel edges, so in-degrees are counted on its output).
    csr = sp.csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(ncomp, ncomp))
    ptr, dst_sorted = csr.indptr.astype(np.int64), csr.indices.astype(np.int64)
    indeg = np.bincount(dst_sorted, minlength=ncomp)
    level = np.full(ncomp, -1, dtype=np.int64)
    frontier = np.nonzero(indeg == 0)[0]
    current = 0
    while frontier.size:
        level[frontier] = current
        targets = dst_sorted[gather_ranges(ptr, frontier)]
        if targets.size == 0:
            break
        if targets.size * 16 > ncomp:  # big frontier: one O(ncomp) pass beats sorting
            dec = np.bincount(targets, minlength=ncomp)
            indeg -= dec
            frontier = np.nonzero((dec > 0) & (indeg == 0))[0]
            current += 1
            continue
        uniq, counts = np.unique(targets, return_counts=True)
        indeg[uniq] -= counts
        frontier = uniq[indeg[uniq] == 0]
        current += 1
    assert (level >= 0).all(), "condensation must be acyclic"
    return level


def _small(key: np.ndarray) -> np.ndarray:
    """Downcast a non-negative key so that numpy's stable sort uses radix sort."""
    top = int(key.max()) if key.size else 0
    return key.astype(np.uint16 if top < 2**16 else np.int64)


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
    # Only (level, cyclic) grouping matters; a small-integer key lets numpy radix-sort.
    key = _small(node_level * 2 + cyclic[labels])
    order = np.argsort(key, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    node_ptr = np.searchsorted(node_level[order], np.arange(n_levels + 1))
    acyc_counts = np.bincount(node_level[~cyclic[labels]], minlength=n_levels)
    cyc_start = node_ptr[:-1] + acyc_counts
    edge_level = node_level[subject]
    edge_order = np.argsort(_small(edge_level), kind="stable")
    edge_ptr = np.searchsorted(edge_level[edge_order], np.arange(n_levels + 1))
    return Structure(n, owner, subject, labels, cyclic, closed, order, pos, node_ptr, cyc_start, edge_order, edge_ptr)


def solve(st: Structure, weights: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least fixed point of x = min(1, A x + b) per measure.

    ``weights`` is float[e, M] (edge weight per measure, A[subject, owner]); ``b`` is
    float[n, M, R] (R right-hand sides sharing each measure's matrix).  Nodes that must
    keep a fixed value simply have no incoming edges.  Works in level order, so every
    level is a contiguous slice.
    """
    n_m, n_r = b.shape[1], b.shape[2]
    x = np.ascontiguousarray(b[st.order], dtype=np.float64).reshape(st.n, n_m * n_r)
    w_cols = np.repeat(np.asarray(weights, dtype=np.float64), n_r, axis=1)
    own_p = st.pos[st.owner][st.edge_order]
    sub_p = st.pos[st.subject][st.edge_order]
    internal_all = (st.labels[st.owner] == st.labels[st.subject])[st.edge_order]
    w_sorted = w_cols[st.edge_order]
    for level in range(st.n_levels):
        lo, hi = int(st.node_ptr[level]), int(st.node_ptr[level + 1])
        ea, eb = int(st.edge_ptr[level]), int(st.edge_ptr[level + 1])
        if ea == eb:
            continue
        internal = internal_all[ea:eb]
        ext = ~internal
        own, local = own_p[ea:eb][ext], sub_p[ea:eb][ext] - lo
        contrib = w_sorted[ea:eb][ext] * x[own]
        for col in range(x.shape[1]):
            x[lo:hi, col] += np.bincount(local, contrib[:, col], minlength=hi - lo)
        np.minimum(x[lo:hi], 1.0, out=x[lo:hi])
        if internal.any():
            es = st.edge_order[ea:eb][internal]
            _solve_cyclic(st, x, weights, es, int(st.cyc_start[level]), hi, n_r)
    np.clip(x, 0.0, 1.0, out=x)
    return x[st.pos].reshape(st.n, n_m, n_r)


def _solve_cyclic(
    st: Structure, x: np.ndarray, weights: np.ndarray, es: np.ndarray, c_lo: int, c_hi: int, n_r: int
) -> None:
    """Solve the cyclic SCCs of one level in place (x[c_lo:c_hi] holds their rhs)."""
    labels = st.labels[st.order[c_lo:c_hi]]
    mass = np.abs(x[c_lo:c_hi]).sum(axis=1)
    _, comp_idx = np.unique(labels, return_inverse=True)
    comp_mass = np.bincount(comp_idx, mass)
    active = comp_mass[comp_idx] > 0  # a closed system with zero input has lfp 0
    if not active.any():
        return
    act_pos = c_lo + np.nonzero(active)[0]
    local_of = np.full(c_hi - c_lo, -1, dtype=np.int64)
    local_of[act_pos - c_lo] = np.arange(act_pos.size)
    rows = local_of[st.pos[st.subject[es]] - c_lo]
    cols = local_of[st.pos[st.owner[es]] - c_lo]
    keep = rows >= 0
    rows, cols, es = rows[keep], cols[keep], es[keep]
    k = act_pos.size
    for m in range(weights.shape[1]):
        span = slice(m * n_r, (m + 1) * n_r)
        rhs = x[act_pos, span]
        a = sp.csc_matrix((weights[es, m], (rows, cols)), shape=(k, k))
        sol = _direct(a, rhs)
        if sol is None:
            sol = _per_component(a, rhs, labels[active])
        x[act_pos, span] = sol


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
    """Fallback: solve each SCC separately; saturate those whose direct solve is invalid."""
    out = np.zeros_like(rhs)
    a = a.tocsr()
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for idx in np.split(order, bounds):
        block = a[idx][:, idx].tocsc()
        sol = _direct(block, rhs[idx])
        if sol is None:
            sol = np.column_stack([_saturated(block.tocsr(), rhs[idx, j]) for j in range(rhs.shape[1])])
        out[idx] = sol
    return out


def _saturated(a: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Least fixed point of min(1, A x + rhs) on one SCC whose plain system is invalid.

    Only data errors (stakes over 100 %) get here.  With zero input the answer is 0.
    Otherwise, on an irreducible block with input, the capped system has a single fixed
    point (the unsaturated part has spectral radius < 1), which an active-set descent
    finds exactly: start with every node saturated at 1, solve the linear system for the
    unsaturated nodes, release saturated nodes whose inflow is below 1, repeat.  The
    saturated set only shrinks, so this takes at most one solve per node.
    """
    if not rhs.any():
        return np.zeros_like(rhs)
    k = rhs.size
    sat = np.ones(k, dtype=bool)
    x = np.ones(k)
    for _ in range(k + 1):
        free = np.flatnonzero(~sat)
        if free.size:
            fixed = np.flatnonzero(sat)
            sub = a[free][:, free].tocsc()
            c = rhs[free] + a[free][:, fixed] @ np.ones(fixed.size)
            sol = _direct(sub, c[:, None])
            if sol is None:
                return _capped_iteration(a, rhs[:, None])[:, 0]
            x[free] = sol[:, 0]
        release = sat & (a @ x + rhs < 1.0 - 1e-12)
        if not release.any():
            return x
        sat &= ~release
        x[release] = 0.0
    return _capped_iteration(a, rhs[:, None])[:, 0]


def _capped_iteration(a: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Monotone iteration of min(1, A x + rhs) from 0 (last resort, bounded)."""
    x = np.zeros_like(rhs)
    for _ in range(FALLBACK_SWEEPS):
        nxt = np.minimum(a @ x + rhs, 1.0)
        if np.abs(nxt - x).max() <= 1e-15:
            return nxt
        x = nxt
    return x


def reach(n: int, src: np.ndarray, dst: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Boolean mask of nodes reachable from ``seeds`` (included) along src -> dst edges."""
    return reach_many(n, src, dst, [seeds])[0]


def reach_many(n: int, src: np.ndarray, dst: np.ndarray, seed_sets: list[np.ndarray]) -> list[np.ndarray]:
    """Reachability from several boolean seed sets over one graph (built once)."""
    outs = [np.zeros(n, dtype=bool) for _ in seed_sets]
    k = len(seed_sets)
    seeds = [np.nonzero(s)[0] for s in seed_sets]
    if all(s.size == 0 for s in seeds):
        return outs
    if src.size == 0:
        for out, s in zip(outs, seeds, strict=True):
            out[s] = True
        return outs
    sources = np.concatenate([np.full(s.size, n + i, dtype=np.int64) for i, s in enumerate(seeds)])
    s_all = np.concatenate([src.astype(np.int64), sources])
    d_all = np.concatenate([dst.astype(np.int64), *[s.astype(np.int64) for s in seeds]])
    size = n + k
    adj = sp.csr_matrix((np.ones(s_all.size, dtype=np.int8), (s_all, d_all)), shape=(size, size))
    for i, out in enumerate(outs):
        if seeds[i].size:
            found = breadth_first_order(adj, n + i, directed=True, return_predecessors=False)
            out[found[found < n]] = True
    return outs
