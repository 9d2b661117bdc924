"""The whole portfolio's graph and current decisions read as columns, for a portfolio run in one pass.

``screening_input.load_screening_input`` reads an upstream closure through the ORM's
``values_list`` and folds interests one Python call at a time: right for a handful of entities
re-screened after a write, and for workers that each take a slice of a graph too big for one
process. A daily portfolio run reads everything anyway, so here every table is read once, as numbers
where it can be: relationships, interests and current decisions in ranges of ids that the database
packs into one value per column (``parallel_read``; on PostgreSQL several connections on one
snapshot), entities and persons as their ids grouped by distinct combination of facts, each
combination classified once with Django's own converters, and the two tables joined and the interests
folded into edges with numpy. Names and external ids are read when first used (``DeferredColumn``).
The result is the same ``ScreeningInput``, node for node and edge for edge, as
``load_screening_input(entity_ids=None)`` (``tests/selectors/test_screening_columns.py``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Model

from cases.collector import cyclic_gc_paused
from cases.models import (
    CurrentDecision,
    Decision,
    DirectOrIndirect,
    Entity,
    Interest,
    InterestType,
    Person,
    Relationship,
)
from cases.ownership import Graph, NodeClass, Outcome
from cases.ownership.graph import INT32_MAX, INT32_MIN
from cases.selectors.parallel_read import Read, grouped_ids_read, int_columns_read, read_here, read_snapshot
from cases.selectors.screening_input import (
    _CONTROL,
    _INDICATOR,
    _MEASURE_OF,
    PolicyView,
    ScreeningInput,
    _list_reasons,
    classify_entity,
    classify_person,
    ids_in,
)

#: What an interest does to its edge: a measure (0 shareholding, 1 voting rights), control, an indicator, nothing.
_CONTROL_KIND, _INDICATOR_KIND, _OTHER_KIND = 2, 3, 4


def _kind(interest_type: str) -> int:
    """``_EdgeAccumulator.add_interest``'s branches as a code, so interests fold with numpy."""
    measure = _MEASURE_OF.get(interest_type)
    if measure is not None:
        return measure
    if interest_type in _CONTROL:
        return _CONTROL_KIND
    if interest_type in _INDICATOR:
        return _INDICATOR_KIND
    return _OTHER_KIND


#: Interest shares are stored with ``decimal_places`` 8 (``cases.models.ownership.PERCENT``); read as
#: integers in units of 10⁻⁸ %, a share is exact whatever the database stores it as.
SHARE_SCALE = 10**8
#: A share in units of 10⁻⁸ % over this is the fraction of one (100 % = 10¹⁰ units).
_UNITS_PER_ONE = float(100 * SHARE_SCALE)


def _scaled_share_sql(column: str) -> str:
    """``column`` (a percentage) in units of 10⁻⁸ %, as a ``bigint``; -1 where it is null.

    PostgreSQL's ``numeric`` multiplies exactly; SQLite stores the decimal as the nearest double, which
    times 10⁸ lies within far less than 0.5 of the integer for any value with at most 8 decimal places
    (every write path quantizes to 8; a value raw SQL stored with more could round differently from
    Django's converter at an exact tie in the ninth place).
    """
    return f"COALESCE(CAST(ROUND({column} * {SHARE_SCALE}) AS BIGINT), -1)"


def _interest_kind_sql(column: str) -> str:
    """``_kind`` of the interest type, computed by the database (``_OTHER_KIND`` for any other text)."""
    cases = " ".join(f"WHEN '{choice.value}' THEN {_kind(choice.value)}" for choice in InterestType)
    return f"CASE {column} {cases} ELSE {_OTHER_KIND} END"


