"""Reads the ownership data the engine needs and turns it into engine arrays.

This is the only place that knows both the database schema and the engine's
input format. It reads with ``values_list`` (no model instances: a million rows
must fit in memory and in seconds), classifies every node under the policy
(spec section 3) and folds each relationship's interests in force on the
screening date into one edge per relationship (spec section 4).
"""

from __future__ import annotations

import datetime
import json
import operator
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import numpy as np
from django.db import connection, connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql.constants import MULTI

from cases.models import (
    CONTROL_INTERESTS,
    INDICATOR_INTERESTS,
    DirectOrIndirect,
    Entity,
    EntityType,
    Interest,
    InterestType,
    Person,
    PersonType,
    Relationship,
    ScreeningPolicy,
    country_of,
)
from cases.ownership import Graph, NodeClass
from cases.ownership.graph import INT32_MAX, INT32_MIN
from cases.selectors.restricted_lists import entity_memberships, person_memberships

HUNDRED = Decimal(100)
_MEASURE_OF = {InterestType.SHAREHOLDING.value: 0, InterestType.VOTING_RIGHTS.value: 1}
_CONTROL = frozenset(str(t) for t in CONTROL_INTERESTS)
_INDICATOR = frozenset(str(t) for t in INDICATOR_INTERESTS)


@dataclass(frozen=True)
class PolicyView:
    """The facts of a policy version the classifier needs, read once."""

    version: int
    restricted: frozenset[str]
    count_nationality: bool
    count_residence: bool
    count_tax_residence: bool

    @classmethod
    def of(cls, policy: ScreeningPolicy) -> PolicyView:
        return cls(
            version=policy.version,
            restricted=policy.restricted_country_codes(),
            count_nationality=policy.count_nationality,
            count_residence=policy.count_residence,
            count_tax_residence=policy.count_tax_residence,
        )

    def restricted_code(self, code: str | None) -> bool:
        if not code:
            return False
        code = code.upper()
        return code in self.restricted or country_of(code) in self.restricted


@dataclass
class ScreeningInput:
    """The engine graph plus what the adapter needs to map results back."""

    graph: Graph
    entity_pk_by_node: np.ndarray  # -1 for persons and unspecified parties
    external_ids: list[str]
    names: list[str]
    root_reasons: dict[int, list[str]] = field(default_factory=dict)
    node_by_entity_pk: dict[int, int] = field(default_factory=dict)
    #: Restricted-list reasons of member nodes, named again in the reasons of what they own.
    list_reasons: dict[int, list[str]] = field(default_factory=dict)

    @cached_property
    def node_by_external_id(self) -> dict[str, int]:
        return {external_id: node for node, external_id in enumerate(self.external_ids)}

    def entity_nodes(self) -> np.ndarray:
        return np.nonzero(self.entity_pk_by_node >= 0)[0]


# --------------------------------------------------------------------------- classification


def classify_entity(row: tuple, policy: PolicyView, lists: tuple[str, ...] = ()) -> tuple[NodeClass, list[str]]:
    """Spec section 3 for one entity row (entity_type, jurisdiction, registered, business, listed).

    ``lists`` are the reasons of the entity's restricted-list memberships: a member is a
    restricted root whatever its jurisdiction (the lists name parties, not countries).
    """
    entity_type, jurisdiction, registered, business, is_listed = row
    reasons = list(lists)
    if policy.restricted_code(jurisdiction):
        kind = "State/state body of" if entity_type in (EntityType.STATE, EntityType.STATE_BODY) else "Registered in"
        reasons.append(f"{kind} {jurisdiction} (restricted jurisdiction)")
    if policy.restricted_code(registered):
        reasons.append(f"Registered address in {registered} (restricted jurisdiction)")
    for code in business or ():
        if policy.restricted_code(code):
            reasons.append(f"Business (headquarters) address in {code} (restricted jurisdiction)")
    if reasons:
        return NodeClass.RESTRICTED_ROOT, reasons
    if entity_type in (EntityType.STATE, EntityType.STATE_BODY):
        return NodeClass.CLEAN_TERMINAL, []
    if entity_type in (EntityType.ANONYMOUS_ENTITY, EntityType.UNKNOWN_ENTITY):
        return NodeClass.UNKNOWN_TERMINAL, []
    return (NodeClass.LISTED_ENTITY if is_listed else NodeClass.ENTITY), []


