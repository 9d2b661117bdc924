"""Lazy, bounded explanations for one node: readable reasons and the top paths.

Paths are found by best-first search backwards from the node over in-force edges (simple
paths only, depth- and expansion-bounded), so asking for one node never costs more than a
neighbourhood, and totals are never computed from paths.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .types import EPS, Method, NodeClass, Outcome, Reason

if TYPE_CHECKING:
    from .engine import ScreeningResult

MAX_DEPTH = 12
MAX_EXPANSIONS = 20_000


@dataclass(frozen=True)
class Path:
    """Owner-most node first, subject last; shares and contribution in percent."""

    method: Method
    nodes: list[int]
    shares: list[float]
    contribution: float
    measure: int = 0


@dataclass(frozen=True)
class Explanation:
    node: int
    outcome: Outcome
    reasons: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _View:
    """Plain-Python copies of the arrays the searches touch.

    Explanations walk a few edges per node; indexing numpy arrays one scalar at a
    time costs several times more than indexing lists, and a portfolio run
    explains every entity.
    """

    node_class: list[int]
    owner: list[int]
    low: tuple[list[float], list[float]]
    lt_low: tuple[list[float], list[float]]
    cc_restricted: list[bool]
    control: list[bool]
    indicator: list[bool]
    in_ptr: list[int]


def _view(res: ScreeningResult) -> _View:
    view = res.__dict__.get("_explain_view")
    if view is None:
        e = res.edges
        n = res.graph.n_nodes
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(e.subject, minlength=n), out=ptr[1:])
        view = _View(
            node_class=res.graph.node_class.tolist(),
            owner=e.owner.tolist(),
            low=(e.low[:, 0].tolist(), e.low[:, 1].tolist()),
            lt_low=(res.lt.low[:, 0].tolist(), res.lt.low[:, 1].tolist()),
            cc_restricted=res.cc_restricted.tolist(),
            control=e.control.tolist(),
            indicator=e.indicator.tolist(),
            in_ptr=ptr.tolist(),
        )
        res.__dict__["_explain_view"] = view
    return view


@dataclass(frozen=True)
class _Facts:
    """What one node's explanation reads of the result, as plain Python values (``_facts_of``).

    ``lt``/``cc`` are (driving measure, low, high, outcome label) of each method, the figures as the
    engine's floats; ``err`` the data-error flag per measure.
    """

    node_class: int
    reasons: int
    outcome: int
    lt: tuple[int, float, float, str]
    cc: tuple[int, float, float, str]
    err: tuple[bool, bool]
    disclosed_min: float  # the smaller disclosed minimum of the two measures


_LABELS = [outcome.label for outcome in sorted(Outcome)]


def _driving(fig_low: np.ndarray, fig_high: np.ndarray) -> np.ndarray:
    """``ScreeningResult.driving_measure`` of every row: larger low, then larger high (with ``EPS``)."""
    by_low = np.abs(fig_low[:, 0] - fig_low[:, 1]) > EPS
    by_high = np.where(fig_high[:, 0] >= fig_high[:, 1] - EPS, 0, 1)
    return np.where(by_low, np.argmax(fig_low, axis=1), by_high)


def _facts_of(res: ScreeningResult, nodes) -> list[_Facts]:
    """``_Facts`` of many nodes with numpy: one pass over the arrays instead of scalar reads per node."""
    nodes = np.asarray(nodes, dtype=np.int64).reshape(-1)
    picked = np.arange(nodes.size)
    methods = []
    for fig, outcomes in ((res.lt, res.lt_outcome), (res.cc, res.cc_outcome)):
        lows, highs = fig.low[nodes], fig.high[nodes]
        m = _driving(lows, highs)
        labels = [_LABELS[value] for value in outcomes[nodes].tolist()]
        methods.append(zip(m.tolist(), lows[picked, m].tolist(), highs[picked, m].tolist(), labels, strict=True))
    err = res.data_error[nodes]
    return [
        _Facts(cls, flags, out, lt, cc, (e0, e1), disclosed)
        for cls, flags, out, lt, cc, e0, e1, disclosed in zip(
            res.graph.node_class[nodes].tolist(),
            res.reasons[nodes].tolist(),
            res.outcome[nodes].tolist(),
            *methods,
            err[:, 0].tolist(),
            err[:, 1].tolist(),
            res.disclosed_low[nodes].min(axis=1).tolist(),
            strict=True,
        )
    ]


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _name(res: ScreeningResult, node: int, labels: Any = None) -> str:
    if labels is not None:
        return str(labels[node])
    return res.graph.label(node)


# --------------------------------------------------------------------------- paths


def look_through_paths(res: ScreeningResult, node: int, max_paths: int, measure: int | None = None) -> list[Path]:
    """Top-k restricted-root-to-node chains by product of proven shares.

    The search is best-first and deterministic, so the first k paths of a larger ``max_paths`` are the
    k paths (``explain`` searches once for both the paths it shows and the owners it counts).
    """
    m = res.driving_measure(node, Method.LOOK_THROUGH) if measure is None else measure
    v = _view(res)
    lt_low, low, owners, cls, ptr = v.lt_low[m], v.low[m], v.owner, v.node_class, v.in_ptr
    if lt_low[node] <= 0:
        return []  # no chain can carry a positive product into a node with nothing proven
    root = int(NodeClass.RESTRICTED_ROOT)
    heap: list[tuple[float, int, int, tuple[int, ...], tuple[float, ...]]] = [(-1.0, 0, node, (node,), ())]
    found: list[Path] = []
    counter = expansions = 0
    while heap and len(found) < max_paths and expansions < MAX_EXPANSIONS:
        neg, _, cur, chain, shares = heapq.heappop(heap)
        if cls[cur] == root and cur != node:
            found.append(Path(Method.LOOK_THROUGH, list(chain), [100 * s for s in shares], -100 * neg, m))
            continue
        if len(chain) > MAX_DEPTH:
            continue
        expansions += 1
        for ei in range(ptr[cur], ptr[cur + 1]):
            owner, share = owners[ei], low[ei]
            if share <= 0 or owner in chain or lt_low[owner] <= 0:
                continue
            counter += 1
            heapq.heappush(heap, (neg * share, counter, owner, (owner, *chain), (share, *shares)))
    return found


def _best_restricted_holder(v: _View, node: int, m: int, exclude: set[int]) -> tuple[int, float] | None:
    best: tuple[int, float] | None = None
    low = v.low[m]
    for ei in range(v.in_ptr[node], v.in_ptr[node + 1]):
        owner = v.owner[ei]
        if owner in exclude or not v.cc_restricted[owner]:
            continue
        if best is None or low[ei] > best[1]:
            best = (owner, low[ei])
    return best


def control_chain_paths(res: ScreeningResult, node: int, max_paths: int, measure: int | None = None) -> list[Path]:
    """Proven-restricted direct holders, each traced back through restricted parties."""
    m = res.driving_measure(node, Method.CONTROL_CHAIN) if measure is None else measure
    v = _view(res)
    low = v.low[m]
    holders = [
        (low[ei], v.owner[ei])
        for ei in range(v.in_ptr[node], v.in_ptr[node + 1])
        if v.cc_restricted[v.owner[ei]] and v.owner[ei] != node
    ]
    holders.sort(reverse=True)
    root = int(NodeClass.RESTRICTED_ROOT)
    paths = []
    for share, owner in holders[:max_paths]:
        chain, shares = [owner, node], [100 * share]
        while v.node_class[chain[0]] != root and len(chain) <= MAX_DEPTH:
            prev = _best_restricted_holder(v, chain[0], m, set(chain))
            if prev is None:
                break
            chain.insert(0, prev[0])
            shares.insert(0, 100 * prev[1])
        paths.append(Path(Method.CONTROL_CHAIN, chain, shares, 100 * share, m))
    return paths


# --------------------------------------------------------------------------- reasons


def _threshold_words(res: ScreeningResult) -> str:
    words = res.__dict__.get("_threshold_words")
    if words is None:  # the same for every node of a result: worded once
        t = float(res.policy.threshold) * 100
        words = res.__dict__["_threshold_words"] = f"{'at least' if res.policy.inclusive else 'more than'} {t:g} %"
    return words


#: Paths searched to count the restricted parties a look-through sentence names.
OWNER_PATHS = 50


def _method_sentence(
    res: ScreeningResult, node: int, method: Method, facts: _Facts | None = None, lt_paths: list[Path] | None = None
) -> str:
    """One method's sentence; ``lt_paths`` are ``look_through_paths(res, node, OWNER_PATHS)`` if known."""
    facts = facts or _facts_of(res, [node])[0]
    is_lt = method is Method.LOOK_THROUGH
    m, low, high, label = facts.lt if is_lt else facts.cc
    measure = "voting rights" if m == 1 else "shareholding"
    if is_lt:
        if lt_paths is None:
            lt_paths = look_through_paths(res, node, OWNER_PATHS, m)
        owners = {p.nodes[0] for p in lt_paths}
        head = f"Look-through ({measure}): {100 * low:.2f} % restricted (proven)"  # _pct, inlined
        if owners:
            head += f" from {len(owners)} restricted part{'ies' if len(owners) != 1 else 'y'}"
    else:
        head = f"Control chain ({measure}): restricted parties hold {100 * low:.2f} % (aggregated)"
    if abs(high - low) > EPS:
        head += f", up to {100 * high:.2f} % in the worst case"
    return f"{head}; outcome {label} (majority means {_threshold_words(res)})"


