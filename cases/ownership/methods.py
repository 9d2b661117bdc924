"""The two screening methods, vectorised over the whole graph.

Both work on :class:`~cases.ownership.graph.Edges` restricted to edges whose subject is an
ordinary or listed entity: roots and terminals have fixed status whatever their owners.
Arrays are indexed ``[node, measure]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from . import exact, linear
from .graph import Edges
from .numeric import all2, any2, exceeds, within
from .types import EPS, NodeClass


@dataclass(frozen=True)
class Figures:
    """Interval [low, high] per node and measure, with open flags (see numeric.py)."""

    low: np.ndarray
    high: np.ndarray
    low_open: np.ndarray
    high_open: np.ndarray
    low_side: np.ndarray | None = None  # exact sign of low - T where recomputed (exact.py)
    high_side: np.ndarray | None = None

    def exceeds(self, t: float, inclusive: bool) -> np.ndarray:
        """[n, 2]: low is provably a majority."""
        return exceeds(self.low, self.low_open, t, inclusive, self.low_side)

    def within(self, t: float, inclusive: bool) -> np.ndarray:
        """[n, 2]: high is provably not a majority."""
        return within(self.high, self.high_open, t, inclusive, self.high_side)


@dataclass(frozen=True)
class Context:
    """Everything both methods need, computed once per screening."""

    n: int
    cls: np.ndarray
    edges: Edges  # edges into ENTITY / LISTED_ENTITY subjects only
    t: float
    inclusive: bool
    threshold: Fraction = Fraction(1, 2)

    @cached_property
    def is_root(self) -> np.ndarray:
        return self.cls == NodeClass.RESTRICTED_ROOT

    @cached_property
    def is_clean(self) -> np.ndarray:
        return self.cls == NodeClass.CLEAN_TERMINAL

    @cached_property
    def is_unknown(self) -> np.ndarray:
        return self.cls == NodeClass.UNKNOWN_TERMINAL

    @cached_property
    def is_listed(self) -> np.ndarray:
        return self.cls == NodeClass.LISTED_ENTITY

    @cached_property
    def is_entity(self) -> np.ndarray:
        return (self.cls == NodeClass.ENTITY) | (self.cls == NodeClass.LISTED_ENTITY)

    @cached_property
    def n_measures(self) -> int:
        """Measures that need computing: 1 when both are identical everywhere."""
        return 1 if self.same_measures else 2

    @cached_property
    def same_measures(self) -> bool:
        """Both measures identical on every edge (the common case): compute one, copy."""
        e = self.edges
        return all(np.array_equal(a[:, 0], a[:, 1]) for a in (e.low, e.high, e.low_open, e.high_open))

    def in_sum(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Per-subject sums of an edge array [e, 2] (optionally only where mask[e])."""
        out = np.zeros((self.n, values.shape[1]))
        sub = self.edges.subject
        for m in range(values.shape[1]):
            if m == 1 and np.array_equal(values[:, 0], values[:, 1]):
                out[:, 1] = out[:, 0]
                break
            w = values[:, m] if mask is None else values[:, m] * mask
            out[:, m] = np.bincount(sub, w.astype(np.float64), minlength=self.n)
        return out