def classify_person(row: tuple, policy: PolicyView, lists: tuple[str, ...] = ()) -> tuple[NodeClass, list[str]]:
    """Spec section 3 for one person row (person_type, nationalities, residences, tax residencies)."""
    person_type, nationalities, residences, tax_residencies = row
    checks = (
        (policy.count_nationality, nationalities, "Nationality"),
        (policy.count_residence, residences, "Residence"),
        (policy.count_tax_residence, tax_residencies, "Tax residence"),
    )
    reasons = list(lists) + [
        f"{label} {code} (restricted jurisdiction)"
        for counts, codes, label in checks
        if counts
        for code in codes or ()
        if policy.restricted_code(code)
    ]
    if reasons:
        return NodeClass.RESTRICTED_ROOT, reasons
    if person_type == PersonType.KNOWN_PERSON:
        return NodeClass.CLEAN_TERMINAL, []
    return NodeClass.UNKNOWN_TERMINAL, []


# --------------------------------------------------------------------------- loading


#: Ids per ``IN (...)`` list on SQLite: below its 32766 bind parameters. PostgreSQL gets
#: one array parameter per query (``ids_in``), so its chunks can be much larger.
IN_CHUNK = 10_000
PG_IN_CHUNK = 200_000


def in_chunks(ids: Iterable[int], size: int | None = None) -> Iterable[list[int]]:
    """Sorted ids in lists short enough for one ``IN (...)`` each."""
    if size is None:
        size = PG_IN_CHUNK if connection.vendor == "postgresql" else IN_CHUNK
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def ids_in(ids: list[int]):
    """The right-hand side of an ``__in`` lookup for many ids.

    One parameter instead of one per id — a ``bigint[]`` on PostgreSQL (``IN (SELECT unnest(%s))``),
    a JSON text on SQLite (``IN (SELECT value FROM json_each(%s))``): Django compiling and the database
    parsing 10 000 placeholders cost more than the indexed lookups themselves (a third of a
    nothing-changed ``screen --all`` on SQLite went into compiling ``__in`` lists).
    """
    if len(ids) <= 50:
        return ids
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (pg_int_array(ids),))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(list(map(operator.index, ids))),))


