"""Boundary-exact comparisons on float figures with open/closed flags (spec section 8).

A figure is a float ``value`` plus a flag.  For a lower bound the flag means "open below":
the true value is strictly above ``value``.  For an upper bound it means "open above": the
true value is strictly below ``value``.  Values within :data:`EPS` of the threshold are
treated as equal to it, and the flag decides.

Where an exact rational recomputation is available (see ``exact.py``), ``side`` holds the
exact sign of value - T (-1, 0, +1) and overrides the tolerance; :data:`UNKNOWN_SIDE`
means "not recomputed".
"""

from __future__ import annotations

import numpy as np

from .types import EPS

UNKNOWN_SIDE = 2


def any2(a: np.ndarray) -> np.ndarray:
    """Row-wise any over the measure columns (much faster than ``any(axis=1)``)."""
    return a[:, 0] | a[:, 1] if a.shape[1] == 2 else a.any(axis=1)


def all2(a: np.ndarray) -> np.ndarray:
    """Row-wise all over the measure columns."""
    return a[:, 0] & a[:, 1] if a.shape[1] == 2 else a.all(axis=1)


def _equal(value: np.ndarray, t: float, side: np.ndarray | None) -> np.ndarray:
    near = np.abs(value - t) <= EPS
    return near if side is None else np.where(side == UNKNOWN_SIDE, near, side == 0)


def _above(value: np.ndarray, t: float, side: np.ndarray | None) -> np.ndarray:
    above = value > t + EPS
    return above if side is None else np.where(side == UNKNOWN_SIDE, above, side == 1)


def _below(value: np.ndarray, t: float, side: np.ndarray | None) -> np.ndarray:
    below = value < t - EPS
    return below if side is None else np.where(side == UNKNOWN_SIDE, below, side == -1)


def exceeds(
    value: np.ndarray, open_below: np.ndarray, t: float, inclusive: bool, side: np.ndarray | None = None
) -> np.ndarray:
    """Whether a proven lower bound is provably a majority (``> T``, or ``>= T`` inclusive)."""
    equal = _equal(value, t, side)
    if inclusive:
        return _above(value, t, side) | equal
    return _above(value, t, side) | (equal & open_below)


def within(
    value: np.ndarray, open_above: np.ndarray, t: float, inclusive: bool, side: np.ndarray | None = None
) -> np.ndarray:
    """Whether a worst-case upper bound is provably not a majority (``<= T``, or ``< T``)."""
    equal = _equal(value, t, side)
    if inclusive:
        return _below(value, t, side) | (equal & open_above)
    return _below(value, t, side) | equal
