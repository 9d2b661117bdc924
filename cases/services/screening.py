"""The screening adapter: load the graph, run the engine, store the decisions.

This is the one place where the pure engine (``cases.ownership``) meets the
database. Decisions are stored in chunks, each in its own transaction, so a
portfolio-wide re-screen keeps memory bounded and a killed run keeps every
chunk it finished. A decision whose result is unchanged is not stored again;
only ``CurrentDecision.screened_at`` moves. What a changed decision entails (audit,
exemptions, effective decision, cases) is one call in the same transaction:
``consequences.decision_consequences``. Decisions and current decisions are
written with raw ``COPY``/multi-row SQL (``bulk_sql.TableWriter``), not the ORM:
a first portfolio run stores one of each per entity.
"""

from __future__ import annotations

import datetime
import gc
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial

import numpy as np
import orjson
from django.db import connection, transaction
from django.utils import timezone

from cases.collector import cyclic_gc_paused
from cases.json_text import json_text
from cases.models import Case, CurrentDecision, Decision, Entity, Relationship, ScreeningPolicy
from cases.ownership import Method, NodeClass, Outcome, Policy, ScreeningResult, screen
from cases.roles import require_perm
from cases.selectors.parallel_read import int_columns_read, read_here
from cases.selectors.screening_columns import (
    CurrentColumns,
    current_decision_columns,
    load_portfolio_input,
    plain_column,
    screened_at_sql,
)
from cases.selectors.screening_input import (
    PolicyView,
    ScreeningInput,
    ids_in,
    in_chunks,
    load_screening_input,
    pg_int_array,
)
from cases.services.bulk_sql import TableWriter, select_pairs
from cases.services.consequences import DecisionChange, DecisionFacts, decision_consequences
from cases.services.decision_inputs import record_decision_inputs
from cases.services.policy import policy_get_active
from cases.services.rescreen_requests import rescreen_request

CHUNK_SIZE = 2000
MAX_PATHS = 10


@dataclass
class ScreenSummary:
    as_of: datetime.date
    policy_version: int
    screened: int = 0
    changed: int = 0
    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    engine_seconds: float = 0.0
    superseded: int = 0
    #: Entities not stored because another screening stored a decision for them after this one read
    #: the graph; recorded again (``rescreen_request``, same transaction) to be decided from newer data.
    raced: list[int] = field(default_factory=list)
    payloads: list[dict] = field(default_factory=list)


def engine_policy(policy: ScreeningPolicy) -> Policy:
    """The engine's view of a policy version (threshold as an exact fraction)."""
    return Policy(
        threshold=Fraction(policy.threshold) / 100,
        inclusive=policy.threshold_inclusive,
        method=Method(policy.method),
    )


def decision_payload(
    *, result: ScreeningResult, data: ScreeningInput, node: int, as_of: datetime.date, policy_version: int
) -> dict:
    """The spec section 11 decision object for one node, with the adapter's root reasons first."""
    return decision_payloads(result=result, data=data, nodes=[node], as_of=as_of, policy_version=policy_version)[0]


def decision_payloads(
    *, result: ScreeningResult, data: ScreeningInput, nodes, as_of: datetime.date, policy_version: int
) -> list[dict]:
    """``decision_payload`` of many nodes (a chunk's new decisions): the engine explains them together."""
    names, external_ids = plain_column(data.names), plain_column(data.external_ids)  # read many times
    bodies = result.decision_dicts(nodes, names, MAX_PATHS, path_labels=external_ids, root_notes=data.list_reasons)
    node_by_external_id = data.node_by_external_id
    as_of_text = as_of.isoformat()
    payloads = []
    for node, body in zip(np.asarray(nodes, dtype=np.int64).reshape(-1).tolist(), bodies, strict=True):
        root_reasons = data.root_reasons.get(node, [])
        for path in body.get("paths", []):
            # Path nodes are external ids (stable, what integrations match on); names are for people.
            path["names"] = [names[node_by_external_id[external_id]] for external_id in path["nodes"]]
        payloads.append(
            {
                "entity": external_ids[node],
                "entity_name": names[node],
                "outcome": body["outcome"],
                "as_of": as_of_text,
                "policy_version": policy_version,
                "methods": body["methods"],
                "reasons": root_reasons + [reason for reason in body["reasons"] if reason not in root_reasons],
                "paths": body.get("paths", []),
            }
        )
    return payloads


