"""How the screening adapter stores decisions: raw-SQL writes, the audit events of a batch, the upstream closure.

The writes bypass the ORM (``TableWriter``) for speed; these tests pin down that the rows, the instances
handed to ``decision_consequences`` and the audit chain are what the ORM path gave.
"""

import datetime
import math
from decimal import Decimal

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import cases.services.bulk_sql as bulk_sql
import cases.services.screening as screening
from cases.models import AuditEvent, CurrentDecision, Decision, InterestType, Outcome, Relationship
from cases.selectors.screening_input import upstream_entity_ids
from cases.services.audit import AuditEntry, audit_append_many, audit_record, audit_record_many
from cases.services.audit_verify import audit_verify
from cases.services.bulk_sql import TableWriter
from cases.services.policy import policy_get_active, policy_publish
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, RelationshipFactory, stake

pytestmark = pytest.mark.django_db
AS_OF = datetime.date(2026, 11, 25)


@pytest.fixture
def received(monkeypatch):
    """Every ``decision_consequences`` call of the adapter (which still runs)."""
    calls = []
    consequences = screening.decision_consequences

    def recording(*, changes, trigger, actor):
        calls.append({"changes": changes, "trigger": trigger, "actor": actor})
        consequences(changes=changes, trigger=trigger, actor=actor)

    monkeypatch.setattr(screening, "decision_consequences", recording)
    return calls


def _owned(jurisdiction: str = "GB", percent: int = 60):
    subject = EntityFactory()
    stake(EntityFactory(jurisdiction_id=jurisdiction), subject, percent)
    stake(PersonFactory(), subject, 100 - percent)
    return subject


def test_stored_rows_match_the_payloads_and_consequences_get_saved_decisions(received):
    subjects = [_owned("CN", 70), _owned("GB", 60), _owned("RU", 30)]
    summary = screen_entities(entity_ids=[s.pk for s in subjects], as_of=AS_OF, collect_payloads=True)
    policy = policy_get_active()
    assert summary.changed == 3
    (call,) = received
    assert [c.decision.entity_id for c in call["changes"]] == [s.pk for s in subjects]
    for change in call["changes"]:
        decision = change.decision
        assert change.previous_decision_id is None and change.previous_outcome is None
        assert decision.pk is not None and not decision._state.adding
        with CaptureQueriesContext(connection) as queries:
            assert decision.policy == policy  # cached, as on an instance created with it
        assert not queries.captured_queries
        stored = Decision.objects.get(pk=decision.pk)
        for field in Decision._meta.concrete_fields:
            assert getattr(stored, field.attname) == getattr(decision, field.attname), field.attname
        payload = next(p for p in summary.payloads if p["entity"] == stored.entity.external_id)
        assert stored.payload == payload and stored.outcome == payload["outcome"]
        lt, cc = payload["methods"]["look_through"], payload["methods"]["control_chain"]
        assert (stored.look_through_low, stored.look_through_high) == (lt["low"], lt["high"])
        assert (stored.control_chain_low, stored.control_chain_high) == (cc["low"], cc["high"])
        assert stored.as_of == AS_OF and stored.policy_id == policy.pk and len(stored.result_fingerprint) == 64
        current = CurrentDecision.objects.get(entity_id=decision.entity_id)
        assert (current.decision_id, current.outcome, current.as_of) == (decision.pk, decision.outcome, AS_OF)
    events = AuditEvent.objects.filter(action="decision.changed").order_by("seq")
    assert [e.target_id for e in events] == [str(s.pk) for s in subjects]
    # the label as audit_record gives an Entity target: its str(), from a row rather than an instance
    assert [(e.target_type, e.target_label) for e in events] == [("cases.entity", str(s)) for s in subjects]
    assert audit_verify() == (AuditEvent.objects.count(), None)


def test_chunks_update_unchanged_rows_and_upsert_changed_ones(monkeypatch, received):
    monkeypatch.setattr(screening, "CHUNK_SIZE", 3)
    subjects = [_owned("GB", 40 + i) for i in range(5)] + [_owned("CN", 80)]
    CustomerFactory(entity=subjects[0])
    ids = [s.pk for s in subjects]
    first = screen_entities(entity_ids=ids, as_of=AS_OF)
    assert first.changed == 6 and len(received) == 2  # two chunks, one call each
    before = dict(CurrentDecision.objects.values_list("entity_id", "decision_id"))
    later = AS_OF + datetime.timedelta(days=1)
    again = screen_entities(entity_ids=ids, as_of=later)
    assert again.changed == 0 and len(received) == 2
    assert dict(CurrentDecision.objects.values_list("entity_id", "decision_id")) == before
    assert set(CurrentDecision.objects.values_list("as_of", flat=True)) == {later}
    # A new policy restricting GB changes every decision: new rows, the current ones move (upsert).
    policy_publish(user=None, restricted_codes=["CN", "RU", "GB"])
    third = screen_entities(entity_ids=ids, as_of=later)
    assert third.changed == 6
    current = dict(CurrentDecision.objects.values_list("entity_id", "decision_id"))
    assert all(current[pk] != before[pk] for pk in ids)
    assert Decision.objects.count() == 12 and CurrentDecision.objects.count() == 6
    changes = [change for call in received[2:] for change in call["changes"]]
    assert {c.decision.entity_id: c.previous_decision_id for c in changes} == before
    assert audit_verify() == (AuditEvent.objects.count(), None)