def share_bounds_columns(
    exact: np.ndarray,
    minimum: np.ndarray,
    maximum: np.ndarray,
    minimum_exclusive: np.ndarray,
    maximum_exclusive: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``screening_input._share_bounds`` for whole columns of scaled shares (``_scaled_share_sql``).

    Bit for bit the same fractions: ``_share_bounds`` computes ``float(Decimal / 100)``, the double
    nearest the exact quotient; here an integer below 2⁵³ is divided by 10¹⁰, both exact doubles, and
    IEEE division also gives the double nearest the exact quotient.
    """
    has_exact, has_minimum, has_maximum = exact >= 0, minimum >= 0, maximum >= 0
    low = np.where(has_exact, exact, np.where(has_minimum, minimum, 0)) / _UNITS_PER_ONE
    high = np.where(has_exact, exact / _UNITS_PER_ONE, np.where(has_maximum, maximum / _UNITS_PER_ONE, 1.0))
    low_open = ~has_exact & has_minimum & (minimum_exclusive != 0)
    high_open = ~has_exact & has_maximum & (maximum_exclusive != 0)
    return low, high, low_open, high_open


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def raw_rows(sql: str) -> list[tuple]:
    """Every row of ``sql`` (no parameters) as plain tuples, without Django's per-row converters.

    The driver's own cursor: psycopg builds the rows in C (its ``COPY`` row iterator costs several
    Python calls a row, which at a million rows is most of the read), SQLite's cursor applies only
    its declared-type converters. JSON columns come as text (Django registers text loaders for
    ``jsonb``), decoded once per distinct value by ``_decoder``. On PostgreSQL the read runs on the
    connection's current transaction and so its snapshot.
    """
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


#: Rows converted to numpy per batch on SQLite: a million rows of Python ints at once would cost
#: several hundred MB for a moment.
_INT_BATCH = 100_000


def numeric_columns(sql: str, kinds: str) -> np.ndarray:
    """Every row of ``sql`` (SQLite) as an ``(n, len(kinds))`` array; ``kinds`` says per column ``i`` (a
    non-null integer) or ``f`` (a non-null double). With any ``f`` the array is float64 (integers below 2⁵³
    stay exact: ids), else int64. Rows are converted a batch at a time. PostgreSQL reads packed ranges
    instead (``parallel_read.int_columns_read``), doubles included.
    """
    dtype = np.float64 if "f" in kinds else np.int64
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        parts = []
        while rows := cursor.fetchmany(_INT_BATCH):
            parts.append(np.array(rows, dtype=dtype).reshape(-1, len(kinds)))
    finally:
        cursor.close()
    return np.concatenate(parts) if parts else np.zeros((0, len(kinds)), dtype=dtype)


def _decoder(model: type[Model], name: str) -> Callable:
    """Raw value → what the ORM gives for ``model.name``, computed once per distinct raw value.

    The conversion is Django's own (backend converters, then the field's ``from_db_value``), so a
    JSON list or a decimal is exactly the ORM's; the memo makes a column of a million repeated
    values cost a dict lookup each.
    """
    field = model._meta.get_field(name)
    column = field.get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
    memo: dict = {}

    def decode(raw):
        try:
            return memo[raw]
        except KeyError:
            value = raw
            for convert in converters:
                value = convert(value, column, connection)
            memo[raw] = value
            return value

    return decode


def _ids(values, size: int | None = None) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=-1 if size is None else size)


def _transposed(rows: list[tuple], width: int) -> list[tuple]:
    """Rows as columns (one C-level pass); ``width`` empty columns when there are no rows."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _classify_groups(
    groups: list[tuple[tuple, np.ndarray]],
    classify: Callable[..., tuple[NodeClass, list[str]]],
    list_reasons_by_pk: dict[int, tuple[str, ...]],
    first_node: int,
    root_reasons: dict[int, list[str]],
    list_reasons: dict[int, list[str]],
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted pks and their node classes, each distinct fact key classified once (``_grouped_ids``); only
    the pks in ``keep`` (sorted) when given. List members are classified on their own, with their lists'
    reasons. Fills ``root_reasons`` and ``list_reasons`` for these nodes (``first_node`` onwards)."""
    known = [classify(key) for key, _ in groups]
    sizes = np.array([ids.size for _, ids in groups], dtype=np.int64)
    pks = np.concatenate([ids for _, ids in groups]) if groups else np.zeros(0, dtype=np.int64)
    group = np.repeat(np.arange(len(groups)), sizes)
    if keep is not None:
        kept = np.isin(pks, keep, assume_unique=True)
        pks, group = pks[kept], group[kept]
    order = np.argsort(pks, kind="stable")
    pks, group = pks[order], group[order]
    classes = np.array([int(node_class) for node_class, _ in known], dtype=np.int8)[group]
    with_reasons = np.array([bool(reasons) for _, reasons in known], dtype=bool)
    if with_reasons.any():
        for row in np.nonzero(with_reasons[group])[0].tolist():
            root_reasons[first_node + row] = list(known[group[row]][1])
    for pk, lists in list_reasons_by_pk.items():
        row = int(np.searchsorted(pks, pk))
        if row < pks.size and pks[row] == pk:
            node_class, reasons = classify(groups[group[row]][0], lists)
            classes[row] = int(node_class)
            node = first_node + row
            if reasons:
                root_reasons[node] = list(reasons)
            list_reasons[node] = list(lists)
    return pks, classes


class DeferredColumn(Sequence):
    """One label or name per node, read from the database the first time any is asked for.

    A daily run whose decisions did not change never explains one, so it need not read a million names and
    external ids; the first explanation reads them all at once (``_NodeLabels``). Equal to a list of the
    same values, as the ORM loader's columns are.
    """

    __slots__ = ("_labels", "_index", "_list")

    def __init__(self, labels: _NodeLabels, index: int) -> None:
        self._labels, self._index = labels, index
        self._list: list[str] | None = None

    def _values(self) -> list[str]:
        if self._list is None:
            self._list = self._labels.columns()[self._index]
        return self._list

    def __len__(self) -> int:
        return self._labels.size

    def values(self) -> list[str]:
        """The loaded list itself, for a caller about to read many."""
        return self._values()

    def __getitem__(self, node):
        values = self._list  # one attribute read per label once loaded: explanations read many
        return (values if values is not None else self._values())[node]

    def __iter__(self):
        return iter(self._values())

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and list(self) == list(other)

    __hash__ = None  # a mutable-looking sequence, as a list is

    def __repr__(self) -> str:
        return f"DeferredColumn({len(self)} values)"


def plain_column(column: Sequence[str]) -> Sequence[str]:
    """``column`` as a plain list when it is a ``DeferredColumn`` (loaded), for reading many values."""
    return column.values() if isinstance(column, DeferredColumn) else column


@dataclass
class _NodeLabels:
    """External ids and display names of a portfolio graph's nodes, read on first use.

    Entities and persons are read by id; unknown owners take their relationship's external id and reason.
    The read comes later than the graph's, so it sees a name changed since (which re-screens that entity
    on its own); an entity or person deleted since keeps a label made from its pk.
    """

    entity_pks: np.ndarray
    person_pks: np.ndarray
    unknown_relationship_ids: np.ndarray
    _columns: tuple[list[str], list[str]] | None = None

    @property
    def size(self) -> int:
        return self.entity_pks.size + self.person_pks.size + self.unknown_relationship_ids.size

    def columns(self) -> tuple[list[str], list[str]]:
        if self._columns is None:
            with cyclic_gc_paused():
                self._columns = self._read()
        return self._columns

    def _read(self) -> tuple[list[str], list[str]]:
        labels, names = _labels_by_pk(Entity, "external_id, name", self.entity_pks, lambda pk: (f"entity:{pk}", ""))
        person_labels, person_names = _labels_by_pk(
            Person, "external_id, name", self.person_pks, lambda pk: (f"person:{pk}", "")
        )
        labels += person_labels
        names += [name or "Unnamed person" for name in person_names]
        unknown_labels, reasons = _labels_by_pk(
            Relationship,
            "external_id, unspecified_reason",
            self.unknown_relationship_ids,
            lambda pk: (str(pk), ""),
            where=" WHERE interested_entity_id IS NULL AND interested_person_id IS NULL",
        )
        labels += [f"unspecified:{external_id}" for external_id in unknown_labels]
        names += [f"Unspecified owner ({reason})" for reason in reasons]
        return labels, names


def _labels_by_pk(
    model: type[Model], columns: str, pks: np.ndarray, missing, where: str = ""
) -> tuple[list[str], list[str]]:
    """Two text columns of ``model`` for the sorted ``pks``, in that order (``missing(pk)`` for a row gone)."""
    if not pks.size:
        return [], []
    rows = raw_rows(f"SELECT id, {columns} FROM {_table(model)}{where} ORDER BY id")  # noqa: S608
    ids, first, second = _transposed(rows, 3)
    del rows
    read = _ids(ids, len(ids))
    if read.size == pks.size and np.array_equal(read, pks):
        return list(first), list(second)
    at = np.minimum(np.searchsorted(read, pks), max(read.size - 1, 0))
    found = (read[at] == pks) if read.size else np.zeros(pks.size, dtype=bool)
    pairs = [
        (first[row], second[row]) if hit else missing(pk)
        for pk, row, hit in zip(pks.tolist(), at.tolist(), found.tolist(), strict=True)
    ]
    return [pair[0] for pair in pairs], [pair[1] for pair in pairs]


#: Bits of an interest row's ``flags`` (``_interest_read``) above its kind (``_kind``, 0–4).
_INDIRECT, _MINIMUM_EXCLUSIVE, _MAXIMUM_EXCLUSIVE, _IN_FORCE, _EXACT = 8, 16, 32, 64, 128
_FLAG_BITS = 256


def _interest_read(vendor: str, as_of: datetime.date) -> Read:
    """Every interest as (relationship, id · 256 + flags, low, high): flags are ``_kind`` plus the bits
    above; low and high the exact share (``_EXACT``) or the range's bounds, scaled (``_scaled_share_sql``;
    a share is exact or a range, never both: ``interest_share_exact_or_range``). Not joined with
    relationships: both tables are read whole and joined in numpy, two plain scans for the database."""
    day = as_of.isoformat()  # an ISO date: digits and dashes only
    flags = (
        f"{_interest_kind_sql('interest_type')} "
        f"+ CASE WHEN direct_or_indirect = '{DirectOrIndirect.INDIRECT.value}' THEN {_INDIRECT} ELSE 0 END "
        f"+ CASE WHEN share_minimum_exclusive THEN {_MINIMUM_EXCLUSIVE} ELSE 0 END "
        f"+ CASE WHEN share_maximum_exclusive THEN {_MAXIMUM_EXCLUSIVE} ELSE 0 END "
        f"+ CASE WHEN (start_date IS NULL OR start_date <= '{day}') AND (end_date IS NULL OR end_date >= '{day}') "
        f"THEN {_IN_FORCE} ELSE 0 END + CASE WHEN share_exact IS NULL THEN 0 ELSE {_EXACT} END"
    )
    return int_columns_read(
        vendor,
        _table(Interest),
        [
            "relationship_id",
            f"id * {_FLAG_BITS} + {flags}",
            _scaled_share_sql("COALESCE(share_exact, share_minimum)"),
            _scaled_share_sql("COALESCE(share_exact, share_maximum)"),
        ],
    )


def interest_share_bounds(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``share_bounds_columns`` of ``_interest_read`` rows: the exact share, or the range's bounds."""
    flags = rows[:, 1] % _FLAG_BITS
    exact = (flags & _EXACT) != 0
    low_value, high_value = rows[:, 2], rows[:, 3]
    return share_bounds_columns(
        np.where(exact, low_value, -1),
        np.where(exact, -1, low_value),
        np.where(exact, -1, high_value),
        flags & _MINIMUM_EXCLUSIVE,
        flags & _MAXIMUM_EXCLUSIVE,
    )


