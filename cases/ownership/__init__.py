"""Ownership screening engine: is an entity majority-owned or controlled from restricted
jurisdictions?  Pure numpy/scipy; knows nothing about Django.  Rules: docs/screening.md.

    from cases.ownership import GraphBuilder, NodeClass, Policy, screen

    b = GraphBuilder()
    cn = b.add_node("CN Co", NodeClass.RESTRICTED_ROOT)
    s = b.add_node("S", NodeClass.ENTITY)
    b.add_stake(cn, s, shareholding="70")            # percent, exact
    result = screen(b.build(), Policy(), as_of_day=None)
    result.outcome[s]                                 # Outcome.BLOCK (int8 array)
    result.decision_dict(s)                           # spec section 11 shape

Adapters building :class:`Graph` directly: pass edges sorted by (subject, owner) to skip
a sort; shares are fractions 0..1 per measure (column 0 shareholding, 1 voting rights).
"""

from .engine import ScreeningResult, screen
from .explain import Explanation, Path
from .graph import INT32_MAX, INT32_MIN, Graph, GraphBuilder, to_day
from .types import EPS, Measure, Method, NodeClass, Outcome, Policy, Reason

__all__ = [
    "EPS",
    "INT32_MAX",
    "INT32_MIN",
    "Explanation",
    "Graph",
    "GraphBuilder",
    "Measure",
    "Method",
    "NodeClass",
    "Outcome",
    "Path",
    "Policy",
    "Reason",
    "ScreeningResult",
    "screen",
    "to_day",
]
