"""The whole portfolio's graph and current decisions read as columns, for a portfolio run in one pass.

``screening_input.load_screening_input`` reads an upstream closure through the ORM's
``values_list`` and folds interests one Python call at a time: right for a handful of entities
re-screened after a write, and for workers that each take a slice of a graph too big for one
process. A daily portfolio run reads everything anyway, so here every table is read once with a raw
cursor (PostgreSQL: ``COPY (SELECT …) TO STDOUT`` through psycopg's ``cursor.copy``; SQLite: the
plain ``sqlite3`` cursor), values that repeat across millions of rows (country lists, share
figures) are decoded once per distinct raw value with Django's own converters, and the interests
are folded into edges with numpy. The result is the same ``ScreeningInput``, node for node and
edge for edge, as ``load_screening_input(entity_ids=None)`` (``tests/selectors/test_screening_columns.py``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Model

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
from cases.selectors.screening_input import (
    _CONTROL,
    _INDICATOR,
    _MEASURE_OF,
    PolicyView,
    ScreeningInput,
    _list_reasons,
    _share_bounds,
    classify_entity,
    classify_person,
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


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def raw_rows(sql: str, pg_types: list[str]) -> list[tuple]:
    """Every row of ``sql`` (no parameters) as plain tuples, without Django's per-row converters.

    PostgreSQL streams the rows with ``COPY … TO STDOUT`` (psycopg parses the text format in C with
    the loaders of ``pg_types``), on the connection's current transaction and so its snapshot.
    SQLite returns what the ``sqlite3`` cursor gives (its declared-type converters only).
    """
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT") as copy:
            copy.set_types(pg_types)
            return list(copy.rows())
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


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


def load_portfolio_input(*, policy: PolicyView, as_of: datetime.date) -> ScreeningInput:
    """The engine graph of every entity, read in one pass (see the module docstring).

    Node order, labels, reasons and edges are those of ``load_screening_input(entity_ids=None)``:
    entities by id, then the persons holding an open relationship by id, then one unknown owner per
    unspecified relationship (those with an interest in force by relationship id, then those stating
    no interest); edges by relationship id, then the relationships that state no interest.
    """
    entity_lists, person_lists, list_reasons = _list_reasons()
    node_class: list[int] = []
    labels: list[str] = []
    names: list[str] = []
    root_reasons: dict[int, list[str]] = {}

    # ---- entities
    entity_rows = raw_rows(
        "SELECT id, external_id, name, entity_type, jurisdiction_id, registered_address_country_id, "  # noqa: S608
        f"business_address_countries, is_listed FROM {_table(Entity)} ORDER BY id",
        ["int8", "text", "text", "text", "text", "text", "text", "bool"],
    )
    business = _decoder(Entity, "business_address_countries")
    listed = _decoder(Entity, "is_listed")
    classes: dict[tuple, tuple[NodeClass, list[str]]] = {}
    entity_pks = _ids((row[0] for row in entity_rows), len(entity_rows))
    for node, (pk, external_id, name, entity_type, jurisdiction, registered, countries, is_listed) in enumerate(
        entity_rows
    ):
        lists = entity_lists.get(pk, ()) if entity_lists else ()
        key = (entity_type, jurisdiction, registered, countries, is_listed, lists)
        known = classes.get(key)
        if known is None:
            facts = (entity_type, jurisdiction, registered, business(countries), listed(is_listed))
            known = classes[key] = classify_entity(facts, policy, lists)
        node_class.append(int(known[0]))
        labels.append(external_id)
        names.append(name)
        if known[1]:
            root_reasons[node] = list(known[1])
        if lists:
            list_reasons[node] = list(lists)
    del entity_rows
    n_entities = len(labels)

    # ---- persons holding an open relationship
    relationship, interest = _table(Relationship), _table(Interest)
    person_rows = raw_rows(
        "SELECT id, external_id, name, person_type, nationalities, residence_countries, tax_residencies "  # noqa: S608
        f"FROM {_table(Person)} WHERE id IN (SELECT interested_person_id FROM {relationship} "
        "WHERE NOT is_closed AND interested_person_id IS NOT NULL) ORDER BY id",
        ["int8", "text", "text", "text", "text", "text", "text"],
    )
    code_lists = [_decoder(Person, name) for name in ("nationalities", "residence_countries", "tax_residencies")]
    classes = {}
    person_pks = _ids((row[0] for row in person_rows), len(person_rows))
    for node, (pk, external_id, name, person_type, *codes) in enumerate(person_rows, start=n_entities):
        lists = person_lists.get(pk, ()) if person_lists else ()
        key = (person_type, *codes, lists)
        known = classes.get(key)
        if known is None:
            facts = (person_type, *(decode(raw) for decode, raw in zip(code_lists, codes, strict=True)))
            known = classes[key] = classify_person(facts, policy, lists)
        node_class.append(int(known[0]))
        labels.append(external_id)
        names.append(name or "Unnamed person")
        if known[1]:
            root_reasons[node] = list(known[1])
        if lists:
            list_reasons[node] = list(lists)
    del person_rows

    def owner_nodes(entity_ids: np.ndarray, person_ids: np.ndarray) -> np.ndarray:
        """Owner node per row; -1 where the relationship names no party (an unspecified owner)."""
        owners = np.full(entity_ids.size, -1, dtype=np.int64)
        by_entity, by_person = entity_ids >= 0, person_ids >= 0
        owners[by_entity] = np.searchsorted(entity_pks, entity_ids[by_entity])
        owners[by_person] = n_entities + np.searchsorted(person_pks, person_ids[by_person])
        return owners

    # ---- interests in force, by relationship then interest
    day = as_of.isoformat()  # an ISO date: digits and dashes only
    rows = raw_rows(
        "SELECT i.relationship_id, r.subject_id, COALESCE(r.interested_entity_id, -1), "  # noqa: S608
        "COALESCE(r.interested_person_id, -1), i.interest_type, i.direct_or_indirect, i.share_exact, "
        "i.share_minimum, i.share_maximum, i.share_minimum_exclusive, i.share_maximum_exclusive "
        f"FROM {interest} i JOIN {relationship} r ON r.id = i.relationship_id WHERE NOT r.is_closed "
        f"AND (i.start_date IS NULL OR i.start_date <= '{day}') AND (i.end_date IS NULL OR i.end_date >= '{day}') "
        "ORDER BY i.relationship_id, i.id",
        ["int8", "int8", "int8", "int8", "text", "text", "numeric", "numeric", "numeric", "bool", "bool"],
    )
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 11
    del rows
    rel = _ids(columns[0], n)
    subject = np.searchsorted(entity_pks, _ids(columns[1], n))
    owner = owner_nodes(_ids(columns[2], n), _ids(columns[3], n))
    kinds: dict[str, int] = {}
    kind = np.fromiter(
        (kinds[t] if t in kinds else kinds.setdefault(t, _kind(t)) for t in columns[4]), dtype=np.int8, count=n
    )
    summaries = np.array(
        sorted(
            Relationship.objects.filter(is_closed=False).exclude(component_record_ids=[]).values_list("pk", flat=True)
        ),
        dtype=np.int64,
    )
    indirect = np.fromiter((d == DirectOrIndirect.INDIRECT for d in columns[5]), dtype=bool, count=n)
    # An indirect summary is evidence; its components are the edges.
    keep = ~(indirect & np.isin(rel, summaries)) if summaries.size else np.ones(n, dtype=bool)
    share_fields = [
        "share_exact",
        "share_minimum",
        "share_maximum",
        "share_minimum_exclusive",
        "share_maximum_exclusive",
    ]
    decoders = [_decoder(Interest, name) for name in share_fields]
    bounds_of: dict[tuple, int] = {}
    bounds: list[tuple[float, float, bool, bool]] = []

    def bounds_index(raw: tuple) -> int:
        found = bounds_of.get(raw)
        if found is None:
            found = bounds_of[raw] = len(bounds)
            bounds.append(_share_bounds(*(decode(value) for decode, value in zip(decoders, raw, strict=True))))
        return found

    share = np.fromiter(map(bounds_index, zip(*columns[6:11], strict=True)), dtype=np.int64, count=n)
    del columns
    rel, subject, owner, kind, share = rel[keep], subject[keep], owner[keep], kind[keep], share[keep]

    # ---- unknown owners: one node per unspecified relationship, in the order the ORM loader makes them
    unspecified_rows = raw_rows(
        f"SELECT id, external_id, unspecified_reason FROM {relationship} WHERE NOT is_closed "  # noqa: S608
        "AND interested_entity_id IS NULL AND interested_person_id IS NULL",
        ["int8", "text", "text"],
    )
    unspecified = {pk: (external_id, reason) for pk, external_id, reason in unspecified_rows}
    unknown_node: dict[int, int] = {}

    def unknown_owner(rel_id: int) -> int:
        node = unknown_node.get(rel_id)
        if node is None:
            external_id, reason = unspecified[rel_id]
            node = unknown_node[rel_id] = len(node_class)
            node_class.append(int(NodeClass.UNKNOWN_TERMINAL))
            labels.append(f"unspecified:{external_id}")
            names.append(f"Unspecified owner ({reason})")
        return node

    no_owner = owner < 0
    if no_owner.any():
        owner[no_owner] = [unknown_owner(rel_id) for rel_id in rel[no_owner].tolist()]

    # ---- fold interests into one edge per relationship (rows are sorted by relationship)
    edge_rel, first_row, edge_of_row = np.unique(rel, return_index=True, return_inverse=True)
    e = edge_rel.size
    bounds_table = np.array(bounds, dtype=np.float64).reshape(-1, 4)
    measured = kind <= 1
    at = 2 * edge_of_row[measured] + kind[measured]
    low_of = bounds_table[share[measured], 0] if measured.any() else np.zeros(0)
    high_of = bounds_table[share[measured], 1] if measured.any() else np.zeros(0)
    # bincount adds each slot's values in row order from 0.0, as the accumulator does; the running
    # upper bound capped at 1 after every addition equals the plain sum capped once (all ≥ 0).
    low = np.bincount(at, weights=low_of, minlength=2 * e)
    high = np.minimum(1.0, np.bincount(at, weights=high_of, minlength=2 * e))
    low_open = np.zeros(2 * e, dtype=bool)
    high_open = np.zeros(2 * e, dtype=bool)
    has_share = np.zeros(2 * e, dtype=bool)
    if measured.any():
        low_open[at[bounds_table[share[measured], 2] != 0]] = True
        high_open[at[bounds_table[share[measured], 3] != 0]] = True
        has_share[at] = True
    control = np.zeros(e, dtype=bool)
    indicator = np.zeros(e, dtype=bool)
    control[edge_of_row[kind == _CONTROL_KIND]] = True
    indicator[edge_of_row[kind == _INDICATOR_KIND]] = True
    edge_owner, edge_subject = owner[first_row], subject[first_row]

    # ---- relationships that state no interest: the party holds something, nature unknown
    bare_rows = raw_rows(
        f"SELECT r.id, r.subject_id, COALESCE(r.interested_entity_id, -1), COALESCE(r.interested_person_id, -1) "  # noqa: S608
        f"FROM {relationship} r WHERE NOT r.is_closed AND NOT EXISTS "
        f"(SELECT 1 FROM {interest} i WHERE i.relationship_id = r.id) ORDER BY r.id",
        ["int8", "int8", "int8", "int8"],
    )
    if bare_rows:
        bare = np.array(bare_rows, dtype=np.int64).reshape(-1, 4)
        bare_owner = owner_nodes(bare[:, 2], bare[:, 3])
        bare_unspecified = bare_owner < 0
        if bare_unspecified.any():
            bare_owner[bare_unspecified] = [unknown_owner(rel_id) for rel_id in bare[bare_unspecified, 0].tolist()]
        b = len(bare_rows)
        unknown_kind = _kind(InterestType.UNKNOWN_INTEREST)
        stated = ~bare_unspecified  # a named party: an unknown interest; an unspecified one: no stake stated
        extra_low_open = np.zeros(2 * b, dtype=bool)
        extra_has = np.zeros(2 * b, dtype=bool)
        if unknown_kind <= 1:
            extra_has[2 * np.nonzero(stated)[0] + unknown_kind] = True
        edge_owner = np.concatenate([edge_owner, bare_owner])
        edge_subject = np.concatenate([edge_subject, np.searchsorted(entity_pks, bare[:, 1])])
        low = np.concatenate([low, np.zeros(2 * b)])
        high = np.concatenate([high, np.zeros(2 * b)])
        low_open = np.concatenate([low_open, extra_low_open])
        high_open = np.concatenate([high_open, extra_low_open])
        has_share = np.concatenate([has_share, extra_has])
        control = np.concatenate([control, stated & (unknown_kind == _CONTROL_KIND)])
        indicator = np.concatenate([indicator, stated & (unknown_kind == _INDICATOR_KIND)])
        e += b

    graph = Graph(
        node_class=np.array(node_class, dtype=np.int8),
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
        node_labels=labels,
    )
    entity_pk_by_node = np.full(len(node_class), -1, dtype=np.int64)
    entity_pk_by_node[:n_entities] = entity_pks
    return ScreeningInput(
        graph=graph,
        entity_pk_by_node=entity_pk_by_node,
        external_ids=labels,
        names=names,
        root_reasons=root_reasons,
        node_by_entity_pk=dict(zip(entity_pks.tolist(), range(n_entities), strict=True)),
        list_reasons=list_reasons,
    )


# --------------------------------------------------------------------------- current decisions

_OUTCOME_CODE = {outcome.label: int(outcome) for outcome in Outcome}


@dataclass
class CurrentColumns:
    """Every current decision's version and figures, as arrays sorted by entity id.

    Outcomes are ``Outcome`` codes (-1 for a label the engine does not know); ``screened_at`` stays
    the driver's raw value (SQLite: text), converted only for the few decisions that go the slow way.
    """

    entity_id: np.ndarray
    decision_id: np.ndarray
    policy_id: np.ndarray
    outcome: np.ndarray
    figures: tuple[np.ndarray, ...]  # look-through outcome, low, high, control-chain outcome, low, high
    fingerprint: list[str]
    screened_at: list

    def positions(self, entity_ids: np.ndarray) -> np.ndarray:
        """Index of each entity's current decision, -1 where it has none."""
        entity_ids = np.asarray(entity_ids, dtype=np.int64)
        if not self.entity_id.size:
            return np.full(entity_ids.size, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.entity_id, entity_ids), self.entity_id.size - 1)
        return np.where(self.entity_id[at] == entity_ids, at, -1)

    def seen_row(self, at: int) -> tuple:
        """The tuple ``screening._current_decisions`` gives for the decision at ``at``."""
        convert = getattr(connection.ops, "convert_datetimefield_value", None)
        screened_at = self.screened_at[at]
        if convert is not None:
            screened_at = convert(screened_at, None, connection)
        lt_outcome, lt_low, lt_high, cc_outcome, cc_low, cc_high = (column[at] for column in self.figures)
        return (
            int(self.decision_id[at]),
            self.fingerprint[at],
            Outcome(int(self.outcome[at])).label if self.outcome[at] >= 0 else None,
            screened_at,
            int(self.policy_id[at]),
            Outcome(int(lt_outcome)).label if lt_outcome >= 0 else None,
            float(lt_low),
            float(lt_high),
            Outcome(int(cc_outcome)).label if cc_outcome >= 0 else None,
            float(cc_low),
            float(cc_high),
        )