_AS_STANDARD_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _as_standard(canonical: bytes) -> bool:
    """Whether orjson's ``canonical`` is what the standard encoder writes. It may differ in anything but
    printable ASCII (``ensure_ascii`` escapes the rest, DEL included; orjson escapes control characters with a
    backslash), in any escape, in ``null`` (orjson writes NaN and infinities as null) and in numbers that
    ``repr`` writes with an exponent (orjson writes 1e-05 as 0.00001 and 1.5e-07 as 1.5e-7); every other
    float it writes as ``repr`` does. Byte searches, not a regular expression: a payload is a kilobyte."""
    c = canonical
    return c.isascii() and not (
        b"\\" in c or b"\x7f" in c or b"null" in c or b"0.0000" in c or b"e-" in c or b"e+" in c
    )


def result_fingerprint(payload: dict) -> str:
    """What makes two decisions the same: everything but the screening date.

    SHA-256 of the standard library's sorted compact JSON (``ensure_ascii``, ``default=str``). orjson gives
    the same bytes for almost every payload, several times faster (a first portfolio run fingerprints every
    decision); where its output could differ (``_as_standard``) or it refuses a value, the standard
    encoder writes it. orjson would write a datetime, a dataclass or a subclass of a JSON type otherwise than
    ``default=str`` does, so those are refused (passed through) and take the standard encoder too; payloads
    hold only plain JSON values (``decision_payloads``), so a plain ``Enum`` member, which orjson writes
    as its value, never reaches it.
    """
    material = {key: value for key, value in payload.items() if key != "as_of"}
    try:
        canonical = orjson.dumps(material, option=_AS_STANDARD_OPTIONS)
    except TypeError:
        canonical = None
    if canonical is None or not _as_standard(canonical):
        canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(canonical).hexdigest()


#: Decision columns written by ``_store_chunk``, in ``Decision``'s concrete field order after ``id``.
_DECISION_COLUMNS = [
    "entity_id",
    "outcome",
    "look_through_outcome",
    "look_through_low",
    "look_through_high",
    "control_chain_outcome",
    "control_chain_low",
    "control_chain_high",
    "is_restricted_root",
    "payload",
    "policy_id",
    "as_of",
    "result_fingerprint",
    "computed_at",
]
_DECISION_FIELDS = ["id", *_DECISION_COLUMNS]
_CURRENT_COLUMNS = ["entity_id", "decision_id", "outcome", "screened_at", "as_of"]
_OUTCOME_LABELS = {int(outcome): outcome.label for outcome in Outcome}


#: A decision ready to store: outcome, look-through outcome, low, high, control-chain outcome, low, high, the
#: payload's JSON text (as ``TableWriter`` writes a JSON column) and its ``result_fingerprint``.
PreparedDecision = tuple[str, str, float, float, str, float, float, str, str]


def prepared_decision(payload: dict) -> PreparedDecision:
    """What storing ``payload`` needs, computed from it alone (the portfolio explainer does it in another
    process, ``decision_prefetch``)."""
    lt = payload["methods"]["look_through"]
    cc = payload["methods"]["control_chain"]
    figures = (lt["outcome"], lt["low"], lt["high"], cc["outcome"], cc["low"], cc["high"])
    return (payload["outcome"], *figures, json_text(payload), result_fingerprint(payload))


def _decision_row(
    *, entity_id: int, decision: PreparedDecision, policy_id: int, as_of, is_root: bool, computed_at
) -> tuple:
    """A new ``Decision`` row as a tuple of ``_DECISION_COLUMNS`` (written with raw SQL, not the ORM); the
    payload is its JSON text already, ``as_of`` and ``computed_at`` as the caller hands them to the writer."""
    return (entity_id, *decision[:7], is_root, decision[7], policy_id, as_of, decision[8], computed_at)


