"""``screen()``: both methods, outcomes and reason flags for every node at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import linear
from .explain import decision_dict, decision_dicts, explain, method_dicts
from .graph import Edges, Graph, prepare_edges
from .methods import Context, ControlChain, Figures, LookThrough, control_chain, look_through
from .numeric import all2, any2, exceeds
from .types import EPS, Method, NodeClass, Outcome, Policy, Reason


@dataclass(eq=False)
class ScreeningResult:
    """Per-node arrays (figures are fractions 0..1, indexed ``[node, measure]``).

    ``lt_*`` are look-through figures, ``cc_*`` control-chain figures; ``*_low_open`` means
    the true value is strictly above, ``*_high_open`` strictly below.  Outcomes are int8
    :class:`Outcome` values; ``reasons`` is an int32 :class:`Reason` bitmask.
    """

    graph: Graph
    policy: Policy
    as_of_day: int | None
    edges: Edges
    lt: Figures
    cc: Figures
    lt_outcome: np.ndarray
    cc_outcome: np.ndarray
    outcome: np.ndarray
    reasons: np.ndarray
    data_error: np.ndarray  # bool[n, 2]: disclosed minima add up to more than 100 %
    disclosed_low: np.ndarray  # float[n, 2]: sum of disclosed minimum stakes
    lt_blocked: np.ndarray  # bool[n]: LT BLOCK set (incl. via control)
    lt_not_allowed: np.ndarray  # bool[n]: LT non-ALLOW set
    cc_restricted: np.ndarray  # bool[n]: R_low
    cc_proven_clean: np.ndarray  # bool[n]: C (complement of R_high)
    structure: linear.Structure
    _in_ptr: np.ndarray | None = field(default=None, repr=False)

    # Convenience views -------------------------------------------------------------
    @property
    def lt_low(self) -> np.ndarray:
        return self.lt.low

    @property
    def lt_high(self) -> np.ndarray:
        return self.lt.high

    @property
    def cc_low(self) -> np.ndarray:
        return self.cc.low

    @property
    def cc_high(self) -> np.ndarray:
        return self.cc.high

    def in_edges(self, node: int) -> np.ndarray:
        """Indices into ``edges`` of the in-force edges into entity ``node`` (by subject)."""
        if self._in_ptr is None:
            ptr = np.zeros(self.graph.n_nodes + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.edges.subject, minlength=self.graph.n_nodes), out=ptr[1:])
            self._in_ptr = ptr
        return np.arange(self._in_ptr[node], self._in_ptr[node + 1])

    def driving_measure(self, node: int, method: Method) -> int:
        """The measure whose figures drive the outcome: larger low, then larger high."""
        fig = self.lt if method is Method.LOOK_THROUGH else self.cc
        lows, highs = fig.low[node], fig.high[node]
        if abs(lows[0] - lows[1]) > EPS:
            return int(np.argmax(lows))
        return 0 if highs[0] >= highs[1] - EPS else 1

    def method_figures(self, node: int) -> dict:
        """Both methods' outcome and [low, high] in percent (driving measure): the numeric decision."""
        return method_dicts(self, int(node))

    def figure_rows(self, nodes: np.ndarray) -> list[tuple]:
        """``method_figures`` of many nodes as flat tuples (look-through outcome label, low, high,
        control-chain outcome label, low, high), the driving measure picked for all nodes at once.

        A run where nothing changed compares these with the stored figures for every entity; one
        dict per node and method cost more than the comparison itself. Same values as
        ``method_figures``: the same float products, rounded by the same ``round``.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        picked = np.arange(nodes.size)
        columns: list[list] = []
        for fig, outcomes in ((self.lt, self.lt_outcome), (self.cc, self.cc_outcome)):
            lows, highs = fig.low[nodes], fig.high[nodes]
            by_low = np.abs(lows[:, 0] - lows[:, 1]) > EPS
            by_high = np.where(highs[:, 0] >= highs[:, 1] - EPS, 0, 1)
            measure = np.where(by_low, np.argmax(lows, axis=1), by_high)
            columns.append([_OUTCOME_LABELS[value] for value in outcomes[nodes].tolist()])
            columns.append([round(value, 9) for value in (lows[picked, measure] * 100).tolist()])
            columns.append([round(value, 9) for value in (highs[picked, measure] * 100).tolist()])
        return list(zip(*columns, strict=True))

    def figure_columns(self, nodes: np.ndarray) -> tuple[np.ndarray, ...]:
        """``figure_rows`` as six columns (look-through outcome, low, high, control-chain outcome,
        low, high; outcomes as int ``Outcome`` values), with no Python per node.

        A portfolio run compares these with the stored figures of a million decisions in bulk. The
        values are bit for bit those of ``figure_rows``: ``rint(x * 1e9) / 1e9`` is the double
        nearest to the decimal Python's ``round(x, 9)`` picks (both integers are exact and IEEE
        division rounds correctly) except where ``x * 1e9`` lies within float error of a half, and
        those few values are rounded by ``round`` itself.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        picked = np.arange(nodes.size)
        columns: list[np.ndarray] = []
        for fig, outcomes in ((self.lt, self.lt_outcome), (self.cc, self.cc_outcome)):
            lows, highs = fig.low[nodes], fig.high[nodes]
            by_low = np.abs(lows[:, 0] - lows[:, 1]) > EPS
            by_high = np.where(highs[:, 0] >= highs[:, 1] - EPS, 0, 1)
            measure = np.where(by_low, np.argmax(lows, axis=1), by_high)
            columns.append(outcomes[nodes].astype(np.int8))
            columns.append(_round9(lows[picked, measure] * 100))
            columns.append(_round9(highs[picked, measure] * 100))
        return tuple(columns)

    def explain(self, node: int, max_paths: int = 10):
        return explain(self, int(node), max_paths)

    def decision_dict(
        self, node: int, labels: Any = None, max_paths: int = 10, path_labels: Any = None, root_notes=None
    ) -> dict:
        return decision_dict(self, int(node), labels, max_paths, path_labels, root_notes)

    def decision_dicts(
        self, nodes, labels: Any = None, max_paths: int = 10, path_labels: Any = None, root_notes=None
    ) -> list[dict]:
        """``decision_dict`` of every node in ``nodes``, the per-node reads of the arrays done for all at once."""
        return decision_dicts(self, nodes, labels, max_paths, path_labels, root_notes)


