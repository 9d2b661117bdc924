"""The columnar portfolio loader gives exactly the engine input of the ORM loader (both databases)."""

import datetime
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.models import (
    CurrentDecision,
    DirectOrIndirect,
    EntityIdentifier,
    EntityType,
    Interest,
    InterestType,
    PersonType,
    RestrictedList,
    RestrictedListIdentifier,
    RestrictedListMember,
    ScreeningPolicy,
)
from cases.ownership import screen
from cases.selectors.parallel_read import read_here
from cases.selectors.screening_columns import (
    _interest_read,
    current_decision_columns,
    interest_share_bounds,
    load_portfolio_input,
)
from cases.selectors.screening_input import PolicyView, _share_bounds, load_screening_input
from cases.services.policy import policy_get_active
from cases.services.screening import engine_policy, screen_entities
from tests.factories import EntityFactory, InterestFactory, PersonFactory, RelationshipFactory, stake

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 6, 1)


def _member(list_code: str, scheme: str, value: str, name: str) -> None:
    member = RestrictedListMember.objects.create(
        restricted_list=RestrictedList.objects.get(code=list_code), record_id=value, name=name
    )
    RestrictedListIdentifier.objects.create(member=member, scheme=scheme, value=value)


@pytest.fixture
def every_feature():
    """Share ranges, voting rights, control and indicator interests, dates, unknown owners, cycles,
    restricted-list members, persons of every kind, indirect summaries, closed and bare relationships."""
    top = EntityFactory(jurisdiction_id="GB", business_address_countries=["DE", "CN"])
    mid = EntityFactory(jurisdiction_id="DE", registered_address_country_id="FR")
    leaf = EntityFactory(jurisdiction_id="FR")
    state = EntityFactory(entity_type=EntityType.STATE, jurisdiction_id="RU")
    anonymous = EntityFactory(entity_type=EntityType.ANONYMOUS_ENTITY, jurisdiction_id=None)
    listed = EntityFactory(is_listed=True, jurisdiction_id="US")
    on_list = EntityFactory(jurisdiction_id="NL")
    EntityIdentifier.objects.create(entity=on_list, scheme="XI-LEI", value="5493007LISTEDPLC0085")
    _member("us-bis-entity-list", "XI-LEI", "5493007LISTEDPLC0085", on_list.name)
    known = PersonFactory(nationalities=["GB", "RU"], residence_countries=["CN"])
    unknown_person = PersonFactory(person_type=PersonType.UNKNOWN_PERSON, nationalities=[], name="")
    listed_person = PersonFactory(external_id="NK-person-1", nationalities=["FR"])
    _member("us-bis-entity-list", "FTM", "NK-person-1", "Listed Person")
    PersonFactory()  # holds nothing: not a node

    stake(top, mid, 30)
    stake(mid, top, 10)  # a cycle
    ranged = RelationshipFactory(subject=mid, interested_entity=state, interested_person=None)
    InterestFactory(
        relationship=ranged,
        share_exact=None,
        share_minimum=Decimal("25"),
        share_maximum=Decimal("50"),
        share_minimum_exclusive=True,
    )
    InterestFactory(relationship=ranged, interest_type=InterestType.VOTING_RIGHTS, share_exact=Decimal("33.33"))
    InterestFactory(relationship=ranged, interest_type=InterestType.APPOINTMENT_OF_BOARD, share_exact=None)
    stake(known, leaf, 20, start_date=datetime.date(2020, 1, 1), end_date=datetime.date(2030, 1, 1))
    stake(known, leaf, 15, end_date=datetime.date(2025, 1, 1))  # ended: no edge
    stake(unknown_person, leaf, None, interest_type=InterestType.UNKNOWN_INTEREST)
    stake(listed_person, mid, 12.5, start_date=datetime.date(2027, 1, 1))  # not yet: no edge, still a node
    stake(listed_person, listed, 5)
    stake(
        anonymous,
        leaf,
        None,
        interest_type=InterestType.VOTING_RIGHTS,
        share_exact=None,
        share_maximum=Decimal("40"),
        share_maximum_exclusive=True,
    )
    stake(on_list, listed, 60)
    unspecified = RelationshipFactory(subject=leaf, interested_person=None, unspecified_reason="noBeneficialOwners")
    InterestFactory(relationship=unspecified, share_exact=Decimal("10"))
    RelationshipFactory(subject=top, interested_person=None, unspecified_reason="unknown")  # states nothing
    RelationshipFactory(subject=listed, interested_entity=top, interested_person=None)  # states nothing
    closed = stake(known, top, 90)
    closed.is_closed = True
    closed.save()
    summary = RelationshipFactory(
        subject=listed, interested_entity=mid, interested_person=None, component_record_ids=["c-1"]
    )
    InterestFactory(relationship=summary, direct_or_indirect=DirectOrIndirect.INDIRECT, share_exact=Decimal("70"))
    InterestFactory(relationship=summary, interest_type=InterestType.NOMINEE, share_exact=None)
    return top