def screen_entities(
    *,
    entity_ids: Iterable[int] | None = None,
    as_of: datetime.date | None = None,
    trigger: str = "manual",
    actor=None,
    collect_payloads: bool = False,
    progress: Callable[[int], None] | None = None,
    on_payloads: Callable[[list[dict]], None] | None = None,
    reexplain: bool | None = None,
    on_stored: Callable[[ScreenSummary], None] | None = None,
) -> ScreenSummary:
    """Screen ``entity_ids`` (default: every entity) and store what changed.

    The graph loaded is the upstream closure of the requested entities, so the
    figures are the same as in a full run. ``on_payloads`` receives the decision
    objects of every stored chunk (streaming output without keeping them all).

    ``reexplain`` (default: only when ``entity_ids`` are given, i.e. data changed)
    rebuilds every explanation. Otherwise an entity whose outcomes, figures and
    policy version are unchanged keeps its stored decision without being explained
    again: explaining is most of a portfolio run's cost, and every data change is
    re-screened incrementally with ``reexplain`` on, so only the numbers can move
    in a full run.

    Concurrent screenings of the same entity are ordered by their *data snapshot*
    time (taken before the graph is read and stored as ``CurrentDecision.screened_at``):
    a result computed from older data than the stored one is discarded, so a slow
    portfolio run can never overwrite a newer incremental re-screen with stale data.

    The graph is read on one database snapshot (``_one_snapshot``), so a writer committing
    several changes while the graph is read is seen entirely or not at all. ``on_stored``
    (portfolio checkpoints) runs in one transaction with every stored chunk.
    """
    started = time.perf_counter()
    snapshot_at = timezone.now()
    as_of = as_of or timezone.localdate()
    requested = None if entity_ids is None else sorted(set(entity_ids))
    if reexplain is None:
        reexplain = requested is not None
    with _one_snapshot():
        policy = policy_get_active()
        summary = ScreenSummary(as_of=as_of, policy_version=policy.version)
        if requested is not None and not requested:
            return summary
        # Read before the graph: a decision stored for one of these entities after this read was computed
        # from data this screening may not see, so storing over it could lose a change (``_store_chunk``).
        seen = _current_decisions(
            requested if requested is not None else list(Entity.objects.values_list("pk", flat=True))
        )
        data = load_screening_input(policy=PolicyView.of(policy), as_of=as_of, entity_ids=requested)
    engine_started = time.perf_counter()
    result = screen(data.graph, engine_policy(policy))
    summary.engine_seconds = time.perf_counter() - engine_started

    if requested is None:
        nodes = data.entity_nodes()
    else:
        nodes = np.array([data.node_by_entity_pk[pk] for pk in requested if pk in data.node_by_entity_pk], dtype=int)
    with transaction.atomic() if on_stored else nullcontext():
        for start in range(0, len(nodes), CHUNK_SIZE):
            chunk = nodes[start : start + CHUNK_SIZE]
            payloads: list[dict] | None = [] if on_payloads else None
            _store_chunk(
                result=result,
                data=data,
                nodes=chunk,
                policy=policy,
                as_of=as_of,
                trigger=trigger,
                actor=actor,
                summary=summary,
                collect=collect_payloads,
                snapshot_at=snapshot_at,
                seen=seen,
                sink=payloads,
                reexplain=reexplain,
            )
            if on_payloads:
                on_payloads(payloads)
            if progress:
                progress(len(chunk))
        if on_stored:
            on_stored(summary)
    summary.seconds = time.perf_counter() - started
    return summary


#: A printed table row: external id, name, outcome, look-through low, high, control-chain low, high (percent).
DecisionRow = tuple[str, str, str, float, float, float, float]


def decision_row(payload: dict) -> DecisionRow:
    lt, cc = payload["methods"]["look_through"], payload["methods"]["control_chain"]
    return (payload["entity"], payload["entity_name"], payload["outcome"], lt["low"], lt["high"], cc["low"], cc["high"])


@dataclass
class PortfolioScreening:
    """The whole portfolio read once (``screening_columns``), decided once, and compared in bulk with the
    current decisions read on the same snapshot; ``store_portfolio_part`` stores it a range at a time."""

    snapshot_at: datetime.datetime
    as_of: datetime.date
    policy: ScreeningPolicy
    data: ScreeningInput
    result: ScreeningResult
    seen: CurrentColumns
    entity_pks: np.ndarray  # sorted; entity node i has pk entity_pks[i]
    figures: tuple[np.ndarray, ...]  # ``ScreeningResult.figure_columns`` of every entity node
    seen_at: np.ndarray  # position of each entity node's current decision in ``seen``, -1 if none
    unchanged: np.ndarray  # bool per entity node: same policy, outcome and figures as its current decision
    load_seconds: float = 0.0
    engine_seconds: float = 0.0
    #: The explainer preparing the slow entities' decisions in another process (``decision_prefetch``), if any.
    prefetch: object | None = None