_OUTCOME_LABELS = {int(outcome): outcome.label for outcome in Outcome}


def _round9(values: np.ndarray) -> np.ndarray:
    """Python's ``round(value, 9)`` of every value, vectorised (see ``figure_columns``)."""
    scaled = values * 1e9
    rounded = np.rint(scaled) / 1e9
    fraction = scaled - np.floor(scaled)
    near_half = np.nonzero(np.abs(fraction - 0.5) < 1e-3)[0]
    if near_half.size:
        rounded[near_half] = [round(value, 9) for value in values[near_half].tolist()]
    return rounded


def screen(graph: Graph, policy: Policy | None = None, *, as_of_day: int | None = None) -> ScreeningResult:
    """Screen every node of ``graph`` under ``policy`` on ``as_of_day`` (None: all edges)."""
    policy = policy or Policy()
    cls = graph.node_class
    # Only edges into ordinary / listed entities matter: roots and terminals are fixed.
    edges = prepare_edges(graph, as_of_day, np.isin(cls, (NodeClass.ENTITY, NodeClass.LISTED_ENTITY)))
    ctx = Context(graph.n_nodes, cls, edges, float(policy.threshold), policy.inclusive, policy.threshold)
    disclosed = ctx.in_sum(edges.low)
    disclosed_open = ctx.in_sum(edges.low_open.astype(np.float64)) > 0
    data_error = exceeds(disclosed, disclosed_open, 1.0, False) & ctx.is_entity[:, None]
    err_any = any2(data_error)
    lt = look_through(ctx)
    cc = control_chain(ctx, err_any)
    lt_blocked, lt_not_allowed = _look_through_status(ctx, lt.figures, err_any)
    lt_out = np.where(lt_blocked, Outcome.BLOCK, np.where(lt_not_allowed, Outcome.REVIEW, Outcome.ALLOW)).astype(
        np.int8
    )
    cc_out = np.where(cc.restricted, Outcome.BLOCK, np.where(cc.proven_clean, Outcome.ALLOW, Outcome.REVIEW)).astype(
        np.int8
    )
    for out in (lt_out, cc_out):
        out[err_any & (out < Outcome.REVIEW)] = Outcome.REVIEW
    if policy.method is Method.LOOK_THROUGH:
        overall = lt_out.copy()
    elif policy.method is Method.CONTROL_CHAIN:
        overall = cc_out.copy()
    else:
        overall = np.maximum(lt_out, cc_out)
    reasons = _reasons(ctx, lt, cc, lt_blocked, lt_not_allowed, err_any, disclosed)
    return ScreeningResult(
        graph,
        policy,
        as_of_day,
        edges,
        lt.figures,
        cc.figures,
        lt_out,
        cc_out,
        overall,
        reasons,
        data_error,
        disclosed,
        lt_blocked,
        lt_not_allowed,
        cc.restricted,
        cc.proven_clean,
        lt.structure,
    )