def _same_input(columnar, orm) -> None:
    for name in (
        "node_class",
        "owner",
        "subject",
        "share_low",
        "share_high",
        "low_open",
        "high_open",
        "has_share",
        "control",
        "indicator",
        "start_day",
        "end_day",
    ):
        mine, theirs = getattr(columnar.graph, name), getattr(orm.graph, name)
        assert mine.dtype == theirs.dtype, name
        np.testing.assert_array_equal(mine, theirs, err_msg=name)
    np.testing.assert_array_equal(columnar.entity_pk_by_node, orm.entity_pk_by_node)
    assert columnar.external_ids == orm.external_ids
    assert columnar.names == orm.names
    assert columnar.graph.node_labels == orm.graph.node_labels
    assert columnar.root_reasons == orm.root_reasons
    assert columnar.list_reasons == orm.list_reasons
    assert columnar.node_by_entity_pk == orm.node_by_entity_pk


def test_the_columnar_loader_gives_the_orm_loaders_engine_input(every_feature):
    policy = PolicyView.of(policy_get_active())
    orm = load_screening_input(policy=policy, as_of=AS_OF)
    columnar = load_portfolio_input(policy=policy, as_of=AS_OF)
    assert orm.graph.owner.size >= 12 and len(orm.root_reasons) >= 4 and orm.list_reasons  # the fixture bites
    _same_input(columnar, orm)


def test_an_empty_database_loads_an_empty_graph():
    policy = PolicyView.of(policy_get_active())
    _same_input(load_portfolio_input(policy=policy, as_of=AS_OF), load_screening_input(policy=policy, as_of=AS_OF))


def test_the_figure_columns_are_the_figure_rows_and_match_what_is_stored(every_feature):
    screen_entities(as_of=AS_OF)
    policy = policy_get_active()
    data = load_portfolio_input(policy=PolicyView.of(policy), as_of=AS_OF)
    result = screen(data.graph, engine_policy(policy))
    nodes = data.entity_nodes()
    columns = result.figure_columns(nodes)
    rows = result.figure_rows(nodes)
    labels = {0: "allow", 1: "review", 2: "block"}
    as_rows = [
        (labels[lt], lt_low, lt_high, labels[cc], cc_low, cc_high)
        for lt, lt_low, lt_high, cc, cc_low, cc_high in zip(*(c.tolist() for c in columns), strict=True)
    ]
    assert as_rows == rows
    stored = current_decision_columns()
    at = stored.positions(data.entity_pk_by_node[nodes])
    assert (at >= 0).all()
    for mine, theirs in zip(columns, stored.figures, strict=True):
        np.testing.assert_array_equal(mine, theirs[at])
    assert stored.positions(np.array([10**12])).tolist() == [-1]
    assert ScreeningPolicy.objects.filter(pk__in=stored.policy_id.tolist()).count() == 1


_percent = st.decimals(min_value=0, max_value=100, places=8, allow_nan=False, allow_infinity=False)