def portfolio_screening(*, as_of: datetime.date | None = None) -> PortfolioScreening:
    """Read every entity's graph and current decision as columns, run the engine once, and find the
    entities whose decision cannot have changed with numpy: a nothing-changed daily run costs no
    Python per entity. Only a graph that fits in memory takes this path (``PORTFOLIO_WHOLE_GRAPH_MAX``)."""
    started = time.perf_counter()
    snapshot_at = timezone.now()
    as_of = as_of or timezone.localdate()
    # The read creates millions of row tuples and strings that live until the run ends, and makes no
    # reference cycles: the collector would walk them all every few hundred allocations.
    with cyclic_gc_paused():
        with _one_snapshot():
            policy = policy_get_active()
            # Read before the graph, as in ``screen_entities``: a decision stored after this read is detected.
            seen = current_decision_columns()
            data = load_portfolio_input(policy=PolicyView.of(policy), as_of=as_of)
        engine_started = time.perf_counter()
        result = screen(data.graph, engine_policy(policy))
        engine_seconds = time.perf_counter() - engine_started
    nodes = data.entity_nodes()
    entity_pks = data.entity_pk_by_node[nodes]
    figures = result.figure_columns(nodes)
    seen_at = seen.positions(entity_pks)
    unchanged = seen_at >= 0
    if unchanged.any():
        at = np.where(unchanged, seen_at, 0)
        unchanged &= (seen.policy_id[at] == policy.pk) & (seen.outcome[at] == result.outcome[nodes])
        for mine, stored in zip(figures, seen.figures, strict=True):
            unchanged &= stored[at] == mine
    return PortfolioScreening(
        snapshot_at=snapshot_at,
        as_of=as_of,
        policy=policy,
        data=data,
        result=result,
        seen=seen,
        entity_pks=entity_pks,
        figures=figures,
        seen_at=seen_at,
        unchanged=unchanged,
        load_seconds=engine_started - started,
        engine_seconds=engine_seconds,
    )


@transaction.atomic
def store_portfolio_part(
    *,
    screening: PortfolioScreening,
    first_entity_id: int,
    last_entity_id: int,
    trigger: str,
    actor=None,
    on_payloads: Callable[[list[dict]], None] | None = None,
    on_rows: Callable[[list[DecisionRow]], None] | None = None,
    on_stored: Callable[[ScreenSummary], None] | None = None,
) -> ScreenSummary:
    """Store the decisions of the entities with ids in ``[first_entity_id, last_entity_id]``, in one transaction.

    An entity whose figures are unchanged and whose current decision has not moved since it was read
    keeps its decision; only its screening date moves (one statement for all of them). The rest —
    new or changed decisions, and those another screening stored meanwhile — go through
    ``_store_chunk``, the path of every other screening (explanation, decision, audit, consequences,
    races). Entities created after the read were screened by their own write; they are not here.
    """
    p = screening
    summary = ScreenSummary(as_of=p.as_of, policy_version=p.policy.version)
    lo, hi = np.searchsorted(p.entity_pks, [first_entity_id, last_entity_id + 1])
    if hi > lo:
        nodes = np.arange(lo, hi)  # entity nodes come first, in id order: node i is entity_pks[i]
        entity_ids = p.entity_pks[lo:hi]
        _lock_entities(entity_ids.tolist())
        moved = _moved_in_range(p, lo, hi)
        fast = p.unchanged[lo:hi] & ~moved
        slow_nodes = nodes[~fast]
        fast_ids = entity_ids[fast].tolist()
        TableWriter(CurrentDecision).update_where_in(
            "entity_id", fast_ids, {"screened_at": p.snapshot_at, "as_of": p.as_of}
        )
        fast_outcomes = p.result.outcome[nodes[fast]]
        for outcome, count in enumerate(np.bincount(fast_outcomes, minlength=len(Outcome)).tolist()):
            if count:
                summary.counts[_OUTCOME_LABELS[outcome]] += count
        summary.screened += len(fast_ids)
        payloads: list[dict] | None = [] if on_payloads else None
        if slow_nodes.size:
            existing = set(
                Entity.objects.filter(pk__in=ids_in(p.entity_pks[slow_nodes].tolist())).values_list("pk", flat=True)
            )
            slow_nodes = np.array([node for node in slow_nodes.tolist() if int(p.entity_pks[node]) in existing])
            had = [node for node in slow_nodes.tolist() if p.seen_at[node] >= 0]
            rows = p.seen.seen_rows([int(p.seen_at[node]) for node in had])
            seen = {int(p.entity_pks[node]): row for node, row in zip(had, rows, strict=True)}
            prepared = None
            if p.prefetch is not None and slow_nodes.size:
                prepared = p.prefetch.take(slow_nodes.tolist(), up_to=int(hi) - 1)
            _store_chunk(
                result=p.result,
                data=p.data,
                nodes=slow_nodes,
                policy=p.policy,
                as_of=p.as_of,
                trigger=trigger,
                actor=actor,
                summary=summary,
                collect=False,
                snapshot_at=p.snapshot_at,
                seen=seen,
                sink=payloads,
                reexplain=False,
                prepared=prepared,
            )
        if on_payloads:
            decision_ids = p.seen.decision_id[p.seen_at[nodes[fast]]].tolist()
            stored = _stored_payloads(decision_ids)
            as_of = p.as_of.isoformat()
            on_payloads(payloads + [{**stored[decision_id], "as_of": as_of} for decision_id in decision_ids])
        if on_rows:
            raced = set(summary.raced)
            shown = nodes if not raced else np.array([n for n in nodes.tolist() if int(p.entity_pks[n]) not in raced])
            on_rows(_rows_of(p, shown))
    if on_stored:
        on_stored(summary)
    return summary


