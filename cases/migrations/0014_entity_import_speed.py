"""Import speed (issue 11): two redundant indexes dropped, no SQLite JSON_VALID checks on ``cases_entity``.

Drop two single-column foreign-key indexes that a composite index already covers.

``cases_entity.jurisdiction_id`` is the first column of the (jurisdiction, entity_type) index and
``cases_entityidentifier.entity_id`` the first of the unique (entity, scheme, value) constraint's
index: every lookup the single-column indexes served, those serve. Each cost a B-tree insert
per row on import (docs/performance.md, *GLEIF and FtM imports*).

Only the indexes are dropped (``SeparateDatabaseAndState``): ``AlterField`` would rebuild the
whole ``cases_entity`` table on SQLite.

Entity's five JSON columns become ``EncodedJSONField`` (no ``JSON_VALID`` CHECK on SQLite; why it
cannot fail is in its docstring). SQLite cannot drop a CHECK in place: the table is rebuilt, once
for the five (``AlterField`` would rebuild it five times). PostgreSQL has no such CHECK: nothing runs.
"""

import django.db.models.deletion

import cases.models.fields
from django.db import migrations, models

INDEXED = (("entity", "jurisdiction"), ("entityidentifier", "entity"))


def drop_indexes(apps, schema_editor):
    for model_name, field_name in INDEXED:
        model = apps.get_model("cases", model_name)
        column = model._meta.get_field(field_name).column
        # Exactly this one column (the composite and unique indexes have more), not unique, not the key.
        for name in schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_indexes(apps, schema_editor):
    for model_name, field_name in INDEXED:
        model = apps.get_model("cases", model_name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[model._meta.get_field(field_name)]))


def rebuild_entity_table(apps, schema_editor):
    """SQLite: ``cases_entity`` made again as the model state now is (its CHECKs and indexes included)."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor._remake_table(apps.get_model("cases", "Entity"))


ENCODED_JSON = {
    "addresses": {"default": list, "help_text": "BODS addresses as published."},
    "alternate_names": {"default": list},
    "business_address_countries": {"default": list, "help_text": "Countries of every business (headquarters) address."},
    "listing": {"default": dict, "help_text": "BODS publicListing object."},
    "source": {"default": dict, "help_text": "BODS source object (type, description, url)."},
}


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0013_workplace_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="entity",
                    name="jurisdiction",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="Jurisdiction of registration (for a state or state body: the state's own).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="cases.jurisdiction",
                    ),
                ),
                migrations.AlterField(
                    model_name="entityidentifier",
                    name="entity",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identifiers",
                        to="cases.entity",
                    ),
                ),
            ],
        ),
        # Backwards, the first rebuild runs last, with the checks of the state before.
        migrations.RunPython(migrations.RunPython.noop, rebuild_entity_table),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="entity", name=name, field=cases.models.fields.EncodedJSONField(blank=True, **options)
                )
                for name, options in ENCODED_JSON.items()
            ]
        ),
        migrations.RunPython(rebuild_entity_table, migrations.RunPython.noop),
    ]
