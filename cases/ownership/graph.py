"""The ownership graph as flat numpy arrays, plus a builder that converts percentages exactly.

The graph is deliberately dumb: one row per interest-bearing relationship, shares as
fractions 0..1 per measure.  The spec rules on missing measures, pure control
relationships, time and duplicates are applied by :func:`prepare_edges` at screening time,
so the same graph can be screened at any date.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from .types import NodeClass

INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)
_EPOCH = _dt.date(1970, 1, 1)
_N_CLASSES = len(NodeClass)

_EDGE_FIELDS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "owner": (np.int32, ()),
    "subject": (np.int32, ()),
    "share_low": (np.float64, (2,)),
    "share_high": (np.float64, (2,)),
    "low_open": (np.bool_, (2,)),
    "high_open": (np.bool_, (2,)),
    "has_share": (np.bool_, (2,)),
    "control": (np.bool_, ()),
    "indicator": (np.bool_, ()),
    "start_day": (np.int32, ()),
    "end_day": (np.int32, ()),
}


def _coerce(name: str, value: Any, dtype: Any) -> np.ndarray:
    """Convert to the required dtype only when no information can be lost."""
    arr = np.asarray(value)
    if arr.dtype == dtype:
        return arr
    if arr.size == 0:
        return arr.astype(dtype)
    if np.can_cast(arr.dtype, dtype, casting="same_kind") or (
        np.issubdtype(arr.dtype, np.integer) and np.issubdtype(np.dtype(dtype), np.integer)
    ):
        out = arr.astype(dtype)
        if np.issubdtype(np.dtype(dtype), np.integer) and not np.array_equal(out, arr):
            raise ValueError(f"{name}: values do not fit in {np.dtype(dtype).name}")
        return out
    raise ValueError(f"{name}: expected dtype {np.dtype(dtype).name}, got {arr.dtype.name}")


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes (by class) and interest-bearing edges owner -> subject.  See module docs."""

    node_class: np.ndarray
    owner: np.ndarray
    subject: np.ndarray
    share_low: np.ndarray
    share_high: np.ndarray
    low_open: np.ndarray
    high_open: np.ndarray
    has_share: np.ndarray
    control: np.ndarray
    indicator: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray
    node_labels: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        node_class = _coerce("node_class", self.node_class, np.int8)
        if node_class.ndim != 1:
            raise ValueError("node_class must be one-dimensional")
        if node_class.size and (node_class.min() < 0 or node_class.max() >= _N_CLASSES):
            raise ValueError(f"node_class values must be within 0..{_N_CLASSES - 1}")
        object.__setattr__(self, "node_class", node_class)
        n = node_class.size
        e = np.asarray(self.owner).shape[0] if np.ndim(self.owner) else -1
        for name, (dtype, tail) in _EDGE_FIELDS.items():
            arr = _coerce(name, getattr(self, name), dtype)
            if arr.shape != (e, *tail):
                raise ValueError(f"{name}: expected shape {(e, *tail)}, got {arr.shape}")
            object.__setattr__(self, name, arr)
        self._check_ranges(n)
        if self.node_labels is not None and len(self.node_labels) != n:
            raise ValueError(f"node_labels: expected {n} labels, got {len(self.node_labels)}")

    def _check_ranges(self, n: int) -> None:
        for name in ("owner", "subject"):
            arr = getattr(self, name)
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(f"{name}: node index out of range 0..{n - 1}")
        for name in ("share_low", "share_high"):
            arr = getattr(self, name)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
                raise ValueError(f"{name}: shares must be finite fractions within 0..1")
        if np.any(self.share_low > self.share_high):
            bad = int(np.nonzero(np.any(self.share_low > self.share_high, axis=1))[0][0])
            raise ValueError(f"share_low exceeds share_high on edge {bad}")
        if np.any(self.start_day > self.end_day):
            bad = int(np.nonzero(self.start_day > self.end_day)[0][0])
            raise ValueError(f"start_day after end_day on edge {bad}")

    @property
    def n_nodes(self) -> int:
        return int(self.node_class.size)

    @property
    def n_edges(self) -> int:
        return int(self.owner.size)

    def label(self, node: int) -> str:
        if self.node_labels is not None:
            return str(self.node_labels[node])
        return f"#{node}"


# --------------------------------------------------------------------------- builder

ShareSpec = Any  # None | number | (low, high) with None for a missing bound