def _moved_in_range(p: PortfolioScreening, lo: int, hi: int) -> np.ndarray:
    """Per entity node in ``[lo, hi)``: has its current decision changed since ``p.seen`` was read?"""
    first, last = int(p.entity_pks[lo]), int(p.entity_pks[hi - 1])
    quote = connection.ops.quote_name
    rows = read_here(
        int_columns_read(
            connection.vendor,
            quote(CurrentDecision._meta.db_table),
            ["entity_id", "decision_id", screened_at_sql("screened_at")],
            key="entity_id",
            bounds=(first, last),
        )
    )
    now = np.full(hi - lo, -1, dtype=np.int64)  # current decision id per node, -1 if none
    now_at = np.full(hi - lo, -1, dtype=np.int64)  # and its screened_at (epoch microseconds)
    if rows.size:
        ids = rows[:, 0]
        at = np.searchsorted(p.entity_pks[lo:hi], ids)
        inside = (at < hi - lo) & (p.entity_pks[lo:hi][np.minimum(at, hi - lo - 1)] == ids)
        now[at[inside]] = rows[inside, 1]
        now_at[at[inside]] = rows[inside, 2]
    seen_at = p.seen_at[lo:hi]
    was = np.full(hi - lo, -1, dtype=np.int64)  # decision id per node when ``seen`` was read
    had = seen_at >= 0
    was[had] = p.seen.decision_id[seen_at[had]]
    moved = now != was
    same = ~moved & had  # the same decision: moved if screened again since the read
    moved[same] = now_at[same] != p.seen.screened_at[seen_at[same]]
    return moved


def _rows_of(p: PortfolioScreening, nodes: np.ndarray) -> list[DecisionRow]:
    _, lt_low, lt_high, _, cc_low, cc_high = (column[nodes].tolist() for column in p.figures)
    outcomes = [_OUTCOME_LABELS[value] for value in p.result.outcome[nodes].tolist()]
    external_ids, names = plain_column(p.data.external_ids), plain_column(p.data.names)
    return [
        (external_ids[node], names[node], outcome, a, b, c, d)
        for node, outcome, a, b, c, d in zip(nodes.tolist(), outcomes, lt_low, lt_high, cc_low, cc_high, strict=True)
    ]