def _relationship_read(vendor: str) -> Read:
    """Every open relationship as (id, subject, interested entity or -1, interested person or -1)."""
    return int_columns_read(
        vendor,
        _table(Relationship),
        ["id", "subject_id", "COALESCE(interested_entity_id, -1)", "COALESCE(interested_person_id, -1)"],
        where="NOT is_closed",
    )


def _sorted_by(rows: np.ndarray, primary: int, secondary: int | None = None) -> np.ndarray:
    """``rows`` ordered by column ``primary`` (then ``secondary``). The range reads usually hand them over
    in id order already, which one comparison confirms; a stable sort of the primary column then keeps
    that order within it."""
    tie_break = primary if secondary is None else secondary
    column = rows[:, tie_break]
    if column.size and not np.all(column[1:] > column[:-1]):
        rows = rows[np.argsort(column, kind="stable")]
    if secondary is None:
        return rows
    return rows[np.argsort(rows[:, primary], kind="stable")]


def load_portfolio_input(*, policy: PolicyView, as_of: datetime.date) -> ScreeningInput:
    """The engine graph of every entity, read in one pass (see the module docstring).

    Node order, labels, reasons and edges are those of ``load_screening_input(entity_ids=None)``:
    entities by id, then the persons holding an open relationship by id, then one unknown owner per
    unspecified relationship (those with an interest in force by relationship id, then those stating
    no interest); edges by relationship id, then the relationships that state no interest. Labels and
    names are read when first used (``DeferredColumn``). The cycle collector is paused meanwhile: at a
    million entities it would otherwise cost more than the read.
    """
    with cyclic_gc_paused():
        return _load_portfolio_input(policy=policy, as_of=as_of)


