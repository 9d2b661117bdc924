"""Migration 0017: the indexes every decision and audit event paid for and no query used are gone; the ones
lookups use stay, and SQLite's audit triggers survived (the migration drops indexes, it rebuilds no table)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _indexes(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: info["columns"] for name, info in constraints.items() if info["index"] and not info["primary_key"]}


def test_lookups_keep_an_index_that_begins_with_their_column():
    decision, audit = _indexes("cases_decision"), _indexes("cases_auditevent")
    assert ["entity_id", "computed_at"] in decision.values()
    assert ["entity_id"] not in decision.values()
    assert ["target_type", "target_id", "seq"] in audit.values()
    assert ["target_type"] not in audit.values()
    assert ["target_id"] not in audit.values() and ["action"] in audit.values()
    assert not _indexes("cases_decisioninput")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pattern-ops twins")
def test_no_pattern_ops_twins_on_the_decision_and_audit_tables():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('cases_decision', 'cases_auditevent', "
            "'cases_decisioninput') AND indexdef LIKE '%%pattern_ops%%'"
        )
        assert cursor.fetchall() == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers are named in migration 0004")
def test_the_audit_triggers_are_still_there():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'cases_auditevent'")
        assert {name for (name,) in cursor.fetchall()} >= {"cases_auditevent_no_update", "cases_auditevent_no_delete"}