def test_insert_returning_ids_matches_ids_to_rows_across_statements(monkeypatch):
    monkeypatch.setattr(bulk_sql, "_sqlite_max_params", lambda: 40)  # 2 rows per SQLite statement
    entities = [EntityFactory() for _ in range(7)]
    policy = policy_get_active()
    now = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.UTC)
    rows = [
        (e.pk, "allow", "allow", 1.5, 2.5, "allow", 0.0, 0.0, False, {"i": i}, policy.pk, AS_OF, f"{i:064d}", now)
        for i, e in enumerate(reversed(entities))
    ]
    ids = TableWriter(Decision).insert_returning_ids(screening._DECISION_COLUMNS, rows, key="entity_id")
    assert len(set(ids)) == 7
    for row, decision_id in zip(rows, ids, strict=True):
        stored = Decision.objects.get(pk=decision_id)
        assert (stored.entity_id, stored.payload, stored.computed_at) == (row[0], row[9], now)


def test_audit_record_many_returns_saved_chained_events(investigator):
    entity = EntityFactory()
    events = audit_record_many(
        actor=investigator,
        entries=[
            AuditEntry(action="test.one", target=entity, after={"n": 1}),
            AuditEntry(action="test.two", target=("test", 7, "seven"), before={"n": 1}, after=None, reason="why"),
        ],
    )
    assert [e.seq for e in events] == [1, 2] and events[1].prev_hash == events[0].hash
    for event in events:
        assert event.pk is not None and not event._state.adding
        stored = AuditEvent.objects.get(pk=event.pk)
        for field in AuditEvent._meta.concrete_fields:
            assert getattr(stored, field.attname) == getattr(event, field.attname), field.attname
        assert event.actor == investigator and event.actor_label == investigator.get_username()
    assert (events[0].target_type, events[0].target_id, events[0].target_label) == (
        "cases.entity",
        str(entity.pk),
        str(entity),
    )
    assert audit_verify() == (2, None)


def test_negative_zero_is_audited_as_zero_so_the_chain_verifies_after_a_jsonb_round_trip():
    """PostgreSQL's jsonb has no negative zero: an event hashed over -0.0 read back as 0.0 and broke the chain."""
    audit_record(actor=None, action="test.zero", target=("test", 1), after={"low": -0.0, "range": (-0.0, 5.0)})
    # Not plain JSON types (an enum, a Decimal): the JSON round trip normalises the same way.
    audit_record(
        actor=None,
        action="test.zero",
        target=("test", 2),
        after={"outcome": Outcome.REVIEW, "x": [-0.0], "d": Decimal(1)},
    )
    first, second = AuditEvent.objects.order_by("seq")
    assert first.after == {"low": 0.0, "range": [0.0, 5.0]} and math.copysign(1, first.after["low"]) == 1
    assert second.after == {"outcome": "review", "x": [0.0], "d": "1"} and math.copysign(1, second.after["x"][0]) == 1
    assert audit_verify() == (2, None)


def test_upstream_closure_follows_open_entity_owners_through_cycles():
    top, middle, bottom, side = (EntityFactory() for _ in range(4))
    stake(top, middle, 60)
    stake(middle, bottom, 60)
    stake(bottom, top, 10)  # a cycle through the top
    stake(PersonFactory(), side, 100)
    stake(side, bottom, 40)
    closed_owner = EntityFactory()
    closed = stake(closed_owner, side, 5)
    Relationship.objects.filter(pk=closed.pk).update(is_closed=True)  # an ended relationship: not an owner
    RelationshipFactory(subject=side, interested_person=None, unspecified_reason="unknown")
    lone = EntityFactory()
    stake(lone, EntityFactory(), 50, interest_type=InterestType.VOTING_RIGHTS)
    cycle = {top.pk, middle.pk, bottom.pk, side.pk}
    assert upstream_entity_ids([bottom.pk]) == cycle
    assert upstream_entity_ids([side.pk]) == {side.pk}  # persons, unspecified and ended owners are not entities
    assert upstream_entity_ids([top.pk, lone.pk]) == cycle | {lone.pk}
    assert upstream_entity_ids([lone.pk]) == {lone.pk}
    assert upstream_entity_ids([999_999]) == {999_999}
    assert upstream_entity_ids([]) == set()