def _lock_entities(entity_ids: list[int]) -> None:
    """Serialise concurrent screenings of one entity: lock the entities (not their CurrentDecision rows,
    which a first screening does not have yet), in id order so two chunks cannot deadlock. NO KEY UPDATE
    does not block inserts that reference the entity. SQLite has no row locks (one writer at a time, and
    the ORM drops ``FOR UPDATE`` there), so nothing is sent."""
    if not connection.features.has_select_for_update or not entity_ids:
        return
    if connection.vendor == "postgresql":  # one row back, not one per entity locked
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {connection.ops.quote_name(Entity._meta.db_table)} "  # noqa: S608
                "WHERE id = ANY(%s::bigint[]) ORDER BY id FOR NO KEY UPDATE) AS locked",
                [pg_int_array(entity_ids)],
            )
        return
    list(
        Entity.objects.select_for_update(no_key=True)
        .filter(pk__in=ids_in(entity_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _current_decisions(entity_ids: list[int]) -> dict[int, tuple]:
    """``{entity id: (decision id, fingerprint, outcome, screened_at, policy id, look-through outcome, low,
    high, control-chain outcome, low, high)}`` of the entities' current decisions."""
    quote = connection.ops.quote_name
    return _current_rows(
        f"SELECT c.entity_id, c.decision_id, d.result_fingerprint, c.outcome, c.screened_at, d.policy_id, "  # noqa: S608
        f"d.look_through_outcome, d.look_through_low, d.look_through_high, "
        f"d.control_chain_outcome, d.control_chain_low, d.control_chain_high "
        f"FROM {quote(CurrentDecision._meta.db_table)} c JOIN {quote(Decision._meta.db_table)} d "
        f"ON d.id = c.decision_id WHERE ",
        entity_ids,
        screened_at=3,
    )


def _current_versions(entity_ids: list[int]) -> dict[int, tuple]:
    """``{entity id: (decision id, screened_at)}``: enough to tell whether a current decision moved, without
    the join to the decisions."""
    table = connection.ops.quote_name(CurrentDecision._meta.db_table)
    return _current_rows(
        f"SELECT c.entity_id, c.decision_id, c.screened_at FROM {table} c WHERE ",  # noqa: S608
        entity_ids,
        screened_at=1,
    )


def _current_rows(sql: str, entity_ids: list[int], *, screened_at: int) -> dict[int, tuple]:
    """``{entity id: the other columns}`` from ``sql`` (which selects ``c.entity_id`` first): one raw query
    (per ``IN_CHUNK`` ids on SQLite), as the ORM's ``__in`` compiles each id separately."""
    if not entity_ids:
        return {}
    convert = getattr(connection.ops, "convert_datetimefield_value", None)  # SQLite: naive UTC text -> aware
    found: dict[int, tuple] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            parts = [(sql + "c.entity_id = ANY(%s::bigint[])", [pg_int_array(entity_ids)])]
        else:
            parts = [
                (sql + f"c.entity_id IN ({', '.join(['%s'] * len(part))})", part) for part in in_chunks(entity_ids)
            ]
        for query, params in parts:
            cursor.execute(query, params)
            for entity_id, *columns in cursor.fetchall():
                if convert is not None:
                    columns[screened_at] = convert(columns[screened_at], None, connection)
                found[entity_id] = tuple(columns)
    return found


@contextmanager
def portfolio_objects_frozen():
    """While a whole-graph run stores its chunks, keep the collector off the portfolio it read.

    What ``portfolio_screening`` read lives until the run ends; ``gc.freeze()`` moves every object
    alive now out of the collector's generations, so collections triggered by the chunks' own work
    do not walk millions of row objects each time. Frozen objects are still freed by reference
    counting; ``gc.unfreeze()`` at the end hands them back.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _one_snapshot():
    """Read the graph on one snapshot: PostgreSQL's READ COMMITTED takes a new one per statement, so the
    breadth-first closure, the entities and the interests could otherwise come from before and after
    another transaction's commit (a decision computed on half-written data). Outside a transaction the
    reads run in a read-only REPEATABLE READ transaction; inside the caller's transaction (an API write
    re-screening inline) they see that transaction's own changes, and a change committed meanwhile by
    another transaction has its own re-screen request, processed afterwards from a later snapshot."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _moved_since(seen: dict[int, tuple], versions: dict[int, tuple], entity_ids, snapshot_at) -> set[int]:
    """Entities whose current decision changed after ``seen`` was read, by a screening that read its graph
    no later than this one (a later one supersedes this result instead). Its data may lack changes this
    screening saw, and this screening's data may lack the ones it saw, so neither result may stand: the
    caller records the entity again and it is decided from a snapshot that has both."""

    def seen_version(pk):
        row = seen.get(pk)
        return None if row is None else (row[0], row[3])

    # An entity with neither a current decision now nor one when ``seen`` was read has not moved: only the
    # others are compared (a first run's chunk has none).
    candidates = [pk for pk in entity_ids if pk in versions or pk in seen] if versions or seen else []
    return {
        pk
        for pk in candidates
        if versions.get(pk) != seen_version(pk) and not (pk in versions and versions[pk][1] > snapshot_at)
    }


@transaction.atomic
@cyclic_gc_paused()
def _store_chunk(
    *,
    result,
    data,
    nodes,
    policy,
    as_of,
    trigger,
    actor,
    summary,
    collect,
    snapshot_at,
    seen,
    sink=None,
    reexplain=True,
    prepared=None,
) -> None:
    """Store one chunk's new decisions in one transaction.

    ``prepared`` (node -> (``PreparedDecision``, ``PreparedInput``)) holds what a portfolio run's explainer
    process prepared; the chunk's other decisions are explained here, and both give the same rows.

    New ``Decision`` rows, ``CurrentDecision`` upserts and the screening-date moves of unchanged
    decisions are written with raw SQL (``TableWriter``: ``COPY``/array statements on PostgreSQL,
    multi-row statements on SQLite): the ORM's per-row, per-field SQL compilation cost more than
    everything else a first portfolio run does. ``decision_consequences`` gets ordinary saved ``Decision``
    instances.

    The cycle collector is paused while a chunk stores: the chunk's payloads, snapshots and rows (hundreds
    of thousands of objects, no cycles) live until it ends, and the collections their allocation
    triggered walked them again and again (a quarter of a first portfolio run's CPU). Whatever cycles the
    chunk leaves are collected once the collector runs again after it.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    entity_ids = data.entity_pk_by_node[nodes].tolist()
    _lock_entities(entity_ids)
    # Read the current decisions in a separate statement: after a lock wait, PostgreSQL re-reads only the
    # locked row, so columns joined into the locking query would be the stale pre-wait ones.
    versions = _current_versions(entity_ids)
    raced = _moved_since(seen, versions, entity_ids, snapshot_at)
    summary.raced.extend(sorted(raced))
    rescreen_request(entity_ids=raced, trigger=trigger, actor=actor)  # decided again, from newer data
    # A screening of newer data has already stored these: its result stands.
    superseded = {pk for pk, (_decision_id, screened_at) in versions.items() if screened_at > snapshot_at}
    # Where the current decision has not moved since ``seen`` was read, ``seen`` is what is stored now.
    current = {pk: seen[pk] for pk in entity_ids if pk in seen and pk not in raced and pk not in superseded}
    now = snapshot_at
    computed_at = timezone.now()
    new_rows: list[tuple] = []
    previous: list[tuple | None] = []
    new_nodes: list[int] = []
    unchanged: list[int] = []
    kept_payload_ids: dict[int, int] = {}  # entity id -> decision id whose stored payload is reused
    outcomes = result.outcome[nodes].tolist()
    is_root = (data.graph.node_class[nodes] == NodeClass.RESTRICTED_ROOT).tolist()
    # Figures are compared only with a current decision (none in a first run).
    figures = result.figure_rows(nodes) if current and not reexplain else [None] * len(entity_ids)
    policy_id = policy.pk
    # The same date and timestamps on every row: in the database's form once, not converted row by row.
    as_of_value = connection.ops.adapt_datefield_value(as_of)
    computed_at_value = connection.ops.adapt_datetimefield_value(computed_at)
    now_value = connection.ops.adapt_datetimefield_value(now)
    rows = zip(nodes.tolist(), entity_ids, outcomes, is_root, figures, strict=True)
    explained: list[tuple[int, int, bool, tuple | None]] = []  # (node, entity id, is root, current decision)
    for node, entity_id, outcome_value, root, figure_row in rows:
        if entity_id in raced:
            continue
        before = current.get(entity_id)
        if before is not None and not reexplain:
            outcome = _OUTCOME_LABELS[outcome_value]
            # Policy, outcome and both methods' figures as stored: the decision did not change.
            if (policy_id, outcome, *figure_row) == (before[4], before[2], *before[5:]):
                summary.counts[outcome] += 1
                summary.screened += 1
                unchanged.append(entity_id)
                kept_payload_ids[entity_id] = before[0]
                continue
        explained.append((node, entity_id, root, before))
    prepared = prepared or {}
    explain_here = [row[0] for row in explained if row[0] not in prepared]
    payloads = iter(
        decision_payloads(result=result, data=data, nodes=explain_here, as_of=as_of, policy_version=policy.version)
        if explain_here
        else ()
    )
    emitting = collect or sink is not None
    for node, entity_id, root, before in explained:
        ready = prepared.get(node)
        if ready is None:
            payload = next(payloads)
            decision = prepared_decision(payload)
        else:
            decision = ready[0]
            payload = _json_value(decision[7]) if emitting else None
        summary.counts[decision[0]] += 1
        summary.screened += 1
        if emitting:
            _emit(payload, summary=summary, collect=collect, sink=sink)
        if entity_id in superseded:
            summary.superseded += 1
            continue
        if before is not None and before[1] == decision[8]:
            unchanged.append(entity_id)
            continue
        new_rows.append(
            _decision_row(
                entity_id=entity_id,
                decision=decision,
                policy_id=policy_id,
                as_of=as_of_value,
                is_root=root,
                computed_at=computed_at_value,
            )
        )
        previous.append(before)
        new_nodes.append(node)
    if kept_payload_ids and (collect or sink is not None):
        stored = _stored_payloads(kept_payload_ids.values())
        for decision_id in kept_payload_ids.values():
            _emit({**stored[decision_id], "as_of": as_of.isoformat()}, summary=summary, collect=collect, sink=sink)
    # Numbered by the database (SQLite: one plain ``executemany``, consecutive ids under the write lock),
    # not read back with ``RETURNING``.
    decision_writer = TableWriter(Decision, adapted=["payload", "as_of", "computed_at"])
    decision_ids = decision_writer.insert_numbered(_DECISION_COLUMNS, new_rows)
    record_decision_inputs(data=data, nodes=new_nodes, decision_ids=decision_ids, prepared=prepared)  # for replay
    TableWriter(CurrentDecision).update_where_in("entity_id", unchanged, {"screened_at": now, "as_of": as_of})
    # An entity with no current decision now (``versions``, read under its lock) gets one inserted; the
    # others are upserted (SQLite's upsert costs three times a plain insert, and a first run is all new).
    current_rows = [
        (row[0], decision_id, row[1], now_value, as_of_value)
        for row, decision_id in zip(new_rows, decision_ids, strict=True)
    ]
    current_writer = TableWriter(CurrentDecision, adapted=["screened_at", "as_of"])
    current_writer.insert_rows(_CURRENT_COLUMNS, [row for row in current_rows if row[0] not in versions])
    current_writer.upsert(
        _CURRENT_COLUMNS,
        [row for row in current_rows if row[0] in versions],
        conflict=["entity_id"],
        update=["decision_id", "outcome", "screened_at", "as_of"],
    )
    summary.changed += len(new_rows)
    if new_rows:
        db = connection.alias
        # The saved instances are built only where a consequence asks for one (customers, exemptions).
        changes = [
            DecisionChange(
                build=partial(_saved_decision, db, decision_id, row, policy, as_of, computed_at),
                facts=DecisionFacts(decision_id, row[0], row[1], row[3], row[4], row[6], row[7], policy_id),
                previous_decision_id=before[0] if before else None,
                previous_outcome=before[2] if before else None,
            )
            for decision_id, row, before in zip(decision_ids, new_rows, previous, strict=True)
        ]
        decision_consequences(changes=changes, trigger=trigger, actor=actor)


def _saved_decision(
    db: str, decision_id: int, row: tuple, policy: ScreeningPolicy, as_of: datetime.date, computed_at
) -> Decision:
    """The saved ``Decision`` of a row ``_store_chunk`` inserted (payload as JSON text, date and timestamp in
    the database's form), as the ORM would have returned it."""
    values = dict(zip(_DECISION_COLUMNS, row, strict=True))
    values.update(payload=_json_value(values["payload"]), as_of=as_of, computed_at=computed_at)
    decision = Decision.from_db(db, _DECISION_FIELDS, (decision_id, *values.values()))
    decision.policy = policy  # cached, as on an instance created with it
    return decision


def _stored_payloads(decision_ids: Iterable[int]) -> dict[int, dict]:
    """``{decision id: payload}``: one raw query per chunk of ids, JSON decoded with orjson (a daily run
    where nothing changed re-emits every stored payload; the ORM's ``__in`` and ``json.loads`` cost more)."""
    stored = select_pairs(Decision, "id", "payload", decision_ids)
    return {decision_id: _json_value(payload) for decision_id, payload in stored.items()}


def _json_value(value):
    if not isinstance(value, str | bytes):
        return value  # a driver that decodes JSON itself
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # what only the standard decoder reads (NaN, integers beyond 64 bits)
        return json.loads(value)


def _emit(payload: dict, *, summary, collect: bool, sink) -> None:
    if collect:
        summary.payloads.append(payload)
    if sink is not None:
        sink.append(payload)


def downstream_entity_ids(entity_ids: Iterable[int], person_ids: Iterable[int] = ()) -> set[int]:
    """Entities whose decision can depend on the given entities or persons: they and all they own.

    Breadth-first along ``interested_entity``/``interested_person`` (both FK-indexed), one
    query per level and per ``IN_CHUNK`` ids; cycles end because visited entities are skipped.
    """
    seen = set(entity_ids)
    frontier = set(seen)
    for part in in_chunks(set(person_ids)):
        frontier.update(
            Relationship.objects.filter(interested_person_id__in=ids_in(part)).values_list("subject_id", flat=True)
        )
    seen |= frontier
    while frontier:
        owned: set[int] = set()
        for part in in_chunks(frontier):
            owned.update(
                Relationship.objects.filter(interested_entity_id__in=ids_in(part)).values_list("subject_id", flat=True)
            )
        frontier = owned - seen
        seen |= frontier
    return seen


def screen_after_import(*, entity_ids: Iterable[int], person_ids: Iterable[int] = ()) -> ScreenSummary:
    """Re-decide everything downstream of what an import touched."""
    affected = downstream_entity_ids(entity_ids, person_ids)
    return screen_entities(entity_ids=affected, trigger="import")


def outcome_label(value: int) -> str:
    return Outcome(int(value)).name.lower()


def entity_ids_for_external_ids(external_ids: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Map external ids to primary keys; also return the ids that match no entity."""
    wanted = list(dict.fromkeys(external_ids))
    found = dict(Entity.objects.filter(external_id__in=wanted).values_list("external_id", "pk"))
    return found, [external_id for external_id in wanted if external_id not in found]


def case_rescreen_subject(*, case: Case, actor) -> ScreenSummary:
    """Screen the case's subject again on today's data (``cases.work_case``): a manual trigger."""
    require_perm(actor, "work_case", "re-screen a case's subject")
    return screen_entities(entity_ids=[case.subject_id], trigger="manual", actor=actor)
