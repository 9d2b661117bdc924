"""Ownership screening engine: is an entity majority-owned or controlled from restricted
jurisdictions?  Pure numpy/scipy; knows nothing about Django.  See docs/screening.md."""

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