def _holder_sentences(res: ScreeningResult, node: int, labels: Any) -> list[str]:
    v = _view(res)
    out = []
    for ei in range(v.in_ptr[node], v.in_ptr[node + 1]):
        if not (v.control[ei] or v.indicator[ei]):
            continue
        owner = v.owner[ei]
        name = _name(res, owner, labels)
        proven = res.lt_blocked[owner] or res.cc_restricted[owner]
        maybe = res.lt_not_allowed[owner] or not res.cc_proven_clean[owner]
        if v.control[ei] and proven:
            out.append(f"Controlled by restricted party {name} via control interest")
        elif v.control[ei] and maybe:
            out.append(f"Control interest held by {name}, who may be restricted")
        if v.indicator[ei] and maybe:
            out.append(f"Influence/nominee/unknown interest held by {name}, who is or may be restricted")
    return out


_ROOT_FLAG = int(Reason.RESTRICTED_ROOT)
_UNKNOWN_PARTY_FLAG = int(Reason.UNKNOWN_PARTY)
_UNKNOWN_OWNERSHIP_FLAG = int(Reason.UNKNOWN_OWNERSHIP)
_CLOSED_CYCLE_FLAG = int(Reason.CLOSED_CYCLE)
_CYCLE_FLAG = int(Reason.CYCLE)