def _load_portfolio_input(*, policy: PolicyView, as_of: datetime.date) -> ScreeningInput:
    root_reasons: dict[int, list[str]] = {}

    business = _decoder(Entity, "business_address_countries")
    listed = _decoder(Entity, "is_listed")

    def classify_entity_key(key: tuple, lists: tuple[str, ...] = ()) -> tuple[NodeClass, list[str]]:
        entity_type, jurisdiction, registered, countries, is_listed = key
        row = (entity_type, jurisdiction, registered, business(countries), listed(is_listed))
        return classify_entity(row, policy, lists)

    code_lists = [_decoder(Person, name) for name in ("nationalities", "residence_countries", "tax_residencies")]

    def classify_person_key(key: tuple, lists: tuple[str, ...] = ()) -> tuple[NodeClass, list[str]]:
        person_type, *codes = key
        row = (person_type, *(decode(raw) for decode, raw in zip(code_lists, codes, strict=True)))
        return classify_person(row, policy, lists)

    with read_snapshot() as pool:
        vendor = pool.vendor
        entity_lists, person_lists, list_reasons = _list_reasons()
        entity_groups, person_groups, relationships, interests = pool.run(
            grouped_ids_read(
                vendor,
                _table(Entity),
                ["entity_type", "jurisdiction_id", "registered_address_country_id", "business_address_countries"]
                + ["is_listed"],
            ),
            grouped_ids_read(
                vendor, _table(Person), ["person_type", "nationalities", "residence_countries", "tax_residencies"]
            ),
            _relationship_read(vendor),
            _interest_read(vendor, as_of),
        )
        summaries = np.array(
            sorted(
                Relationship.objects.filter(is_closed=False)
                .exclude(component_record_ids=[])
                .values_list("pk", flat=True)
            ),
            dtype=np.int64,
        )

    # ---- entities, classified once per distinct combination of facts
    entity_pks, entity_classes = _classify_groups(
        entity_groups, classify_entity_key, entity_lists, 0, root_reasons, list_reasons
    )
    n_entities = entity_pks.size

    # ---- open relationships (by id) and every interest (by relationship, then id), joined in numpy
    relationships = _sorted_by(relationships, 0)
    rel_ids = relationships[:, 0]
    interests = _sorted_by(interests, 0, 1)
    at = np.searchsorted(rel_ids, interests[:, 0])
    at_open = np.minimum(at, max(rel_ids.size - 1, 0))
    open_row = (rel_ids[at_open] == interests[:, 0]) if rel_ids.size else np.zeros(interests.shape[0], dtype=bool)
    states_interest = np.zeros(rel_ids.size, dtype=bool)
    states_interest[at_open[open_row]] = True
    in_force = open_row & ((interests[:, 1] & _IN_FORCE) != 0)
    row_rel = at_open[in_force]
    interests = interests[in_force]

    # ---- persons holding an open relationship
    person_ids = relationships[:, 3]
    holding = np.unique(person_ids[person_ids >= 0])
    person_pks, person_classes = _classify_groups(
        person_groups, classify_person_key, person_lists, n_entities, root_reasons, list_reasons, keep=holding
    )
    n_known = n_entities + person_pks.size

    def owner_nodes(rows: np.ndarray) -> np.ndarray:
        """Owner node per relationship row; -1 where it names no party (an unspecified owner)."""
        entity_ids, person_ids = relationships[rows, 2], relationships[rows, 3]
        owners = np.full(rows.size, -1, dtype=np.int64)
        by_entity, by_person = entity_ids >= 0, person_ids >= 0
        owners[by_entity] = np.searchsorted(entity_pks, entity_ids[by_entity])
        owners[by_person] = n_entities + np.searchsorted(person_pks, person_ids[by_person])
        return owners

    # ---- interests in force, with an indirect summary's own rows left out (its components are the edges)
    rel, subject, owner = interests[:, 0], np.searchsorted(entity_pks, relationships[row_rel, 1]), owner_nodes(row_rel)
    flags = interests[:, 1] % _FLAG_BITS
    kind = (flags & 7).astype(np.int8)
    keep = ~(((flags & _INDIRECT) != 0) & np.isin(rel, summaries)) if summaries.size else np.ones(rel.size, bool)
    share_low, share_high, share_low_open, share_high_open = interest_share_bounds(interests[keep])
    rel, subject, owner, kind = rel[keep], subject[keep], owner[keep], kind[keep]
    del interests, flags

    # ---- unknown owners: one node per unspecified relationship, in the order the ORM loader makes them
    bare_rows = np.nonzero(~states_interest)[0]
    bare_owner = owner_nodes(bare_rows)
    unspecified, bare_unspecified = owner < 0, bare_owner < 0
    interest_unknown = np.unique(rel[unspecified])  # by relationship id
    bare_unknown = rel_ids[bare_rows[bare_unspecified]]
    owner[unspecified] = n_known + np.searchsorted(interest_unknown, rel[unspecified])
    bare_owner[bare_unspecified] = n_known + interest_unknown.size + np.arange(bare_unknown.size)
    unknown_rel_ids = np.concatenate([interest_unknown, bare_unknown])
    node_class = np.concatenate(
        [entity_classes, person_classes, np.full(unknown_rel_ids.size, int(NodeClass.UNKNOWN_TERMINAL), np.int8)]
    )

    # ---- fold interests into one edge per relationship (rows are sorted by relationship)
    new_edge = np.ones(rel.size, dtype=bool)
    new_edge[1:] = rel[1:] != rel[:-1]
    first_row = np.flatnonzero(new_edge)
    edge_of_row = np.cumsum(new_edge) - 1
    e = first_row.size
    measured = kind <= 1
    at = 2 * edge_of_row[measured] + kind[measured]
    # bincount adds each slot's values in row order from 0.0, as the accumulator does; the running
    # upper bound capped at 1 after every addition equals the plain sum capped once (all ≥ 0).
    low = np.bincount(at, weights=share_low[measured], minlength=2 * e)
    high = np.minimum(1.0, np.bincount(at, weights=share_high[measured], minlength=2 * e))
    low_open = np.zeros(2 * e, dtype=bool)
    high_open = np.zeros(2 * e, dtype=bool)
    has_share = np.zeros(2 * e, dtype=bool)
    low_open[at[share_low_open[measured]]] = True
    high_open[at[share_high_open[measured]]] = True
    has_share[at] = True
    control = np.zeros(e, dtype=bool)
    indicator = np.zeros(e, dtype=bool)
    control[edge_of_row[kind == _CONTROL_KIND]] = True
    indicator[edge_of_row[kind == _INDICATOR_KIND]] = True
    edge_owner, edge_subject = owner[first_row], subject[first_row]

    # ---- relationships that state no interest: the party holds something, nature unknown
    if bare_rows.size:
        b = bare_rows.size
        unknown_kind = _kind(InterestType.UNKNOWN_INTEREST)
        stated = ~bare_unspecified  # a named party: an unknown interest; an unspecified one: no stake stated
        extra_low_open = np.zeros(2 * b, dtype=bool)
        extra_has = np.zeros(2 * b, dtype=bool)
        if unknown_kind <= 1:
            extra_has[2 * np.nonzero(stated)[0] + unknown_kind] = True
        edge_owner = np.concatenate([edge_owner, bare_owner])
        edge_subject = np.concatenate([edge_subject, np.searchsorted(entity_pks, relationships[bare_rows, 1])])
        low = np.concatenate([low, np.zeros(2 * b)])
        high = np.concatenate([high, np.zeros(2 * b)])
        low_open = np.concatenate([low_open, extra_low_open])
        high_open = np.concatenate([high_open, extra_low_open])
        has_share = np.concatenate([has_share, extra_has])
        control = np.concatenate([control, stated & (unknown_kind == _CONTROL_KIND)])
        indicator = np.concatenate([indicator, stated & (unknown_kind == _INDICATOR_KIND)])
        e += b

    labels = _NodeLabels(entity_pks=entity_pks, person_pks=person_pks, unknown_relationship_ids=unknown_rel_ids)
    external_ids = DeferredColumn(labels, 0)
    graph = Graph(
        node_class=node_class,
        owner=edge_owner.astype(np.int32),
        subject=edge_subject.astype(np.int32),
        share_low=np.minimum(low.reshape(e, 2), 1.0),
        share_high=high.reshape(e, 2),
        low_open=low_open.reshape(e, 2),
        high_open=high_open.reshape(e, 2),
        has_share=has_share.reshape(e, 2),
        control=control,
        indicator=indicator,
        start_day=np.full(e, INT32_MIN, dtype=np.int32),
        end_day=np.full(e, INT32_MAX, dtype=np.int32),
        node_labels=external_ids,
    )
    entity_pk_by_node = np.full(node_class.size, -1, dtype=np.int64)
    entity_pk_by_node[:n_entities] = entity_pks
    return ScreeningInput(
        graph=graph,
        entity_pk_by_node=entity_pk_by_node,
        external_ids=external_ids,
        names=DeferredColumn(labels, 1),
        root_reasons=root_reasons,
        node_by_entity_pk=dict(zip(entity_pks.tolist(), range(n_entities), strict=True)),
        list_reasons=list_reasons,
    )


