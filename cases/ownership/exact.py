"""Exact rational re-check of look-through figures that land next to the threshold.

Floats plus a 1e-9 tolerance decide every boundary correctly unless a figure is a long
product whose true value differs from T by less than the tolerance.  For the few nodes
whose look-through figure is within :data:`NEAR` of T *and* involves a product (an entity
holds a positive stake in it; plain sums of decimal stakes with up to 6 decimal places in
percent never come closer than 1e-8 to T without equalling it), this module rebuilds the node's
upstream subgraph (if it has at most :data:`MAX_UPSTREAM` entities), reads every share back
as the decimal it was written as, and solves the look-through equations exactly with
``fractions.Fraction``.  The result is the exact sign of (figure - T), used by the
comparisons in place of the tolerance, and the figure itself (correctly rounded).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .numeric import UNKNOWN_SIDE, any2
from .types import EPS, NodeClass

if TYPE_CHECKING:
    from .methods import Context

#: Zone re-checked: only here can the 1e-9 tolerance decide a comparison (float rounding
#: error of the figures is below 1e-12).
NEAR = 2 * EPS
MAX_UPSTREAM = 60
MAX_NODES = 200


@lru_cache(maxsize=65_536)
def rational(x: float) -> Fraction:
    """The decimal a float share was parsed from: the shortest decimal that rounds to it.

    Shares come from exact decimal percentages converted to the nearest float, so the
    shortest round-tripping decimal (``repr``) is the original for up to 15 significant
    digits.
    """
    return Fraction(repr(float(x)))


def _in_rows(ctx: Context, ptr: np.ndarray, v: int, m: int) -> list[tuple]:
    """(owner, owner class, low, high) of the edges into v, as Python values."""
    e = ctx.edges
    a, b = int(ptr[v]), int(ptr[v + 1])
    owners = e.owner[a:b].tolist()
    return list(
        zip(owners, ctx.cls[e.owner[a:b]].tolist(), e.low[a:b, m].tolist(), e.high[a:b, m].tolist(), strict=True)
    )


def _upstream(ctx: Context, ptr: np.ndarray, node: int) -> list[int] | None:
    """Entities whose values reach ``node`` (itself included); None if too many."""
    e = ctx.edges
    entity = (NodeClass.ENTITY, NodeClass.LISTED_ENTITY)
    seen, stack = {node}, [node]
    while stack:
        cur = stack.pop()
        a, b = int(ptr[cur]), int(ptr[cur + 1])
        positive = (e.low[a:b] > 0).any(axis=1).tolist()
        for owner, cls, pos in zip(e.owner[a:b].tolist(), ctx.cls[e.owner[a:b]].tolist(), positive, strict=True):
            if pos and owner not in seen and cls in entity:
                seen.add(owner)
                if len(seen) > MAX_UPSTREAM:
                    return None
                stack.append(owner)
    return sorted(seen)


def _solve(a: list[list[Fraction]], b: list[Fraction]) -> list[Fraction] | None:
    """Gauss-Jordan elimination; None if singular."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = next((r for r in range(col, n) if m[r][col] != 0), None)
        if piv is None:
            return None
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col and m[r][col] != 0:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def _fixed(cls: int, quantity: str) -> Fraction:
    if quantity == "r":
        return Fraction(int(cls == NodeClass.RESTRICTED_ROOT))
    return Fraction(int(cls == NodeClass.CLEAN_TERMINAL))


def _exact_values(ctx: Context, ptr: np.ndarray, nodes: list[int], m: int, quantity: str) -> dict[int, Fraction] | None:
    """Least fixed point of r (or c) on ``nodes`` for measure m, exactly."""
    index = {v: i for i, v in enumerate(nodes)}
    beta = [Fraction(0)] * len(nodes)
    inner: list[tuple[int, int, Fraction]] = []
    for v in nodes:
        lows, highs = Fraction(0), Fraction(0)
        for owner, cls, low, high in _in_rows(ctx, ptr, v, m):
            w = rational(low)
            lows += w
            highs += rational(high)
            if owner in index:
                if w:
                    inner.append((index[v], index[owner], w))
            elif w:
                beta[index[v]] += w * _fixed(cls, quantity)
        if lows > 1:
            return None  # data error: leave it to the capped float computation
        if quantity == "c" and int(ctx.cls[v]) == NodeClass.LISTED_ENTITY:
            beta[index[v]] += max(Fraction(0), 1 - highs)
    live = {i for i, b in enumerate(beta) if b > 0}
    grew = True
    while grew:
        grew = False
        for row, col, _ in inner:
            if col in live and row not in live:
                live.add(row)
                grew = True
    order = sorted(live)
    pos = {v: k for k, v in enumerate(order)}
    a = [[Fraction(int(i == j)) for j in range(len(order))] for i in range(len(order))]
    for row, col, w in inner:
        if row in pos and col in pos:
            a[pos[row]][pos[col]] -= w
    sol = _solve(a, [beta[i] for i in order]) if order else []
    if sol is None:
        return None
    values = {v: Fraction(0) for v in nodes}
    for i, val in zip(order, sol, strict=True):
        values[nodes[i]] = val
    return values


def _products(ctx: Context, ptr: np.ndarray, near: np.ndarray) -> list[int]:
    """The first MAX_NODES near nodes in which an entity holds a positive stake."""
    e = ctx.edges
    out: list[int] = []
    for node in near.tolist():
        a, b = int(ptr[node]), int(ptr[node + 1])
        if (ctx.is_entity[e.owner[a:b]] & (e.low[a:b] > 0).any(axis=1)).any():
            out.append(node)
            if len(out) >= MAX_NODES:
                break
    return out


def refine(ctx: Context, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact sides (and corrected values) of look-through figures near the threshold."""
    t = Fraction(ctx.threshold)
    low_side = np.full(low.shape, UNKNOWN_SIDE, dtype=np.int8)
    high_side = np.full(high.shape, UNKNOWN_SIDE, dtype=np.int8)
    near = ctx.is_entity & any2((np.abs(low - ctx.t) <= NEAR) | (np.abs(high - ctx.t) <= NEAR))
    if not near.any():
        return low, high, low_side, high_side
    ptr = np.zeros(ctx.n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ctx.edges.subject, minlength=ctx.n), out=ptr[1:])
    candidates = _products(ctx, ptr, np.flatnonzero(near))
    low, high = low.copy(), high.copy()
    for node in candidates:
        nodes = _upstream(ctx, ptr, node)
        if nodes is None:
            continue
        for m in (0,) if ctx.same_measures else (0, 1):
            r = _exact_values(ctx, ptr, nodes, m, "r")
            c = _exact_values(ctx, ptr, nodes, m, "c")
            if r is None or c is None:
                break
            lo, hi = min(r[node], Fraction(1)), 1 - min(c[node], Fraction(1))
            low[node, m], high[node, m] = float(lo), float(hi)
            low_side[node, m] = (lo > t) - (lo < t)
            high_side[node, m] = (hi > t) - (hi < t)
    if ctx.same_measures:
        for arr in (low, high, low_side, high_side):
            arr[:, 1] = arr[:, 0]
    return low, high, low_side, high_side