def _outcome_code_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{label}' THEN {code}" for label, code in _OUTCOME_CODE.items())
    return f"CASE {column} {cases} ELSE -1 END"


def screened_at_sql(column: str) -> str:
    """``column`` as the raw value compared for "has this decision moved": SQLite's stored text (its
    ``datetime`` converter would parse every row), PostgreSQL's ``timestamptz`` (parsed by psycopg in C)."""
    return column if connection.vendor == "postgresql" else f"{column} || ''"


def current_decision_columns() -> CurrentColumns:
    """Every current decision joined with its figures, one raw read (``COPY`` on PostgreSQL)."""
    rows = raw_rows(
        f"SELECT c.entity_id, c.decision_id, d.policy_id, {_outcome_code_sql('c.outcome')}, "  # noqa: S608
        f"{_outcome_code_sql('d.look_through_outcome')}, d.look_through_low, d.look_through_high, "
        f"{_outcome_code_sql('d.control_chain_outcome')}, d.control_chain_low, d.control_chain_high, "
        f"d.result_fingerprint, {screened_at_sql('c.screened_at')} FROM {_table(CurrentDecision)} c "
        f"JOIN {_table(Decision)} d ON d.id = c.decision_id ORDER BY c.entity_id",
        ["int8", "int8", "int8", "int2", "int2", "float8", "float8", "int2", "float8", "float8", "text", "timestamptz"],
    )
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 12
    floats = [np.fromiter(columns[i], dtype=np.float64, count=n) for i in (5, 6, 8, 9)]
    codes = [np.fromiter(columns[i], dtype=np.int8, count=n) for i in (3, 4, 7)]
    return CurrentColumns(
        entity_id=_ids(columns[0], n),
        decision_id=_ids(columns[1], n),
        policy_id=_ids(columns[2], n),
        outcome=codes[0],
        figures=(codes[1], floats[0], floats[1], codes[2], floats[2], floats[3]),
        fingerprint=list(columns[10]),
        screened_at=list(columns[11]),
    )