# --------------------------------------------------------------------------- current decisions

_OUTCOME_CODE = {outcome.label: int(outcome) for outcome in Outcome}


@dataclass
class CurrentColumns:
    """Every current decision's version and figures, as arrays sorted by entity id.

    Outcomes are ``Outcome`` codes (-1 for a label the engine does not know); ``screened_at`` is in
    microseconds since the epoch (``screened_at_sql``), turned into a datetime only for the few
    decisions that go the slow way, whose fingerprints are read then too (``seen_rows``).
    """

    entity_id: np.ndarray
    decision_id: np.ndarray
    policy_id: np.ndarray
    outcome: np.ndarray
    figures: tuple[np.ndarray, ...]  # look-through outcome, low, high, control-chain outcome, low, high
    screened_at: np.ndarray  # int64 microseconds since the epoch

    def positions(self, entity_ids: np.ndarray) -> np.ndarray:
        """Index of each entity's current decision, -1 where it has none."""
        entity_ids = np.asarray(entity_ids, dtype=np.int64)
        if not self.entity_id.size:
            return np.full(entity_ids.size, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.entity_id, entity_ids), self.entity_id.size - 1)
        return np.where(self.entity_id[at] == entity_ids, at, -1)

    def seen_rows(self, positions: list[int]) -> list[tuple]:
        """The tuples ``screening._current_decisions`` gives for the decisions at ``positions``."""
        fingerprints = dict(
            Decision.objects.filter(pk__in=ids_in(self.decision_id[positions].tolist())).values_list(
                "pk", "result_fingerprint"
            )
        )
        rows = []
        for at in positions:
            lt_outcome, lt_low, lt_high, cc_outcome, cc_low, cc_high = (column[at] for column in self.figures)
            decision_id = int(self.decision_id[at])
            rows.append(
                (
                    decision_id,
                    fingerprints[decision_id],
                    Outcome(int(self.outcome[at])).label if self.outcome[at] >= 0 else None,
                    screened_at_value(int(self.screened_at[at])),
                    int(self.policy_id[at]),
                    Outcome(int(lt_outcome)).label if lt_outcome >= 0 else None,
                    float(lt_low),
                    float(lt_high),
                    Outcome(int(cc_outcome)).label if cc_outcome >= 0 else None,
                    float(cc_low),
                    float(cc_high),
                )
            )
        return rows


