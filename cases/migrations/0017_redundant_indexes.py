"""Drop indexes that no query needs and every decision and audit event pays for.

* ``Decision.entity``'s own index: the ``(entity, -computed_at)`` index begins with the same column.
* ``AuditEvent.target_type``'s own index: the ``(target_type, target_id, seq)`` index begins with it.
* ``AuditEvent.target_id``'s own index: every lookup by target names its type too (that composite index),
  and the admin's search on it is case-insensitive (``=target_id``: ``UPPER(…) =`` on PostgreSQL, ``LIKE``
  on SQLite), which a plain index cannot serve.
* ``DecisionInput.fingerprint``'s index: replay reads an input by its decision; nothing looks one up by
  fingerprint.
* On PostgreSQL, the ``varchar_pattern_ops`` twins (``*_like``) Django adds to indexed text columns, on the
  decision and audit tables: they serve only case-sensitive prefix ``LIKE``, which nothing sends there
  (the admin searches those columns for equality).

A first portfolio run writes a decision, its input and an audit event per entity, each index once per row.
The model state changes with ``AlterField``; the database is changed with plain ``DROP INDEX`` only,
because on SQLite Django's ``AlterField`` rebuilds a table by copying it, which on ``cases_auditevent``
would also drop the append-only triggers of migration 0004 (and copy every event of a large trail).
"""

from django.db import migrations, models

# (table, column, index name) of the indexes Django created for these fields (the same on both databases).
DROPPED = [
    ("cases_decision", "entity_id", "cases_decision_entity_id_ed9ea83d"),
    ("cases_auditevent", "target_type", "cases_auditevent_target_type_58242236"),
    ("cases_auditevent", "target_id", "cases_auditevent_target_id_ddfd00e1"),
    ("cases_decisioninput", "fingerprint", "cases_decisioninput_fingerprint_9b78b5d6"),
]
# PostgreSQL's pattern-ops twins: those of the dropped text indexes, and those of indexes that stay.
DROPPED_LIKE = [
    ("cases_auditevent", "target_type", "cases_auditevent_target_type_58242236_like"),
    ("cases_decisioninput", "fingerprint", "cases_decisioninput_fingerprint_9b78b5d6_like"),
    ("cases_auditevent", "action", "cases_auditevent_action_a67daaa6_like"),
    ("cases_auditevent", "target_id", "cases_auditevent_target_id_ddfd00e1_like"),
    ("cases_auditevent", "hash", "cases_auditevent_hash_bd5ec6db_like"),
    ("cases_decision", "outcome", "cases_decision_outcome_f1776f09_like"),
]


def drop_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    dropped = DROPPED + (DROPPED_LIKE if schema_editor.connection.vendor == "postgresql" else [])
    for _table, _column, name in dropped:
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")


def create_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for table, column, name in DROPPED:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({quote(column)})")
    if schema_editor.connection.vendor == "postgresql":
        for table, column, name in DROPPED_LIKE:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({quote(column)} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0016_fewer_import_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="target_type",
                    field=models.CharField(editable=False, max_length=100),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="target_id",
                    field=models.CharField(editable=False, max_length=64),
                ),
                migrations.AlterField(
                    model_name="decision",
                    name="entity",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="decisions",
                        to="cases.entity",
                    ),
                ),
                migrations.AlterField(
                    model_name="decisioninput",
                    name="fingerprint",
                    field=models.CharField(help_text="SHA-256 of the canonical snapshot.", max_length=64),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
    ]
