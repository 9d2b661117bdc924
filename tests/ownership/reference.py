"""A slow, obviously-correct reference screening in exact rational arithmetic.

Open bounds are modelled literally: an exclusiveMinimum adds an infinitesimal DELTA (a
tiny positive rational), an exclusiveMaximum subtracts it, and every comparison is then an
exact comparison of rationals.  Linear fixed points are solved by Fraction Gaussian
elimination on the nodes that can receive any value (the least fixed point is 0
elsewhere); set fixed points by plain "repeat until nothing changes" loops.  Only valid
data (disclosed minima <= 100 %) is supported, where these systems are non-singular.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cases.ownership import NodeClass

DELTA = Fraction(1, 10**30)
ENT = (NodeClass.ENTITY, NodeClass.LISTED_ENTITY)


@dataclass
class RefEdge:
    owner: int
    subject: int
    low: list[Fraction]
    high: list[Fraction]
    control: bool
    indicator: bool


def normalise(raw, delta):
    """raw: dicts with owner, subject, low[2], high[2], low_open[2], high_open[2],
    has[2], control, indicator (Fractions 0..1).  Applies the spec rules, merges pairs."""
    merged: dict[tuple[int, int], RefEdge] = {}
    for r in raw:
        low, high = [None, None], [None, None]
        for m in (0, 1):
            src = m if r["has"][m] else 1 - m
            if not r["has"][0] and not r["has"][1]:
                low[m] = high[m] = Fraction(0)
                continue
            low[m] = r["low"][src] + (delta if r["low_open"][src] else 0)
            high[m] = r["high"][src] - (delta if r["high_open"][src] else 0)
        key = (r["owner"], r["subject"])
        if key in merged:
            e = merged[key]
            e.low = [a + b for a, b in zip(e.low, low, strict=True)]
            e.high = [a + b for a, b in zip(e.high, high, strict=True)]
            e.control |= r["control"]
            e.indicator |= r["indicator"]
        else:
            merged[key] = RefEdge(r["owner"], r["subject"], low, high, r["control"], r["indicator"])
    for e in merged.values():
        e.high = [min(Fraction(1), h) for h in e.high]
    return list(merged.values())


def gauss_solve(a, b):
    """Solve a x = b exactly (a square list of lists of Fractions)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = next(r for r in range(col, n) if m[r][col] != 0)
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col and m[r][col] != 0:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def linear_lfp(cls, edges, m, fixed_val, beta_extra):
    """Least fixed point of x_E = sum w x_o + beta_E over entities; fixed nodes given."""
    n = len(cls)
    ent = [i for i in range(n) if cls[i] in ENT]
    beta = {i: beta_extra[i] for i in ent}
    for e in edges:
        if cls[e.owner] not in ENT:
            beta[e.subject] += e.low[m] * fixed_val[e.owner]
    live = {i for i in ent if beta[i] > 0}
    changed = True
    while changed:
        changed = False
        for e in edges:
            if e.owner in live and e.low[m] > 0 and e.subject not in live:
                live.add(e.subject)
                changed = True
    live = sorted(live)
    idx = {v: k for k, v in enumerate(live)}
    a = [[Fraction(int(i == j)) for j in range(len(live))] for i in range(len(live))]
    for e in edges:
        if e.owner in idx and e.subject in idx:
            a[idx[e.subject]][idx[e.owner]] -= e.low[m]
    sol = gauss_solve(a, [beta[v] for v in live]) if live else []
    x = [fixed_val[i] if cls[i] not in ENT else Fraction(0) for i in range(n)]
    for v, val in zip(live, sol, strict=True):
        x[v] = val
    return x


def reference(cls, raw, threshold, inclusive, delta=DELTA):
    """Figures (Fraction, per node, per measure) and outcomes for both methods."""
    n = len(cls)
    edges = [e for e in normalise(raw, delta) if cls[e.subject] in ENT]

    def exceeds(v):
        return v >= threshold if inclusive else v > threshold

    def within(v):
        return v < threshold if inclusive else v <= threshold

    root = [c == NodeClass.RESTRICTED_ROOT for c in cls]
    clean = [c == NodeClass.CLEAN_TERMINAL for c in cls]
    unknown = [c == NodeClass.UNKNOWN_TERMINAL for c in cls]
    lt_low, lt_high, cc_low, cc_high = ([[None, None] for _ in range(n)] for _ in range(4))
    for m in (0, 1):
        r = linear_lfp(cls, edges, m, [Fraction(int(x)) for x in root], [Fraction(0)] * n)
        flt = [Fraction(0)] * n
        for i in range(n):
            if cls[i] == NodeClass.LISTED_ENTITY:
                flt[i] = max(Fraction(0), 1 - sum(e.high[m] for e in edges if e.subject == i))
        c = linear_lfp(cls, edges, m, [Fraction(int(x)) for x in clean], flt)
        for i in range(n):
            lt_low[i][m], lt_high[i][m] = r[i], 1 - c[i]

    lt_block = {i for i in range(n) if root[i] or (cls[i] in ENT and any(exceeds(v) for v in lt_low[i]))}
    lt_nonallow = {
        i for i in range(n) if root[i] or unknown[i] or (cls[i] in ENT and not all(within(v) for v in lt_high[i]))
    }
    _close(lt_block, edges, lambda e: e.control)
    _close(lt_nonallow, edges, lambda e: e.control or e.indicator)

    in_r = {i for i in range(n) if root[i]}
    changed = True
    while changed:
        changed = False
        for s in range(n):
            if cls[s] not in ENT or s in in_r:
                continue
            ins = [e for e in edges if e.subject == s and e.owner in in_r]
            if any(e.control for e in ins) or any(exceeds(sum(e.low[m] for e in ins)) for m in (0, 1)):
                in_r.add(s)
                changed = True

    def worst(s, in_c, m):
        ins = [e for e in edges if e.subject == s]
        ent = 1 - sum(e.low[m] for e in ins if e.owner in in_c)
        if cls[s] == NodeClass.LISTED_ENTITY:
            return min(sum(e.high[m] for e in ins if e.owner not in in_c), ent)
        return ent

    in_c = {i for i in range(n) if clean[i]}
    changed = True
    while changed:
        changed = False
        for s in range(n):
            if cls[s] not in ENT or s in in_c:
                continue
            holders_ok = all(e.owner in in_c for e in edges if e.subject == s and (e.control or e.indicator))
            if holders_ok and all(within(worst(s, in_c, m)) for m in (0, 1)):
                in_c.add(s)
                changed = True
    for s in range(n):
        for m in (0, 1):
            if cls[s] in ENT:
                cc_low[s][m] = sum((e.low[m] for e in edges if e.subject == s and e.owner in in_r), Fraction(0))
                cc_high[s][m] = worst(s, in_c, m)
            else:
                cc_low[s][m] = Fraction(int(root[s]))
                cc_high[s][m] = Fraction(int(root[s] or unknown[s]))
    lt_out = [2 if i in lt_block else 1 if i in lt_nonallow else 0 for i in range(n)]
    cc_out = [2 if i in in_r else 0 if i in in_c else 1 for i in range(n)]
    return {
        "lt_low": lt_low,
        "lt_high": lt_high,
        "cc_low": cc_low,
        "cc_high": cc_high,
        "lt_out": lt_out,
        "cc_out": cc_out,
    }


def _close(members, edges, use):
    changed = True
    while changed:
        changed = False
        for e in edges:
            if use(e) and e.owner in members and e.subject not in members:
                members.add(e.subject)
                changed = True