def reason_sentences(
    res: ScreeningResult,
    node: int,
    labels: Any = None,
    facts: _Facts | None = None,
    lt_paths: list[Path] | None = None,
) -> list[str]:
    facts = facts or _facts_of(res, [node])[0]
    flags, cls = facts.reasons, facts.node_class
    if flags & _ROOT_FLAG:
        return ["Restricted root: the party itself is restricted (100 % restricted whatever its owners)"]
    if cls == NodeClass.CLEAN_TERMINAL:
        return ["Clean party (no restricted attribute)"]
    if flags & _UNKNOWN_PARTY_FLAG:
        return ["Unknown or unspecified party: treated as possibly restricted"]
    out = [
        _method_sentence(res, node, Method.LOOK_THROUGH, facts, lt_paths),
        _method_sentence(res, node, Method.CONTROL_CHAIN, facts),
    ]
    out += _holder_sentences(res, node, labels)
    if flags & _UNKNOWN_OWNERSHIP_FLAG:
        undisclosed = 1.0 - facts.disclosed_min
        if cls == NodeClass.ENTITY and undisclosed > EPS:
            out.append(f"Owners undisclosed for up to {_pct(undisclosed)}")
        else:
            out.append("Some owners are unknown or unspecified parties")
    if flags & _CLOSED_CYCLE_FLAG:
        out.append("Ownership cycle without outside owners")
    elif flags & _CYCLE_FLAG:
        out.append("Part of an ownership cycle (cross-holdings)")
    for m, measure in ((0, "shareholding"), (1, "voting rights")):
        if facts.err[m]:
            out.append(f"Disclosed minimum {measure} adds up to {_pct(res.disclosed_low[node, m])} (data error)")
    return out