def _look_through_status(ctx: Context, fig: Figures, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LT BLOCK set and non-ALLOW set, both least fixed points over control edges."""
    e = ctx.edges
    ent = ctx.is_entity
    low_major = any2(fig.exceeds(ctx.t, ctx.inclusive))
    high_ok = all2(fig.within(ctx.t, ctx.inclusive))
    block_seed = ctx.is_root | (ent & low_major)
    blocked = linear.reach(ctx.n, e.owner[e.control], e.subject[e.control], block_seed)
    review_seed = ctx.is_root | ctx.is_unknown | (ent & (~high_ok | err))
    ci = e.control | e.indicator
    not_allowed = linear.reach(ctx.n, e.owner[ci], e.subject[ci], review_seed)
    return blocked, not_allowed | blocked


def _flag_subjects(ctx: Context, edge_mask: np.ndarray) -> np.ndarray:
    out = np.zeros(ctx.n, dtype=bool)
    out[ctx.edges.subject[edge_mask]] = True
    return out


def _reasons(
    ctx: Context,
    lt: LookThrough,
    cc: ControlChain,
    lt_blocked: np.ndarray,
    lt_not_allowed: np.ndarray,
    err: np.ndarray,
    disclosed: np.ndarray,
) -> np.ndarray:
    """Reason bitmask per node (union over both methods)."""
    e = ctx.edges
    ent = ctx.is_entity
    t, inc = ctx.t, ctx.inclusive
    own_block = lt_blocked[e.owner] | cc.restricted[e.owner]
    own_maybe = (lt_not_allowed[e.owner] & ~lt_blocked[e.owner]) | (~cc.proven_clean[e.owner] & ~cc.restricted[e.owner])
    own_not_clean = lt_not_allowed[e.owner] | ~cc.proven_clean[e.owner]
    flags = [
        (Reason.RESTRICTED_ROOT, ctx.is_root),
        (Reason.LOW_ABOVE_THRESHOLD, ent & (any2(lt.figures.exceeds(t, inc)) | any2(cc.figures.exceeds(t, inc)))),
        (Reason.HIGH_ABOVE_THRESHOLD, ent & ~(all2(lt.figures.within(t, inc)) & all2(cc.figures.within(t, inc)))),
        (Reason.RESTRICTED_CONTROL, _flag_subjects(ctx, e.control & own_block)),
        (Reason.POSSIBLE_RESTRICTED_CONTROL, _flag_subjects(ctx, e.control & own_maybe)),
        (Reason.INDICATOR, _flag_subjects(ctx, e.indicator & own_not_clean)),
        (Reason.OVER_100_PERCENT, err),
        (
            Reason.UNKNOWN_OWNERSHIP,
            ent
            & (
                ((ctx.cls == NodeClass.ENTITY) & any2(1.0 - disclosed > EPS))
                | _flag_subjects(ctx, ctx.is_unknown[e.owner] & any2(e.high > 0))
            ),
        ),
        (Reason.CYCLE, lt.structure.node_cyclic()),
        (Reason.CLOSED_CYCLE, lt.structure.closed_comp[lt.structure.labels]),
        (Reason.UNKNOWN_PARTY, ctx.is_unknown),
    ]
    reasons = np.zeros(ctx.n, dtype=np.int32)
    for flag, mask in flags:
        reasons[mask] |= np.int32(flag.value)
    return reasons