def _outcome_code_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{label}' THEN {code}" for label, code in _OUTCOME_CODE.items())
    return f"CASE {column} {cases} ELSE -1 END"


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def screened_at_sql(column: str) -> str:
    """``column`` (a ``DateTimeField``) as whole microseconds since the epoch, a ``bigint``: exact on both
    databases and compared as numbers ("has this decision moved"), with no datetime built per row.

    PostgreSQL's ``EXTRACT(EPOCH …)`` is an exact ``numeric``; SQLite stores Django's naive UTC text
    (``YYYY-MM-DD HH:MM:SS[.ffffff]``), read as whole seconds plus the six fraction digits.
    """
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    seconds = f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"  # strftime would round a fraction
    return f"({seconds} * 1000000 + CAST(substr({column} || '000000', 21, 6) AS INTEGER))"


def screened_at_value(microseconds: int) -> datetime.datetime:
    """A ``screened_at_sql`` value as the aware datetime the ORM reads."""
    return _EPOCH + datetime.timedelta(microseconds=microseconds)


def current_decision_columns() -> CurrentColumns:
    """Every current decision joined with its figures, one numeric read (binary ``COPY`` on PostgreSQL)."""
    with cyclic_gc_paused():
        return _current_decision_columns()


def _current_decision_columns() -> CurrentColumns:
    current, decision = _table(CurrentDecision), _table(Decision)
    joined = f"{current} c JOIN {decision} d ON d.id = c.decision_id"
    codes = [
        "c.entity_id",
        "c.decision_id",
        "d.policy_id",
        _outcome_code_sql("c.outcome"),
        _outcome_code_sql("d.look_through_outcome"),
        _outcome_code_sql("d.control_chain_outcome"),
        screened_at_sql("c.screened_at"),
    ]
    figures = ["d.look_through_low", "d.look_through_high", "d.control_chain_low", "d.control_chain_high"]
    if connection.vendor == "postgresql":
        packed = int_columns_read(
            "postgresql", joined, codes + figures, key="c.entity_id", ranges_of=f"{current} c", floats=len(figures)
        )
        columns = read_here(packed)
        columns = columns[np.argsort(columns[:, 0], kind="stable")].T
        numbers, doubles = columns[:7], columns[7:]
    else:
        # The codes packed as text, the doubles row by row (no exact text form to pack), on one snapshot.
        with transaction.atomic():
            packed = int_columns_read("sqlite", joined, codes, key="c.entity_id", ranges_of=f"{current} c")
            numbers = read_here(packed)
            doubles = numeric_columns(
                f"SELECT c.entity_id, {', '.join(f'CAST({f} AS DOUBLE PRECISION)' for f in figures)} "  # noqa: S608
                f"FROM {joined} ORDER BY c.entity_id",
                "iffff",
            ).T
        numbers = numbers[np.argsort(numbers[:, 0], kind="stable")].T
        if not np.array_equal(numbers[0], doubles[0]):
            raise RuntimeError("current decisions changed between two reads of one transaction")
        doubles = doubles[1:]
    ints = [numbers[i].astype(np.int64) for i in (0, 1, 2, 6)]
    outcome, look_through, control_chain = (numbers[i].astype(np.int8) for i in (3, 4, 5))
    lt_low, lt_high, cc_low, cc_high = (np.ascontiguousarray(column, dtype=np.float64) for column in doubles)
    return CurrentColumns(
        entity_id=ints[0],
        decision_id=ints[1],
        policy_id=ints[2],
        outcome=outcome,
        figures=(look_through, lt_low, lt_high, control_chain, cc_low, cc_high),
        screened_at=ints[3],
    )