@given(
    shares=st.lists(
        st.tuples(st.one_of(st.none(), _percent), st.one_of(st.none(), _percent), st.booleans(), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shares_read_as_integers_are_the_orm_fractions_bit_for_bit(shares):
    """Whatever the database stores a decimal as, ``share_bounds_columns`` gives ``_share_bounds``'s doubles."""
    with transaction.atomic():
        relationship = RelationshipFactory()
        relationship.interests.all().delete()
        for first, second, low_open, high_open in shares:
            if second is None:  # an exact share
                InterestFactory(relationship=relationship, share_exact=first)
            else:
                low, high = sorted([first or Decimal(0), second])
                InterestFactory(
                    relationship=relationship,
                    share_exact=None,
                    share_minimum=low if first is not None else None,
                    share_maximum=high,
                    share_minimum_exclusive=low_open and first is not None and low < high,
                    share_maximum_exclusive=high_open and low < high,
                )
        fields = ["share_exact", "share_minimum", "share_maximum", "share_minimum_exclusive", "share_maximum_exclusive"]
        expected = [
            _share_bounds(*row)
            for row in Interest.objects.filter(relationship=relationship).order_by("id").values_list(*fields)
        ]
        rows = read_here(_interest_read(connection.vendor, AS_OF))  # the portfolio loader's own read
        rows = rows[rows[:, 0] == relationship.pk]
        columns = interest_share_bounds(rows[np.argsort(rows[:, 1])])
        got = list(zip(*(column.tolist() for column in columns), strict=True))
        assert got == expected
        assert [tuple(map(float.hex, row[:2])) for row in got] == [tuple(map(float.hex, row[:2])) for row in expected]
        transaction.set_rollback(True)


@pytest.mark.parametrize("microsecond", [0, 1, 123456, 999999])
def test_screened_at_read_as_microseconds_is_the_orms_datetime(every_feature, microsecond):
    screen_entities(as_of=AS_OF)
    when = datetime.datetime(2026, 3, 4, 5, 6, 7, microsecond, tzinfo=datetime.UTC)
    CurrentDecision.objects.update(screened_at=when)
    stored = current_decision_columns()
    assert stored.screened_at.size and set(stored.screened_at.tolist()) == {
        (when - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)) // datetime.timedelta(microseconds=1)
    }
    rows = stored.seen_rows(list(range(stored.screened_at.size)))
    orm = dict(CurrentDecision.objects.values_list("decision_id", "screened_at"))
    assert all(row[3] == orm[row[0]] == when for row in rows)
    assert all(row[1] for row in rows)  # fingerprints read for the rows asked


@pytest.mark.django_db(transaction=True)
def test_a_pool_of_connections_reads_the_same_input(every_feature, monkeypatch, settings):
    """Outside a transaction the reads run side by side on their own connections, ranges of ids each
    (PostgreSQL; SQLite reads on its one connection, which was measured faster)."""
    from cases.selectors import parallel_read

    settings.PORTFOLIO_READ_CONNECTIONS = 3
    monkeypatch.setattr(parallel_read, "RANGE_IDS", 2)  # several ranges per table
    sizes = []
    run = parallel_read.ReadPool.run
    monkeypatch.setattr(
        parallel_read.ReadPool, "run", lambda pool, *reads: sizes.append(pool.size) or run(pool, *reads)
    )
    policy = PolicyView.of(policy_get_active())
    columnar = load_portfolio_input(policy=policy, as_of=AS_OF)
    assert sizes == [3 if connection.vendor == "postgresql" else 1]
    _same_input(columnar, load_screening_input(policy=policy, as_of=AS_OF))


@pytest.mark.django_db(transaction=True)
def test_the_pool_reads_the_snapshot_of_the_connection_that_opened_it(monkeypatch, settings):
    """A row committed after the snapshot was taken is not read by the pool's connections (PostgreSQL
    exports the snapshot; SQLite reads alone inside a transaction, so the point is PostgreSQL's)."""
    import threading

    from cases.models import Entity
    from cases.selectors import parallel_read

    settings.PORTFOLIO_READ_CONNECTIONS = 2
    before = EntityFactory()
    with parallel_read.read_snapshot() as pool:
        table = Entity._meta.db_table
        ranges = parallel_read.int_columns_read(pool.vendor, table, ["id"])

        def write_elsewhere():  # another connection, committed at once
            EntityFactory()
            connection.close()

        writer = threading.Thread(target=write_elsewhere)
        writer.start()
        writer.join()
        (ids,) = pool.run(ranges)
    assert Entity.objects.count() == 2
    if pool.vendor == "postgresql":
        assert pool.size == 2
        assert ids[:, 0].tolist() == [before.pk]
    else:
        assert before.pk in ids[:, 0].tolist()


def test_labels_and_names_are_read_when_first_used(every_feature, django_assert_num_queries):
    policy = PolicyView.of(policy_get_active())
    columnar = load_portfolio_input(policy=policy, as_of=AS_OF)
    rules = engine_policy(policy_get_active())
    with django_assert_num_queries(0):
        assert len(columnar.names) == columnar.graph.node_class.size  # known without reading
        screen(columnar.graph, rules)
    every_feature.name = "Renamed Top Holdings"
    every_feature.save()
    node = columnar.node_by_entity_pk[every_feature.pk]
    assert columnar.names[node] == "Renamed Top Holdings"  # read on first use, after the rename
    assert columnar.external_ids[node] == every_feature.external_id


def test_a_row_gone_before_its_label_is_read_keeps_a_label_made_from_its_pk():
    from cases.models import Person
    from cases.selectors.screening_columns import _labels_by_pk

    kept = PersonFactory(name="Kept")
    labels, names = _labels_by_pk(
        Person, "external_id, name", np.array([kept.pk, kept.pk + 1000]), lambda pk: (f"person:{pk}", "")
    )
    assert labels == [kept.external_id, f"person:{kept.pk + 1000}"]
    assert names == ["Kept", ""]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10**6)), unique_by=lambda row: row[1], max_size=40))
def test_rows_come_out_ordered_whichever_order_the_ranges_gave(pairs):
    """By relationship then id, as the ORM loader folds interests; PostgreSQL's ranges come in any order."""
    from cases.selectors.screening_columns import _sorted_by

    rows = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    expected = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    np.testing.assert_array_equal(_sorted_by(rows, 0, 1), expected)
    in_id_order = rows[np.argsort(rows[:, 1])]
    np.testing.assert_array_equal(_sorted_by(in_id_order, 0, 1), expected)
    np.testing.assert_array_equal(_sorted_by(rows, 1), in_id_order)