def to_fraction(value: Any) -> Fraction:
    """Exact conversion of a percentage given as int/str/Decimal/Fraction (or float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, (int, Decimal, str)):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    raise TypeError(f"cannot read a percentage from {value!r}")


def percent_to_float(value: Any) -> float:
    """Percent (exact) -> nearest binary fraction 0..1."""
    return float(to_fraction(value) / 100)


def to_day(value: Any, default: int | None = None) -> int | None:
    """Day number since 1970-01-01 from a date, an ISO string, an int or None."""
    if value is None:
        return default
    if isinstance(value, str):
        value = _dt.date.fromisoformat(value[:10])
    if isinstance(value, _dt.datetime):
        value = value.date()
    if isinstance(value, _dt.date):
        return (value - _EPOCH).days
    return int(value)


def _pair(value: Any) -> tuple[bool, bool]:
    if isinstance(value, (tuple, list)):
        return bool(value[0]), bool(value[1])
    return bool(value), bool(value)


class GraphBuilder:
    """Incremental construction of a :class:`Graph` for tests and adapters."""

    def __init__(self) -> None:
        self._labels: list[str] = []
        self._classes: list[int] = []
        self._edges: dict[str, list[Any]] = {name: [] for name in _EDGE_FIELDS}

    def add_node(self, label: str, cls: NodeClass | int = NodeClass.ENTITY) -> int:
        self._labels.append(str(label))
        self._classes.append(int(NodeClass(cls)))
        return len(self._classes) - 1

    @staticmethod
    def _measure(spec: ShareSpec) -> tuple[bool, float, float]:
        """(stated, low, high) as fractions for one measure's share spec (percent)."""
        if spec is None:
            return False, 0.0, 0.0
        if isinstance(spec, (tuple, list)):
            low, high = spec
            low_f = percent_to_float(0 if low is None else low)
            high_f = percent_to_float(100 if high is None else high)
            return True, low_f, high_f
        exact = percent_to_float(spec)
        return True, exact, exact

    def add_stake(
        self,
        owner: int,
        subject: int,
        shareholding: ShareSpec = None,
        voting: ShareSpec = None,
        *,
        low_open: bool | tuple[bool, bool] = False,
        high_open: bool | tuple[bool, bool] = False,
        control: bool = False,
        indicator: bool = False,
        start: Any = None,
        end: Any = None,
    ) -> int:
        """Add one relationship.  Shares are percentages: exact, or ``(low, high)``.

        ``low_open``/``high_open`` mark exclusiveMinimum/exclusiveMaximum (one flag for
        both measures, or a pair).  ``(None, None)`` states the measure without a share
        (range 0..100).  Returns the edge index.
        """
        sh = self._measure(shareholding)
        vr = self._measure(voting)
        e = self._edges
        e["owner"].append(owner)
        e["subject"].append(subject)
        e["share_low"].append((sh[1], vr[1]))
        e["share_high"].append((sh[2], vr[2]))
        e["low_open"].append(_pair(low_open))
        e["high_open"].append(_pair(high_open))
        e["has_share"].append((sh[0], vr[0]))
        e["control"].append(control)
        e["indicator"].append(indicator)
        e["start_day"].append(to_day(start, INT32_MIN))
        e["end_day"].append(to_day(end, INT32_MAX))
        return len(e["owner"]) - 1

    def build(self) -> Graph:
        arrays = {}
        for name, (dtype, tail) in _EDGE_FIELDS.items():
            arrays[name] = np.asarray(self._edges[name], dtype=dtype).reshape(-1, *tail)
        return Graph(
            node_class=np.asarray(self._classes, dtype=np.int8),
            node_labels=list(self._labels),
            **arrays,
        )


# --------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class Edges:
    """In-force, normalised, de-duplicated edges (one per owner/subject pair)."""

    owner: np.ndarray
    subject: np.ndarray
    low: np.ndarray  # float64[e, 2]
    high: np.ndarray  # float64[e, 2]
    low_open: np.ndarray  # bool[e, 2]
    high_open: np.ndarray  # bool[e, 2]
    control: np.ndarray
    indicator: np.ndarray


def prepare_edges(graph: Graph, as_of_day: int | None, subject_mask: np.ndarray | None = None) -> Edges:
    """Apply time filter, the one-measure and pure-control rules, and merge duplicates.

    ``subject_mask`` (bool per node) keeps only edges into those nodes, in the same pass.
    """
    if as_of_day is None:
        keep = np.ones(graph.n_edges, dtype=bool)
    else:
        keep = (graph.start_day <= as_of_day) & (as_of_day <= graph.end_day)
    if subject_mask is not None:
        keep &= subject_mask[graph.subject]
    low = graph.share_low[keep].copy()
    high = graph.share_high[keep].copy()
    lo_open = graph.low_open[keep].copy()
    hi_open = graph.high_open[keep].copy()
    has = graph.has_share[keep]
    for m in (0, 1):
        other = 1 - m
        only_other = ~has[:, m] & has[:, other]
        low[only_other, m] = low[only_other, other]
        high[only_other, m] = high[only_other, other]
        lo_open[only_other, m] = lo_open[only_other, other]
        hi_open[only_other, m] = hi_open[only_other, other]
    neither = ~has[:, 0] & ~has[:, 1]
    low[neither] = 0.0
    high[neither] = 0.0
    lo_open[neither] = False
    hi_open[neither] = False
    edges = Edges(
        graph.owner[keep],
        graph.subject[keep],
        low,
        high,
        lo_open,
        hi_open,
        graph.control[keep],
        graph.indicator[keep],
    )
    return _merge_duplicates(edges, graph.n_nodes)


def _merge_duplicates(edges: Edges, n: int) -> Edges:
    """Sum stakes held by the same owner in the same subject (spec: summed).

    Output is sorted by (subject, owner); input already in that order skips the sort.
    Duplicates are rare, so the first row of each pair is taken as is and only the extra
    rows are folded in.
    """
    if edges.owner.size == 0:
        return edges
    key = edges.subject.astype(np.int64) * n + edges.owner
    if np.all(key[1:] >= key[:-1]):  # already sorted (cheap check, saves a sort + gathers)
        sorted_key = key
        fields = {f: getattr(edges, f) for f in Edges.__dataclass_fields__}
    else:
        order = np.argsort(key)
        sorted_key = key[order]
        fields = {f: getattr(edges, f)[order] for f in Edges.__dataclass_fields__}
    first = np.ones(sorted_key.size, dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    if first.all():
        return Edges(**fields)
    group = np.cumsum(first) - 1
    extra = np.nonzero(~first)[0]
    merged = {f: v[first] for f, v in fields.items()}
    target = group[extra]
    for f in ("low", "high"):
        np.add.at(merged[f], target, fields[f][extra])
    for f in ("low_open", "high_open", "control", "indicator"):
        np.logical_or.at(merged[f], target, fields[f][extra])
    over = merged["high"] > 1.0
    merged["high"][over] = 1.0
    merged["high_open"][over] = False  # "less than 120 %" says nothing below 100 %
    return Edges(**merged)