@pytest.mark.django_db(transaction=True)
def test_a_chunk_locks_its_entities_until_it_commits():
    """``_lock_entities`` holds a row lock on every entity it names (PostgreSQL; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    import threading

    from django.db import OperationalError, transaction

    from cases.models import Entity

    locked, free = EntityFactory(), EntityFactory()
    outcome = {}

    def try_to_lock(pk):
        try:
            with transaction.atomic():
                list(Entity.objects.select_for_update(nowait=True).filter(pk=pk).values_list("pk", flat=True))
            outcome[pk] = "locked"
        except OperationalError:
            outcome[pk] = "busy"
        finally:
            connection.close()

    with transaction.atomic():
        screening._lock_entities([locked.pk])
        for pk in (locked.pk, free.pk):
            other = threading.Thread(target=try_to_lock, args=(pk,))
            other.start()
            other.join()
    assert outcome == {locked.pk: "busy", free.pk: "locked"}


def _event_columns(event: AuditEvent) -> tuple:
    return (event.actor_id, event.actor_label, event.action, event.target_type, event.target_id)


def test_audit_append_many_stores_what_audit_record_many_stores(investigator):
    """The portfolio path appends without instances (``audit_append_many``): same rows, same chain."""
    entity = EntityFactory(name="Ærø Holdings")
    entries = [
        AuditEntry(action="test.one", target=entity, after={"n": 1, "x": -0.0}),
        AuditEntry(action="test.two", target=("test", 7, "seven"), before={"n": (1, 2)}, reason="why"),
        AuditEntry(action="test.three", target=("test", 8), after={"plain": [1.5]}, plain=True),
    ]
    assert audit_append_many(actor=investigator, entries=entries) is None
    audit_record_many(actor=investigator, entries=entries)
    appended, recorded = list(AuditEvent.objects.order_by("seq"))[:3], list(AuditEvent.objects.order_by("seq"))[3:]
    for one, other in zip(appended, recorded, strict=True):
        assert _event_columns(one) == _event_columns(other)
        assert (one.target_label, one.before, one.after, one.reason) == (
            other.target_label,
            other.before,
            other.after,
            other.reason,
        )
    assert [e.seq for e in appended + recorded] == [1, 2, 3, 4, 5, 6]
    assert audit_append_many(actor=None, entries=[]) is None
    assert audit_verify() == (6, None)


@pytest.mark.parametrize(
    "figures",
    [(1.5, 2.5, 0.0, 100.0), (-0.0, 0.0, -0.0, 3.25), (Decimal("1.5"), 2.0, 0.0, 0.0), (float("nan"), 1.0, 0.0, 0.0)],
)
def test_a_decisions_audit_entry_is_what_the_json_normalisation_gives(figures):
    """The decision event's before/after are built plain where they can be (no copy); the values are exactly
    what ``_jsonable`` makes of them, negative zero included, and anything else takes ``_jsonable`` itself."""
    from cases.services.audit import _jsonable
    from cases.services.consequences import DecisionChange, DecisionFacts, _decision_audit_entry

    facts = DecisionFacts(12, 34, "review", *figures, 5)
    change = DecisionChange(build=lambda: None, facts=facts, previous_decision_id=9, previous_outcome="allow")
    entry = _decision_audit_entry(change, "Acme [E1]", "periodic")
    assert entry.target == ("cases.entity", 34, "Acme [E1]") and entry.reason == "trigger=periodic"
    expected = {
        "decision_id": 12,
        "outcome": "review",
        "look_through": list(figures[:2]),
        "control_chain": list(figures[2:]),
        "policy_id": 5,
    }
    plain = all(type(value) is float and value == value for value in figures)
    assert entry.plain is plain
    if plain:
        assert orjson.dumps(entry.after) == orjson.dumps(_jsonable(expected))
        assert entry.before == _jsonable({"decision_id": 9, "outcome": "allow"})
        assert all(math.copysign(1, value) == 1 for value in entry.after["look_through"] + entry.after["control_chain"])


def test_a_change_builds_its_saved_decision_once_and_only_when_asked():
    from cases.services.consequences import DecisionChange, DecisionFacts

    built = []
    facts = DecisionFacts(1, 2, "allow", 0.0, 0.0, 0.0, 0.0, 3)
    change = DecisionChange(build=lambda: built.append(1) or "decision", facts=facts)
    assert not built and change.facts is facts
    assert change.decision == "decision" and change.decision == "decision" and built == [1]
    with pytest.raises(TypeError):
        DecisionChange(build=lambda: None)
    with pytest.raises(TypeError):
        DecisionChange()


def test_the_collector_is_paused_while_a_chunk_stores_and_on_again_after(monkeypatch):
    import gc

    seen = []
    consequences = screening.decision_consequences

    def recording(**kwargs):
        seen.append(gc.isenabled())
        consequences(**kwargs)

    monkeypatch.setattr(screening, "decision_consequences", recording)
    assert gc.isenabled()
    screen_entities(entity_ids=[_owned("CN", 70).pk], as_of=AS_OF)
    assert seen == [False] and gc.isenabled()