def pg_int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,2,3}``), bound as text and cast with ``%s::bigint[]``.

    Django binds parameters client side, and psycopg turns a Python list into an array literal item by
    item in Python (about 1.5 µs an id: seconds for a portfolio run); joining the digits is about ten
    times faster. ``operator.index`` refuses anything that is not an integer (floats and text
    included), so only digits and signs reach the literal.
    """
    return "{" + ",".join(map(str, map(operator.index, values))) + "}"


def converted_rows(rows: QuerySet, chunk_size: int = 20000) -> Iterator[tuple]:
    """The rows of a ``values_list`` queryset, each column converted once per distinct raw value.

    ``values_list().iterator()`` runs every column's converters on every row (JSON decoding of
    country lists, decimals, dates, booleans): a fifth of a nothing-changed portfolio run. These
    columns repeat across millions of rows, so each raw value is converted once and looked up
    after that; the values are exactly what the ORM gives (its own converters do the work).
    """
    compiler = rows.query.get_compiler(using=rows.db)
    chunked = not connections[rows.db].settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    chunks = compiler.execute_sql(MULTI, chunked_fetch=chunked, chunk_size=chunk_size)
    converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
    if not converters:
        for chunk in chunks:
            yield from map(tuple, chunk)
        return
    db = connections[rows.db]
    memo: dict[int, dict] = {pos: {} for pos in converters}

    def convert(pos: int, raw):
        known = memo[pos]
        try:
            return known[raw]
        except KeyError:
            pass
        except TypeError:  # an unhashable raw value: convert it every time
            return _apply(converters[pos], raw, db)
        value = known[raw] = _apply(converters[pos], raw, db)
        return value

    for chunk in chunks:
        for row in chunk:
            row = list(row)
            for pos in converters:
                row[pos] = convert(pos, row[pos])
            yield tuple(row)


def _apply(converters_of_column, raw, db):
    functions, expression = converters_of_column
    value = raw
    for function in functions:
        value = function(value, expression, db)
    return value


def upstream_entity_ids(entity_ids: Iterable[int]) -> set[int]:
    """The entities themselves and every entity that owns them, directly or indirectly, through open
    relationships: the scope of a screening of a few entities, so it never loads the whole graph.

    One recursive query (``UNION`` drops entities already reached, so cycles end), not a query per
    level: a 100 000-member ownership cycle is 100 000 levels deep. The seeds are one parameter
    (a PostgreSQL array, an SQLite JSON text), so any number of them fits.
    """
    seeds = sorted(set(entity_ids))
    if not seeds:
        return set()
    relationship = connection.ops.quote_name(Relationship._meta.db_table)
    if connection.vendor == "postgresql":
        seed_rows, param = "SELECT unnest(%s::bigint[])", pg_int_array(seeds)
    else:
        seed_rows, param = "SELECT value FROM json_each(%s)", json.dumps(seeds)
    sql = (
        f"WITH RECURSIVE up(id) AS ({seed_rows} UNION "  # noqa: S608 - quoted model metadata
        f"SELECT r.interested_entity_id FROM {relationship} r JOIN up ON r.subject_id = up.id "
        f"WHERE NOT r.is_closed AND r.interested_entity_id IS NOT NULL) SELECT id FROM up"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [param])
        return {row[0] for row in cursor.fetchall()}


def _day(value: datetime.date | None, default: int) -> int:
    return default if value is None else (value - datetime.date(1970, 1, 1)).days


def _interest_in_force(start: datetime.date | None, end: datetime.date | None, as_of: datetime.date) -> bool:
    return (start is None or start <= as_of) and (end is None or as_of <= end)


def _share_bounds(exact, minimum, maximum, min_excl, max_excl) -> tuple[float, float, bool, bool]:
    """A share as (low, high, low_open, high_open) fractions; a missing share is 0..100 %."""
    if exact is not None:
        value = float(exact / HUNDRED)
        return value, value, False, False
    low = 0.0 if minimum is None else float(minimum / HUNDRED)
    high = 1.0 if maximum is None else float(maximum / HUNDRED)
    return low, high, bool(min_excl) and minimum is not None, bool(max_excl) and maximum is not None


class _EdgeAccumulator:
    """Folds interests into one edge per relationship (several interests of a measure add up).

    Columns are flat ``array.array``s (measure m of edge i at ``2 * i + m``), about
    40 bytes an edge instead of ~600 for lists of small lists: 1.5 M edges fit in ~60 MB.
    """

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.owner = array("i")
        self.subject = array("i")
        self.low = array("d")
        self.high = array("d")
        self.low_open = array("b")
        self.high_open = array("b")
        self.has_share = array("b")
        self.control = array("b")
        self.indicator = array("b")

    def edge(self, relationship_id: int, owner: int, subject: int) -> int:
        edge = self.index.get(relationship_id)
        if edge is None:
            edge = self.index[relationship_id] = len(self.owner)
            self.owner.append(owner)
            self.subject.append(subject)
            for column in (self.low, self.high):
                column.extend((0.0, 0.0))
            for column in (self.low_open, self.high_open, self.has_share):
                column.extend((0, 0))
            self.control.append(0)
            self.indicator.append(0)
        return edge

    def add_interest(self, edge: int, interest_type: str, share: tuple[float, float, bool, bool]) -> None:
        measure = _MEASURE_OF.get(interest_type)
        if measure is not None:
            low, high, low_open, high_open = share
            at = 2 * edge + measure
            self.low[at] += low
            self.high[at] = min(1.0, self.high[at] + high)
            self.low_open[at] |= bool(low_open)
            self.high_open[at] |= bool(high_open)
            self.has_share[at] = 1
        elif interest_type in _CONTROL:
            self.control[edge] = 1
        elif interest_type in _INDICATOR:
            self.indicator[edge] = 1

    def graph(self, node_class: list[int], labels: list[str]) -> Graph:
        e = len(self.owner)

        def pairs(column, dtype):
            return (
                np.frombuffer(column, dtype=np.float64 if column.typecode == "d" else np.int8)
                .reshape(e, 2)
                .astype(dtype)
            )

        return Graph(
            node_class=np.array(node_class, dtype=np.int8),
            owner=np.frombuffer(self.owner, dtype=np.intc).astype(np.int32),
            subject=np.frombuffer(self.subject, dtype=np.intc).astype(np.int32),
            share_low=np.minimum(pairs(self.low, np.float64), 1.0),
            share_high=pairs(self.high, np.float64),
            low_open=pairs(self.low_open, bool),
            high_open=pairs(self.high_open, bool),
            has_share=pairs(self.has_share, bool),
            control=np.frombuffer(self.control, dtype=np.int8).astype(bool),
            indicator=np.frombuffer(self.indicator, dtype=np.int8).astype(bool),
            start_day=np.full(e, INT32_MIN, dtype=np.int32),
            end_day=np.full(e, INT32_MAX, dtype=np.int32),
            node_labels=labels,
        )


def load_screening_input(
    *, policy: PolicyView, as_of: datetime.date, entity_ids: Iterable[int] | None = None
) -> ScreeningInput:
    """Build the engine graph for all entities, or for the upstream closure of ``entity_ids``.

    Everything is read with ``values_list`` iterators (no model instances); a scope
    is queried in ``IN_CHUNK`` pieces so any size of closure works on both databases.
    """
    scope = None if entity_ids is None else upstream_entity_ids(entity_ids)
    parts: list[list[int] | None] = [None] if scope is None else list(in_chunks(scope))

    def relationships(part: list[int] | None):
        rows = Relationship.objects.filter(is_closed=False)
        return rows if part is None else rows.filter(subject_id__in=ids_in(part))

    node_class: list[int] = []
    labels: list[str] = []
    names: list[str] = []
    entity_pks: list[int] = []
    root_reasons: dict[int, list[str]] = {}
    node_by_entity: dict[int, int] = {}
    # Classification and share conversion depend only on a few facts that repeat across
    # millions of rows: compute each distinct combination once.
    entity_classes: dict[tuple, tuple[NodeClass, list[str]]] = {}
    person_classes: dict[tuple, tuple[NodeClass, list[str]]] = {}
    share_bounds: dict[tuple, tuple[float, float, bool, bool]] = {}
    entity_lists, person_lists, list_reasons = _list_reasons()

    def add_node(cls: NodeClass, external_id: str, name: str, entity_pk: int, reasons: list[str]) -> int:
        node = len(node_class)
        node_class.append(int(cls))
        labels.append(external_id)
        names.append(name)
        entity_pks.append(entity_pk)
        if reasons:
            root_reasons[node] = reasons
        return node

    for part in parts:
        entities = Entity.objects.all() if part is None else Entity.objects.filter(pk__in=ids_in(part))
        for pk, external_id, name, *facts in converted_rows(
            entities.order_by("pk").values_list(
                "pk",
                "external_id",
                "name",
                "entity_type",
                "jurisdiction_id",
                "registered_address_country_id",
                "business_address_countries",
                "is_listed",
            )
        ):
            lists = entity_lists.get(pk, ())
            key = (facts[0], facts[1], facts[2], tuple(facts[3] or ()), facts[4], lists)
            known = entity_classes.get(key)
            if known is None:
                known = entity_classes[key] = classify_entity(tuple(facts), policy, lists)
            cls, reasons = known[0], list(known[1])
            node_by_entity[pk] = add_node(cls, external_id, name, pk, reasons)
            if lists:
                list_reasons[node_by_entity[pk]] = list(lists)

    person_ids: set[int] = set()
    summaries: set[int] = set()
    for part in parts:
        person_ids.update(
            relationships(part)
            .filter(interested_person__isnull=False)
            .values_list("interested_person_id", flat=True)
            .iterator(chunk_size=20000)
        )
        summaries.update(relationships(part).exclude(component_record_ids=[]).values_list("pk", flat=True))
    node_by_person: dict[int, int] = {}
    person_parts = [None] if scope is None else list(in_chunks(person_ids))
    for part in person_parts:
        persons = Person.objects.all() if part is None else Person.objects.filter(pk__in=ids_in(part))
        for pk, external_id, name, *facts in converted_rows(
            persons.order_by("pk").values_list(
                "pk", "external_id", "name", "person_type", "nationalities", "residence_countries", "tax_residencies"
            )
        ):
            if part is None and pk not in person_ids:
                continue  # owns nothing in force: not a node
            lists = person_lists.get(pk, ())
            key = (facts[0], *(tuple(codes or ()) for codes in facts[1:]), lists)
            known = person_classes.get(key)
            if known is None:
                known = person_classes[key] = classify_person(tuple(facts), policy, lists)
            cls, reasons = known[0], list(known[1])
            node_by_person[pk] = add_node(cls, external_id, name or "Unnamed person", -1, reasons)
            if lists:
                list_reasons[node_by_person[pk]] = list(lists)

    edges = _EdgeAccumulator()

    def owner_node(rel_id, entity_id, person_id, reason, rel_external_id) -> int | None:
        if entity_id is not None:
            return node_by_entity.get(entity_id)
        if person_id is not None:
            return node_by_person.get(person_id)
        # Each unspecified interested party is its own unknown owner; its reason code is kept in the label.
        return add_node(
            NodeClass.UNKNOWN_TERMINAL, f"unspecified:{rel_external_id}", f"Unspecified owner ({reason})", -1, []
        )

    unspecified_nodes: dict[int, int] = {}
    for part in parts:
        rows = converted_rows(
            Interest.objects.filter(relationship__in=relationships(part))
            .values_list(
                "relationship_id",
                "relationship__external_id",
                "relationship__subject_id",
                "relationship__interested_entity_id",
                "relationship__interested_person_id",
                "relationship__unspecified_reason",
                "interest_type",
                "direct_or_indirect",
                "share_exact",
                "share_minimum",
                "share_maximum",
                "share_minimum_exclusive",
                "share_maximum_exclusive",
                "start_date",
                "end_date",
            )
            .order_by("relationship_id", "pk")
        )
        for rel_id, rel_ext, subject_id, ent_id, person_id, reason, itype, direction, *share, start, end in rows:
            if rel_id in summaries and direction == DirectOrIndirect.INDIRECT:
                continue  # an indirect summary is evidence; its components are the edges
            if not _interest_in_force(start, end, as_of):
                continue
            subject = node_by_entity.get(subject_id)
            if subject is None:
                continue
            owner = _owner(rel_id, ent_id, person_id, reason, rel_ext, unspecified_nodes, owner_node)
            if owner is None:
                continue
            bounds = share_bounds.get(key := tuple(share))
            if bounds is None:
                bounds = share_bounds[key] = _share_bounds(*share)
            edges.add_interest(edges.edge(rel_id, owner, subject), itype, bounds)

    # A relationship that states no interests at all: the party holds something, nature unknown.
    for part in parts:
        for rel_id, rel_ext, subject_id, ent_id, person_id, reason in (
            relationships(part)
            .filter(interests__isnull=True)
            .values_list(
                "pk", "external_id", "subject_id", "interested_entity_id", "interested_person_id", "unspecified_reason"
            )
            .order_by("pk")
        ):
            subject = node_by_entity.get(subject_id)
            owner = _owner(rel_id, ent_id, person_id, reason, rel_ext, unspecified_nodes, owner_node)
            if subject is None or owner is None:
                continue
            if ent_id is None and person_id is None:
                edges.edge(rel_id, owner, subject)  # unspecified owner: no stake stated, the remainder stays unknown
            else:
                edges.add_interest(
                    edges.edge(rel_id, owner, subject), InterestType.UNKNOWN_INTEREST, (0, 0, False, False)
                )

    return ScreeningInput(
        graph=edges.graph(node_class, labels),
        entity_pk_by_node=np.array(entity_pks, dtype=np.int64),
        external_ids=labels,
        names=names,
        root_reasons=root_reasons,
        node_by_entity_pk=node_by_entity,
        list_reasons=list_reasons,
    )


def _list_reasons() -> tuple[dict[int, tuple[str, ...]], dict[int, tuple[str, ...]], dict[int, list[str]]]:
    """Restricted-list reasons per entity and person pk (lists are small: read whole, once per load)."""

    def reasons(memberships) -> dict[int, tuple[str, ...]]:
        return {pk: tuple(m.reason for m in found) for pk, found in memberships.items()}

    return reasons(entity_memberships()), reasons(person_memberships()), {}


def _owner(rel_id, ent_id, person_id, reason, rel_ext, unspecified_nodes, owner_node) -> int | None:
    if ent_id is None and person_id is None:
        if rel_id not in unspecified_nodes:
            unspecified_nodes[rel_id] = owner_node(rel_id, None, None, reason, rel_ext)
        return unspecified_nodes[rel_id]
    return owner_node(rel_id, ent_id, person_id, reason, rel_ext)
