"""The import tables' indexes (migration 0016): what queries need, nothing an import would maintain for nothing."""

import pytest
from django.db import IntegrityError, connection, transaction

from cases.models import BodsStatement, Entity, EntityIdentifier, ImportRun, Interest, Person, Relationship

IMPORT_TABLES = [
    model._meta.db_table for model in (BodsStatement, Entity, EntityIdentifier, Interest, Person, Relationship)
]


def indexed_columns(model) -> dict[str, list[str]]:
    """Index name -> its columns, for the model's table."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name: info["columns"] for name, info in found.items() if info["index"] or info["unique"]}


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the pattern-ops twins exist on PostgreSQL only")
def test_the_only_prefix_like_twins_left_are_external_ids():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [IMPORT_TABLES, "%pattern_ops%"],
        )
        twins = sorted((table, name.removeprefix(table + "_").split("_")[:2]) for table, name in cursor.fetchall())
    # external_id keeps its field-level unique (``cases/migrations/0016_fewer_import_indexes.py``).
    assert twins == [(table, ["external", "id"]) for table in ("cases_entity", "cases_person", "cases_relationship")]


@pytest.mark.django_db
def test_every_lookup_column_keeps_an_index():
    wanted = {
        BodsStatement: [["statement_id"], ["record_id"], ["import_run_id"]],
        Entity: [["external_id"], ["name"], ["registered_address_country_id"], ["jurisdiction_id", "entity_type"]],
        Person: [["external_id"], ["name"]],
        EntityIdentifier: [["value"], ["entity_id", "scheme", "value"]],
        Relationship: [
            ["external_id"],
            ["subject_id", "is_closed"],
            ["interested_entity_id"],
            ["interested_person_id"],
        ],
        Interest: [["relationship_id", "interest_type"]],
    }
    for model, column_sets in wanted.items():
        present = list(indexed_columns(model).values())
        for columns in column_sets:
            assert columns in present, (model.__name__, columns)
    # The foreign keys that lost their own index are the first column of a composite one.
    assert ["relationship_id"] not in list(indexed_columns(Interest).values())
    assert ["subject_id"] not in list(indexed_columns(Relationship).values())


@pytest.mark.django_db
def test_statement_ids_stay_unique():
    run = ImportRun.objects.create(file_name="f")
    fields = {"record_id": "r", "record_type": "entity", "record_status": "new", "import_run": run, "body": {}}
    BodsStatement.objects.create(statement_id="s1", position=1, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        BodsStatement.objects.create(statement_id="s1", position=2, **fields)