def distinct(idx: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct node ids: a mark array for big batches, hashing for small ones."""
    if idx.size * 32 < n:
        return np.unique(idx)
    mark = np.zeros(n, dtype=bool)
    mark[idx] = True
    return np.nonzero(mark)[0]


def scatter_add(target: np.ndarray, idx: np.ndarray, values: np.ndarray) -> None:
    """target[idx] += values with repeats; bincount for big batches, ufunc.at for small."""
    if idx.size == 0:
        return
    if idx.size * 8 < target.shape[0]:
        np.add.at(target, idx, values)
        return
    if target.ndim == 1:
        target += np.bincount(idx, values, minlength=target.shape[0]).astype(target.dtype)
        return
    for m in range(target.shape[1]):
        target[:, m] += np.bincount(idx, values[:, m], minlength=target.shape[0]).astype(target.dtype)


def _finish(low, high, low_open, high_open) -> Figures:
    """Clip to [0, 1] and keep low <= high (data errors can invert them)."""
    low = np.clip(low, 0.0, 1.0)
    high = np.clip(high, 0.0, 1.0)
    raised = low > high
    high = np.where(raised, low, high)
    high_open = high_open & ~raised & (high < 1.0)
    low_open = low_open & (low < 1.0)
    return Figures(low, high, low_open, high_open)


# --------------------------------------------------------------------------- look-through


@dataclass(frozen=True)
class LookThrough:
    figures: Figures
    structure: linear.Structure
    r: np.ndarray  # proven restricted share
    c: np.ndarray  # proven clean share


def look_through(ctx: Context) -> LookThrough:
    """Multiplicative method: r = A r (+1 at roots), c = A c (+1 at clean, + listed float)."""
    e = ctx.edges
    lin = any2(e.low > 0)
    st = linear.analyse(ctx.n, e.owner[lin], e.subject[lin])
    float_val, float_open = listed_float(ctx)
    b = np.zeros((ctx.n, 2, 2))
    b[ctx.is_root, :, 0] = 1.0
    b[ctx.is_clean, :, 1] = 1.0
    b[:, :, 1] += float_val
    measures = (0,) if ctx.same_measures else (0, 1)
    x = linear.solve(st, e.low[lin][:, measures], b[:, measures, :])
    if ctx.same_measures:
        x = np.repeat(x, 2, axis=1)
    r, c = x[:, :, 0], x[:, :, 1]
    r_open = np.zeros((ctx.n, 2), dtype=bool)
    c_open = np.zeros((ctx.n, 2), dtype=bool)
    for m in measures:
        r_open[:, m], c_open[:, m] = _open_reach(ctx, m, r[:, m], c[:, m], float_open[:, m])
    if ctx.same_measures:
        r_open[:, 1], c_open[:, 1] = r_open[:, 0], c_open[:, 0]
    fig = _finish(r, 1.0 - c, r_open, c_open)
    low, high, low_side, high_side = exact.refine(ctx, fig.low, fig.high)
    fig = Figures(low, high, fig.low_open, fig.high_open, low_side, high_side)
    return LookThrough(fig, st, r, c)


def listed_float(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Public float of listed entities: 1 - disclosed maxima (clean), with open flag."""
    e = ctx.edges
    rest = 1.0 - ctx.in_sum(e.high)
    any_open = ctx.in_sum(e.high_open.astype(np.float64)) > 0
    listed = ctx.is_listed[:, None]
    value = np.where(listed, np.maximum(rest, 0.0), 0.0)
    return value, listed & any_open & (rest >= -EPS)


def _open_reach(
    ctx: Context, m: int, r: np.ndarray, c: np.ndarray, c_extra: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Open-below flags of the product-sum fixed points r and c for measure m.

    A term share*x(owner) is open when a factor is open and both factors are provably
    positive; a sum is open when one of its terms is.  So the open nodes are those
    reachable from "seed" terms (open share, positive owner value) along edges whose share
    is provably positive.  One graph, two seed sets (r and c).
    """
    e = ctx.edges
    open_e = e.low_open[:, m]
    r_seeds = np.zeros(ctx.n, dtype=bool)
    r_seeds[e.subject[open_e & (r[e.owner] > 0)]] = True
    c_seeds = c_extra.copy()
    c_seeds[e.subject[open_e & (c[e.owner] > 0)]] = True
    prop = (e.low[:, m] > 0) | open_e
    r_found, c_found = linear.reach_many(ctx.n, e.owner[prop], e.subject[prop], [r_seeds, c_seeds])
    return (r_found & ctx.is_entity & (r < 1.0), c_found & ctx.is_entity & (c < 1.0))


# --------------------------------------------------------------------------- control chain


@dataclass(frozen=True)
class ControlChain:
    figures: Figures
    restricted: np.ndarray  # R_low: proven restricted
    proven_clean: np.ndarray  # C: proven not restricted (complement of R_high)


class _OutEdges:
    """Edges grouped by owner, for worklist propagation."""

    def __init__(self, ctx: Context) -> None:
        self.by_owner = np.argsort(ctx.edges.owner, kind="stable")
        self.ptr = np.zeros(ctx.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(ctx.edges.owner, minlength=ctx.n), out=self.ptr[1:])

    def of(self, owners: np.ndarray) -> np.ndarray:
        return self.by_owner[linear.gather_ranges(self.ptr, owners)]


def _restricted_least(ctx: Context, out: _OutEdges) -> np.ndarray:
    """R_low: roots, plus entities where R_low holders add up to a majority or control."""
    e = ctx.edges
    k = ctx.n_measures
    in_r = ctx.is_root.copy()
    acc = np.zeros((ctx.n, k))
    acc_open = np.zeros((ctx.n, k), dtype=np.int64)
    ctrl = np.zeros(ctx.n, dtype=bool)
    frontier = np.nonzero(in_r)[0]
    while frontier.size:
        ei = out.of(frontier)
        s = e.subject[ei]
        scatter_add(acc, s, e.low[ei, :k])
        scatter_add(acc_open, s, e.low_open[ei, :k].astype(np.int64))
        ctrl[s[e.control[ei]]] = True
        cand = distinct(s, ctx.n)
        cand = cand[~in_r[cand]]
        qualifies = any2(exceeds(acc[cand], acc_open[cand] > 0, ctx.t, ctx.inclusive))
        frontier = cand[qualifies | ctrl[cand]]
        in_r[frontier] = True
    return in_r


def _worst_case(
    ctx: Context,
    nodes: np.ndarray,
    sum_c: np.ndarray,
    sum_c_open: np.ndarray,
    not_c_high: np.ndarray,
    not_c_open: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """high_cc for ``nodes`` given sums over proven-clean (C) and other holders."""
    ent = 1.0 - sum_c
    ent_open = sum_c_open
    listed = ctx.is_listed[nodes][:, None]
    a_lt = not_c_high < ent - EPS
    b_lt = ent < not_c_high - EPS
    lst = np.minimum(not_c_high, ent)
    lst_open = np.where(a_lt, not_c_open, np.where(b_lt, ent_open, not_c_open | ent_open))
    return np.where(listed, lst, ent), np.where(listed, lst_open, ent_open)


def _proven_clean(ctx: Context, out: _OutEdges, blocked: np.ndarray) -> np.ndarray:
    """C: least set of proven-not-restricted nodes (R_high is its complement)."""
    e = ctx.edges
    k = ctx.n_measures
    in_c = ctx.is_clean.copy()
    sum_c = np.zeros((ctx.n, k))
    sum_c_open = np.zeros((ctx.n, k), dtype=np.int64)
    not_c_high = ctx.in_sum(e.high)[:, :k].copy()
    not_c_open = np.rint(ctx.in_sum(e.high_open.astype(np.float64))[:, :k]).astype(np.int64)
    ci = e.control | e.indicator
    pending = np.bincount(e.subject[ci], minlength=ctx.n)
    eligible = ctx.is_entity & ~blocked

    def absorb(members: np.ndarray) -> np.ndarray:
        """Move new C members' out-stakes from "not proven" to "proven clean" sums."""
        ei = out.of(members)
        s = e.subject[ei]
        scatter_add(sum_c, s, e.low[ei, :k])
        scatter_add(sum_c_open, s, e.low_open[ei, :k].astype(np.int64))
        scatter_add(not_c_high, s, -e.high[ei, :k])
        scatter_add(not_c_open, s, -e.high_open[ei, :k].astype(np.int64))
        scatter_add(pending, s[ci[ei]], -np.ones(int(ci[ei].sum()), dtype=np.int64))
        return s

    absorb(np.nonzero(in_c)[0])
    cand = np.nonzero(eligible)[0]  # first round: every entity (some need no clean owner)
    while cand.size:
        cand = cand[eligible[cand] & ~in_c[cand]]
        high, high_open = _worst_case(
            ctx, cand, sum_c[cand], sum_c_open[cand] > 0, not_c_high[cand], not_c_open[cand] > 0
        )
        ok = all2(within(high, high_open, ctx.t, ctx.inclusive)) & (pending[cand] == 0)
        new = cand[ok]
        in_c[new] = True
        cand = distinct(absorb(new), ctx.n)  # only subjects of new members can change
    return in_c


def control_chain(ctx: Context, data_error: np.ndarray) -> ControlChain:
    """OFAC-style aggregation with whole stakes; see docs/screening.md."""
    out = _OutEdges(ctx)
    in_r = _restricted_least(ctx, out)
    in_c = _proven_clean(ctx, out, data_error)
    e = ctx.edges
    r_own, c_own = in_r[e.owner], in_c[e.owner]
    low = ctx.in_sum(e.low, r_own)
    low_open = ctx.in_sum(e.low_open.astype(np.float64), r_own) > 0
    high, high_open = _worst_case(
        ctx,
        np.arange(ctx.n),
        ctx.in_sum(e.low, c_own),
        ctx.in_sum(e.low_open.astype(np.float64), c_own) > 0,
        ctx.in_sum(e.high, ~c_own),
        ctx.in_sum(e.high_open.astype(np.float64), ~c_own) > 0,
    )
    fixed = ~ctx.is_entity[:, None]
    root = ctx.is_root[:, None]
    low = np.where(fixed, np.where(root, 1.0, 0.0), low)
    high = np.where(fixed, np.where(root | ctx.is_unknown[:, None], 1.0, 0.0), high)
    low_open &= ~fixed
    high_open &= ~fixed
    return ControlChain(_finish(low, high, low_open, high_open), in_r, in_c)
