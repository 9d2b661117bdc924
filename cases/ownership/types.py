"""Enumerations, policy and numeric tolerance shared by the engine modules."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

#: Absolute tolerance on fractions (0..1).  Float sums of decimal percentages carry
#: rounding noise of ~1e-16; any two figures closer than this are treated as equal and
#: the open/closed flags decide the boundary (spec section 8).
EPS = 1e-9


class NodeClass(enum.IntEnum):
    """What the engine knows about a node; the adapter classifies, the engine computes."""

    ENTITY = 0
    LISTED_ENTITY = 1
    RESTRICTED_ROOT = 2
    CLEAN_TERMINAL = 3
    UNKNOWN_TERMINAL = 4


class Measure(enum.IntEnum):
    """Column index of every per-measure array."""

    SHAREHOLDING = 0
    VOTING_RIGHTS = 1


class Method(enum.Enum):
    LOOK_THROUGH = "look_through"
    CONTROL_CHAIN = "control_chain"
    STRICTEST = "strictest"


class Outcome(enum.IntEnum):
    """Ordered so that ``max()`` is the strictest outcome."""

    ALLOW = 0
    REVIEW = 1
    BLOCK = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Reason(enum.IntFlag):
    """Why a node got its outcome (bitmask per node; several may apply)."""

    NONE = 0
    RESTRICTED_ROOT = 1
    LOW_ABOVE_THRESHOLD = 2
    HIGH_ABOVE_THRESHOLD = 4
    RESTRICTED_CONTROL = 8
    POSSIBLE_RESTRICTED_CONTROL = 16
    INDICATOR = 32
    OVER_100_PERCENT = 64
    UNKNOWN_OWNERSHIP = 128
    CYCLE = 256
    CLOSED_CYCLE = 512
    UNKNOWN_PARTY = 1024


@dataclass(frozen=True)
class Policy:
    """The numeric part of the screening policy the engine needs.

    ``inclusive=False`` reads "majority" as strictly more than ``threshold`` (default);
    ``inclusive=True`` is the OFAC reading "threshold or more".
    """

    threshold: Fraction = Fraction(1, 2)
    inclusive: bool = False
    method: Method = Method.STRICTEST

    def __post_init__(self) -> None:
        threshold = Fraction(self.threshold)
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be within 0..1, got {threshold}")
        object.__setattr__(self, "threshold", threshold)
        if not isinstance(self.method, Method):
            object.__setattr__(self, "method", Method(self.method))