def _root_note_sentences(
    res: ScreeningResult, node: int, paths: list, labels: Any, root_notes: Mapping[int, list[str]]
) -> list[str]:
    """Why each restricted party behind ``node`` is restricted, when the caller knows (e.g. the list it is on).

    The notes are data the adapter passes in (list membership is not the engine's business);
    a party counts if it starts a contributing path or holds a control interest in ``node``.
    """
    parties = [p.nodes[0] for p in paths]
    v = _view(res)
    parties += [int(v.owner[ei]) for ei in range(v.in_ptr[node], v.in_ptr[node + 1]) if v.control[ei]]
    return [
        f"Restricted party {_name(res, party, labels)}: {note}"
        for party in dict.fromkeys(parties)
        if party != node
        for note in root_notes.get(party, ())
    ]


def explain(
    res: ScreeningResult,
    node: int,
    max_paths: int = 10,
    labels: Any = None,
    root_notes: Mapping[int, list[str]] | None = None,
    facts: _Facts | None = None,
):
    facts = facts or _facts_of(res, [node])[0]
    paths = []
    lt_paths = None
    if facts.node_class in (NodeClass.ENTITY, NodeClass.LISTED_ENTITY):
        found = look_through_paths(res, node, max(max_paths, OWNER_PATHS), facts.lt[0])
        lt_paths = found[:OWNER_PATHS]
        paths = found[:max_paths] + control_chain_paths(res, node, max_paths, facts.cc[0])
    reasons = reason_sentences(res, node, labels, facts, lt_paths)
    if root_notes:
        reasons += _root_note_sentences(res, node, paths, labels, root_notes)
    return Explanation(node, Outcome(facts.outcome), reasons, paths)


def _method_dict(res: ScreeningResult, node: int, method: Method, facts: _Facts | None = None) -> dict:
    facts = facts or _facts_of(res, [node])[0]
    _, low, high, label = facts.lt if method is Method.LOOK_THROUGH else facts.cc
    return {"outcome": label, "low": round(low * 100, 9), "high": round(high * 100, 9)}


def method_dicts(res: ScreeningResult, node: int, facts: _Facts | None = None) -> dict:
    facts = facts or _facts_of(res, [node])[0]
    return {
        "look_through": _method_dict(res, node, Method.LOOK_THROUGH, facts),
        "control_chain": _method_dict(res, node, Method.CONTROL_CHAIN, facts),
    }


def decision_dict(
    res: ScreeningResult,
    node: int,
    labels: Any = None,
    max_paths: int = 10,
    path_labels: Any = None,
    root_notes: Mapping[int, list[str]] | None = None,
) -> dict:
    """Spec section 11 shape, without entity/as_of/policy_version (the caller adds them).

    ``labels`` name nodes in the reasons (people read them); ``path_labels``, when
    given, name the path nodes instead (machines match them, e.g. external ids).
    """
    return decision_dicts(res, [node], labels, max_paths, path_labels, root_notes)[0]


def decision_dicts(
    res: ScreeningResult,
    nodes,
    labels: Any = None,
    max_paths: int = 10,
    path_labels: Any = None,
    root_notes: Mapping[int, list[str]] | None = None,
) -> list[dict]:
    """``decision_dict`` of many nodes: what every node reads of the result arrays is read for all of them
    at once (``_facts_of``), so a portfolio chunk pays numpy once and only the searches and sentences per node."""
    node_names = labels if path_labels is None else path_labels
    named = node_names is not None or bool(res.graph.node_labels)

    def name(i: int) -> Any:
        return _name(res, i, node_names) if named else i

    nodes = np.asarray(nodes, dtype=np.int64).reshape(-1)
    out = []
    for node, facts in zip(nodes.tolist(), _facts_of(res, nodes), strict=True):
        exp = explain(res, node, max_paths, labels, root_notes, facts)
        out.append(
            {
                "outcome": exp.outcome.label,
                "methods": method_dicts(res, node, facts),
                "reasons": exp.reasons,
                "paths": [
                    {
                        "method": p.method.value,
                        "nodes": [name(i) for i in p.nodes],
                        "shares": [round(s, 9) for s in p.shares],
                        "contribution": round(p.contribution, 9),
                    }
                    for p in exp.paths
                ],
            }
        )
    return out


__all__ = ["Explanation", "Path", "decision_dict", "decision_dicts", "explain", "method_dicts"]
