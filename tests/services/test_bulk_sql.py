"""The raw writers' fast parameter forms (``bulk_sql``) store and find exactly what the ORM would.

On PostgreSQL lists of ids go as one array literal or JSON text, and upserted rows as one JSON
parameter cast column by column; these tests pin the round trip of every kind of value they carry.
They run on both databases (SQLite takes the plain forms).
"""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from cases.models import CurrentDecision, Entity, Interest, Person, Relationship
from cases.selectors.screening_input import pg_int_array
from cases.services.bulk_sql import TableWriter, select_pairs, select_pairs_in_tables
from tests.factories import EntityFactory, PersonFactory
from tests.services.conftest import decide

pytestmark = pytest.mark.django_db


def test_int_array_literal_takes_only_integers():
    assert pg_int_array([3, 1, -2]) == "{3,1,-2}"
    assert pg_int_array([]) == "{}"
    for hostile in (["1}; DROP TABLE cases_entity; --"], ["1,2"], [1.5], [None]):
        with pytest.raises(TypeError):
            pg_int_array(hostile)


def test_select_pairs_finds_by_integer_and_by_text_keys_of_any_content():
    odd = ["plain", "quote ' and \" and \\ backslash", "comma, {brace}", "ünïcødé ✓", "x" * 255]
    entities = [EntityFactory(external_id=external_id) for external_id in odd]
    by_text = select_pairs(Entity, "external_id", "id", [*odd, "missing"])
    assert by_text == {e.external_id: e.pk for e in entities}
    by_id = select_pairs(Entity, "id", "external_id", [e.pk for e in entities] + [10**12])
    assert by_id == {e.pk: e.external_id for e in entities}


def test_select_pairs_in_tables_finds_each_tables_own_rows_in_chunks():
    odd = ["plain", "quote ' and \" and \\ backslash", "ünïcødé ✓", "shared"]
    entities = [EntityFactory(external_id=external_id) for external_id in odd]
    person = PersonFactory(external_id="shared")
    wanted = [*odd, "missing"]
    found = select_pairs_in_tables([Entity, Person, Relationship], "external_id", "id", wanted, chunk=2)
    assert found == [{e.external_id: e.pk for e in entities}, {"shared": person.pk}, {}]
    assert found[0] == select_pairs(Entity, "external_id", "id", wanted)


def test_upsert_round_trips_ids_text_timestamps_and_dates_exactly():
    subjects = [EntityFactory() for _ in range(3)]
    outcomes = ["allow", "review", "block"]
    decisions = [decide(subject, outcome) for subject, outcome in zip(subjects, outcomes, strict=True)]
    when = datetime.datetime(2026, 12, 1, 17, 5, 9, 123456, tzinfo=datetime.UTC)
    as_of = datetime.date(2026, 11, 30)
    rows = [(d.entity_id, d.pk, "block", when, as_of) for d in decisions]
    TableWriter(CurrentDecision).upsert(
        ["entity_id", "decision_id", "outcome", "screened_at", "as_of"],
        rows,
        conflict=["entity_id"],
        update=["decision_id", "outcome", "screened_at", "as_of"],
    )
    stored = {c.entity_id: c for c in CurrentDecision.objects.filter(entity__in=subjects)}
    for decision in decisions:
        current = stored[decision.entity_id]
        assert (current.decision_id, current.outcome, current.as_of) == (decision.pk, "block", as_of)
        assert current.screened_at == when  # microseconds and time zone kept


def test_update_where_in_sets_values_on_exactly_the_keyed_rows():
    subjects = [EntityFactory() for _ in range(4)]
    for subject in subjects:
        decide(subject, "allow")
    later = timezone.now() + datetime.timedelta(days=1)
    keyed = [s.pk for s in subjects[:3]]
    TableWriter(CurrentDecision).update_where_in("entity_id", keyed, {"screened_at": later, "as_of": later.date()})
    moved = set(CurrentDecision.objects.filter(screened_at=later).values_list("entity_id", flat=True))
    assert moved == set(keyed)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's JSON rows parameter")
def test_pg_rows_casts_every_kind_of_value_back_exactly():
    """The JSON rows parameter of an upsert on PostgreSQL: decimals, booleans, nulls, dates and JSON columns."""
    writer = TableWriter(Interest)
    names = ["relationship_id", "share_exact", "share_minimum_exclusive", "start_date", "end_date", "details"]
    columns = [writer._column(name) for name in names]
    start = datetime.date(2026, 1, 31)
    details = {"note": "band 25–50 %", "quote": 'it\'s "x"'}
    rows = [
        (7, Decimal("33.33333333"), True, start, None, details),
        (8, None, False, None, start, None),
    ]
    conversions = [convert for _, _, convert in columns]
    converted = [[None if v is None else f(v) for v, f in zip(row, conversions, strict=True)] for row in rows]
    select, param = writer._pg_rows(names, converted)
    with connection.cursor() as cursor:
        cursor.execute(select, [param])
        fetched = cursor.fetchall()
    assert fetched[0][:5] == (7, Decimal("33.33333333"), True, start, None)
    assert fetched[1][:5] == (8, None, False, None, start)
    stored_details = fetched[0][5]
    assert (json.loads(stored_details) if isinstance(stored_details, str) else stored_details) == details


def test_insert_numbered_rows_get_the_next_ids_and_children_point_at_them():
    """New rows are numbered past every id the table has had (a drawn range, a deleted top row)."""
    from cases.models import EntityIdentifier

    EntityFactory()
    gone = EntityFactory()
    writer = TableWriter(Entity)
    drawn = writer.draw_ids(3)  # reserved by another writer of the same transaction, never used
    gone.delete()
    now = timezone.now()
    rows = [(f"numbered-{n}", "", {}, False, now, now, f"Numbered {n}", [], "registeredEntity") for n in range(3)]
    rows = [(*row, "", [], [], False, {}) for row in rows]
    columns = ["external_id", "statement_id", "source", "is_closed", "created_at", "updated_at", "name"]
    columns += ["alternate_names", "entity_type", "entity_subtype", "business_address_countries", "addresses"]
    columns += ["is_listed", "listing"]
    ids = list(writer.insert_numbered(columns, rows))
    assert len(ids) == 3 and min(ids) > max(drawn) and len(set(ids) | set(drawn)) == 6
    assert [Entity.objects.get(pk=pk).external_id for pk in ids] == [row[0] for row in rows]
    children = [(2, "XI-LEI", "", "C", ""), (0, "XI-LEI", "", "A", ""), (0, "GB-COH", "", "A1", "")]
    TableWriter(EntityIdentifier).insert_for(["entity_id", "scheme", "scheme_name", "value", "uri"], children, ids)
    got = set(EntityIdentifier.objects.filter(entity_id__in=ids).values_list("entity__external_id", "value"))
    assert got == {("numbered-2", "C"), ("numbered-0", "A"), ("numbered-0", "A1")}
    # Any id sequence (PostgreSQL's draws) is followed index by index.
    TableWriter(EntityIdentifier).insert_for(
        ["entity_id", "scheme", "scheme_name", "value", "uri"], [(1, "X", "", "B", "")], [ids[1], ids[0]]
    )
    assert EntityIdentifier.objects.get(value="B").entity_id == ids[0]
