"""The keyed audit chain (every row says which HMAC key keyed its hash) and decision input snapshots.

Existing rows become ``key_id='legacy'`` and keep verifying with the plain SHA-256 they were
written with; the first keyed row chains onto the legacy head (its ``prev_hash``), so the chain
stays one chain. On SQLite adding a column with a default rebuilds the table, which drops its
triggers: the append-only triggers of 0004 are put back.

``DecisionInput`` keeps each new decision's engine input (its upstream closure), for replay.
"""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL adds the column in place and keeps its triggers
    triggers = import_module("cases.migrations.0004_audit_append_only_triggers")
    for sql in triggers.SQLITE_BACKWARD + triggers.SQLITE_FORWARD:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("cases", "0007_rescreen")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(
                default="legacy",
                editable=False,
                help_text="The HMAC key (AUDIT_HMAC_KEYS) that keyed this row's hash; 'legacy': plain SHA-256, before 0008.",
                max_length=32,
            ),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
        migrations.CreateModel(
            name="DecisionInput",
            fields=[
                (
                    "decision",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="input",
                        serialize=False,
                        to="cases.decision",
                    ),
                ),
                (
                    "fingerprint",
                    models.CharField(db_index=True, help_text="SHA-256 of the canonical snapshot.", max_length=64),
                ),
                (
                    "snapshot",
                    models.JSONField(help_text="Closure nodes and edges, as cases.ownership.snapshot writes them."),
                ),
            ],
            options={"default_permissions": ("view",)},
        ),
    ]
