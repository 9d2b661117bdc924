"""Seeded generator of realistic synthetic ownership graphs.

Shape of the data (per ~1 M entities: ~1.5 M stakes, ~0.45 M persons):

* corporate groups of geometric size (mean ~5): each subsidiary is owned by an earlier
  member (chains, fan-out), ~60 % of those not wholly owned get a second owner (another member: diamonds; a person;
  a restricted company; an unknown party),
* group tops are owned by 1-4 persons, sometimes a restricted-jurisdiction company; ~3 %
  of tops are listed (a large holder plus public float),
* ~2 % of groups with 3+ members have a cross-holding back to the top (cycles),
* shares: mostly exact (100 %, 51-99 %), a third as UK-style bands ("more than 25 % but
  not more than 50 %", "more than 50 % but less than 75 %", "75 % or more"),
* some control-only (appointmentOfBoard / VIE contract) and indicator interests, and some
  ended interests (end date in the past).

Use :func:`generate` for arrays / a :class:`~cases.ownership.Graph`, or
:func:`iter_node_rows` / :func:`iter_stake_rows` for plain dict rows (a DB loader).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cases.ownership import INT32_MAX, INT32_MIN, Graph, NodeClass

#: (low %, high %, low open, high open) UK-style bands.
BANDS = np.array([[25, 50, 1, 0], [50, 75, 1, 1], [75, 100, 0, 0]], dtype=np.int64)
TODAY = 20_000  # day number used as "now" (2024-10-04)


@dataclass(frozen=True)
class Synthetic:
    """Flat arrays of one synthetic data set (shares in basis points, exact)."""

    n_companies: int  # nodes 0..n_companies-1 are companies (entities or restricted)
    node_class: np.ndarray
    owner: np.ndarray
    subject: np.ndarray
    low_bp: np.ndarray  # int64[e]: minimum share in basis points (0..10000)
    high_bp: np.ndarray
    low_open: np.ndarray
    high_open: np.ndarray
    has_share: np.ndarray  # bool[e]: False for control/indicator-only interests
    control: np.ndarray
    indicator: np.ndarray
    end_day: np.ndarray

    def label(self, i: int) -> str:
        return f"{'CO' if i < self.n_companies else 'PA'}{i}"

    def to_graph(self, labels: bool = False) -> Graph:
        e = self.owner.size
        low = np.repeat((self.low_bp / 10_000.0)[:, None], 2, axis=1)
        high = np.repeat((self.high_bp / 10_000.0)[:, None], 2, axis=1)
        has = np.repeat(self.has_share[:, None], 2, axis=1)
        return Graph(
            node_class=self.node_class,
            owner=self.owner,
            subject=self.subject,
            share_low=low,
            share_high=high,
            low_open=np.repeat(self.low_open[:, None], 2, axis=1),
            high_open=np.repeat(self.high_open[:, None], 2, axis=1),
            has_share=has,
            control=self.control,
            indicator=self.indicator,
            start_day=np.full(e, INT32_MIN, dtype=np.int32),
            end_day=self.end_day,
            node_labels=[self.label(i) for i in range(self.node_class.size)] if labels else None,
        )


def _shares(rng: np.random.Generator, k: int, major: bool) -> tuple[np.ndarray, ...]:
    """Draw k shares: exact (100 % or a majority / minority) or a UK band."""
    majority = np.where(rng.random(k) < 0.55, 10_000, rng.integers(5_100, 10_000, k))
    exact = majority if major else rng.integers(100, 5_000, k)
    band = BANDS[rng.integers(1 if major else 0, 3, k)]
    use_band = rng.random(k) < 0.3
    low = np.where(use_band, band[:, 0] * 100, exact)
    high = np.where(use_band, band[:, 1] * 100, exact)
    return low, high, use_band & (band[:, 2] == 1), use_band & (band[:, 3] == 1)


class _Edges:
    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self, owner, subject, low, high, lo_open=None, hi_open=None, has=None, control=None, indicator=None
    ) -> None:
        k = np.asarray(owner).size
        z = np.zeros(k, dtype=bool)
        self.parts.append(
            (
                np.asarray(owner, np.int64),
                np.asarray(subject, np.int64),
                np.asarray(low, np.int64),
                np.asarray(high, np.int64),
                z if lo_open is None else lo_open,
                z if hi_open is None else hi_open,
                ~z if has is None else has,
                z if control is None else control,
                z if indicator is None else indicator,
            )
        )

    def cat(self) -> list[np.ndarray]:
        return [np.concatenate(col) for col in zip(*self.parts, strict=True)]


def generate(n_entities: int, seed: int = 0, restricted_rate: float = 0.04) -> Synthetic:
    """A synthetic graph with ``n_entities`` companies (plus persons and parties)."""
    rng = np.random.default_rng(seed)
    sizes = rng.geometric(0.2, size=n_entities)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n_entities)) + 1]
    sizes[-1] -= int(sizes.sum()) - n_entities
    sizes = sizes[sizes > 0]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = np.repeat(np.arange(sizes.size), sizes)
    rank = np.arange(n_entities) - starts[group]
    tops = starts
    edges = _Edges()

    # Subsidiaries: one parent inside the group (chains, fans).
    subs = np.nonzero(rank > 0)[0]
    parent = starts[group[subs]] + np.floor(rng.random(subs.size) * rank[subs]).astype(np.int64)
    low, high, lo_open, hi_open = _shares(rng, subs.size, major=True)
    edges.add(parent, subs, low, high, lo_open, hi_open)
    rest = 10_000 - high

    # Parties: persons (clean or restricted), restricted companies, unknown parties.
    n_tops = tops.size
    n_persons = int(n_tops * 2.5) + subs.size // 8
    person_cls = np.where(rng.random(n_persons) < restricted_rate, NodeClass.RESTRICTED_ROOT, NodeClass.CLEAN_TERMINAL)
    n_restricted_co = max(1, n_entities // 200)
    n_unknown = max(1, n_entities // 100)
    p0 = n_entities
    r0 = p0 + n_persons
    u0 = r0 + n_restricted_co
    n_nodes = u0 + n_unknown
    node_class = np.zeros(n_nodes, dtype=np.int8)
    node_class[p0:r0] = person_cls
    node_class[r0:u0] = NodeClass.RESTRICTED_ROOT
    node_class[u0:] = NodeClass.UNKNOWN_TERMINAL
    # Some entities are themselves restricted roots (registered / seated in CN etc.).
    node_class[:n_entities][rng.random(n_entities) < restricted_rate / 2] = NodeClass.RESTRICTED_ROOT

    # Second owner for ~25 % of subsidiaries with room left.
    second = subs[(rng.random(subs.size) < 0.6) & (rest > 0)]
    room = 10_000 - high[np.searchsorted(subs, second)]
    kind = rng.random(second.size)
    owner2 = np.where(
        kind < 0.4,
        starts[group[second]] + np.floor(rng.random(second.size) * rank[second]).astype(np.int64),
        np.where(
            kind < 0.8,
            rng.integers(p0, r0, second.size),
            np.where(kind < 0.9, rng.integers(r0, u0, second.size), rng.integers(u0, n_nodes, second.size)),
        ),
    )
    share2 = np.maximum(1, (room * rng.uniform(0.3, 1.0, second.size)).astype(np.int64))
    edges.add(owner2, second, share2, share2)

    # Group tops: 1-3 holders summing to <= 90 %; ~3 % listed (large holder + float).
    listed = rng.random(n_tops) < 0.03
    node_class[tops[listed & (node_class[tops] == 0)]] = NodeClass.LISTED_ENTITY
    n_holders = np.where(listed, 1, rng.integers(1, 5, n_tops))
    holder_top = np.repeat(tops, n_holders)
    holder_count = np.repeat(n_holders, n_holders)
    split = np.where(np.repeat(listed, n_holders), rng.integers(500, 6_000, holder_top.size), 9_000 // holder_count)
    who = np.where(
        rng.random(holder_top.size) < 0.93,
        rng.integers(p0, r0, holder_top.size),
        rng.integers(r0, n_nodes, holder_top.size),
    )
    low, high, lo_open, hi_open = _shares(rng, holder_top.size, major=False)
    band = lo_open | hi_open | (high != low)
    edges.add(
        who, holder_top, np.where(band, np.minimum(low, split), split), np.where(band, np.minimum(high, split), split)
    )

    # Cross-holdings: a member holds 5 % of its group top (ownership cycles).
    big = np.nonzero(sizes >= 3)[0]
    cyc = big[rng.random(big.size) < 0.02]
    member = starts[cyc] + sizes[cyc] - 1
    edges.add(member, starts[cyc], np.full(cyc.size, 500), np.full(cyc.size, 500))

    # Control-only and indicator interests (no share stated).
    k = n_entities // 50
    ctrl_subj = rng.integers(0, n_entities, k)
    ctrl_owner = rng.integers(p0, n_nodes, k)
    is_ctrl = rng.random(k) < 0.5
    zeros = np.zeros(k, dtype=np.int64)
    edges.add(ctrl_owner, ctrl_subj, zeros, zeros, has=np.zeros(k, bool), control=is_ctrl, indicator=~is_ctrl)

    owner, subject, low, high, lo_open, hi_open, has, control, indicator = edges.cat()
    # Rows in (subject, owner) order, as a database index scan would return them; the
    # engine then skips its own sort.
    order = np.lexsort((owner, subject))
    owner, subject, low, high, lo_open, hi_open, has, control, indicator = (
        a[order] for a in (owner, subject, low, high, lo_open, hi_open, has, control, indicator)
    )
    ok = owner != subject
    end = np.where(rng.random(owner.size) < 0.03, TODAY - rng.integers(1, 3_000, owner.size), INT32_MAX).astype(
        np.int32
    )
    return Synthetic(
        n_entities,
        node_class,
        owner[ok].astype(np.int32),
        subject[ok].astype(np.int32),
        low[ok],
        high[ok],
        lo_open[ok],
        hi_open[ok],
        has[ok],
        control[ok],
        indicator[ok],
        end[ok],
    )


def _day_iso(day: int) -> str | None:
    if day in (INT32_MIN, INT32_MAX):
        return None
    return str(np.datetime64(int(day), "D"))


def iter_node_rows(data: Synthetic) -> Iterator[dict]:
    """Plain rows: ``{"id", "label", "node_class"}`` (node_class is a NodeClass name)."""
    for i, cls in enumerate(data.node_class.tolist()):
        yield {"id": i, "label": data.label(i), "node_class": NodeClass(cls).name}


def iter_stake_rows(data: Synthetic) -> Iterator[dict]:
    """Plain rows with percentages as exact decimal strings and ISO end dates."""
    for i in range(data.owner.size):
        has = bool(data.has_share[i])
        yield {
            "owner": int(data.owner[i]),
            "subject": int(data.subject[i]),
            "share_min": f"{data.low_bp[i] / 100:.2f}" if has else None,
            "share_max": f"{data.high_bp[i] / 100:.2f}" if has else None,
            "exclusive_min": bool(data.low_open[i]),
            "exclusive_max": bool(data.high_open[i]),
            "control": bool(data.control[i]),
            "indicator": bool(data.indicator[i]),
            "end_date": _day_iso(int(data.end_day[i])),
        }
