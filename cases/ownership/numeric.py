"""Boundary-exact comparisons on float figures with open/closed flags (spec section 8).

A figure is a float ``value`` plus a flag.  For a lower bound the flag means "open below":
the true value is strictly above ``value``.  For an upper bound it means "open above": the
true value is strictly below ``value``.  Values within :data:`EPS` of the threshold are
treated as equal to it, and the flag decides.
"""

from __future__ import annotations

import numpy as np

from .types import EPS


def exceeds(value: np.ndarray, open_below: np.ndarray, t: float, inclusive: bool) -> np.ndarray:
    """Whether a proven lower bound is provably a majority (``> T``, or ``>= T`` inclusive)."""
    if inclusive:
        return value >= t - EPS
    return (value > t + EPS) | ((np.abs(value - t) <= EPS) & open_below)


def within(value: np.ndarray, open_above: np.ndarray, t: float, inclusive: bool) -> np.ndarray:
    """Whether a worst-case upper bound is provably not a majority (``<= T``, or ``< T``)."""
    if inclusive:
        return (value < t - EPS) | ((np.abs(value - t) <= EPS) & open_above)
    return value <= t + EPS
