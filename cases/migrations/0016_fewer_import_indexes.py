"""Fewer indexes for an import to maintain (issue 12); uniqueness and every index a query uses are kept.

On PostgreSQL a text field's ``unique``/``db_index`` (and a foreign key to a text key) also gets a
``varchar_pattern_ops`` twin, which serves only case-sensitive prefix ``LIKE`` queries. Nothing runs
one on these columns (the admin's and the API's searches are case-insensitive or exact), so they
are indexed through ``Meta`` instead, which makes no twin. ``Interest.relationship`` and
``Relationship.subject`` lose their own index: the (relationship, interest_type) and
(subject, is_closed) indexes start with them. ``external_id`` keeps its field-level ``unique`` (its
validation message belongs to the field, and GLEIF's closing of missing relationships runs a
prefix ``LIKE`` on it).

The indexes are rebuilt under their new names: on a large database this migration takes as long as
building them.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0015_current_decision_fillfactor"),
    ]

    operations = [
        migrations.AlterField(
            model_name="bodsstatement",
            name="record_id",
            field=models.CharField(max_length=255),
        ),
        migrations.AlterField(
            model_name="bodsstatement",
            name="statement_id",
            field=models.CharField(max_length=255),
        ),
        migrations.AlterField(
            model_name="entity",
            name="name",
            field=models.CharField(max_length=500),
        ),
        migrations.AlterField(
            model_name="entity",
            name="registered_address_country",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="cases.jurisdiction",
            ),
        ),
        migrations.AlterField(
            model_name="entityidentifier",
            name="value",
            field=models.CharField(max_length=255),
        ),
        migrations.AlterField(
            model_name="interest",
            name="relationship",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="interests",
                to="cases.relationship",
            ),
        ),
        migrations.AlterField(
            model_name="person",
            name="name",
            field=models.CharField(help_text="Primary full name.", max_length=500),
        ),
        migrations.AlterField(
            model_name="relationship",
            name="subject",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="owner_relationships",
                to="cases.entity",
            ),
        ),
        migrations.AddIndex(
            model_name="bodsstatement",
            index=models.Index(fields=["record_id"], name="bodsstatement_record_id_idx"),
        ),
        migrations.AddIndex(
            model_name="entity",
            index=models.Index(fields=["name"], name="entity_name_idx"),
        ),
        migrations.AddIndex(
            model_name="entity",
            index=models.Index(fields=["registered_address_country"], name="entity_registered_country_idx"),
        ),
        migrations.AddIndex(
            model_name="entityidentifier",
            index=models.Index(fields=["value"], name="entityidentifier_value_idx"),
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["name"], name="person_name_idx"),
        ),
        migrations.AddConstraint(
            model_name="bodsstatement",
            constraint=models.UniqueConstraint(fields=("statement_id",), name="bodsstatement_statement_id_unique"),
        ),
    ]
