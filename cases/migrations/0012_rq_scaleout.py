# Partitioned portfolio runs: a run is cut into chunks that several workers claim with leases.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0011_rescreen_consequences")]

    operations = [
        migrations.AddField(
            model_name="screenrun",
            name="chunk_size",
            field=models.PositiveIntegerField(default=5000, help_text="Entities per chunk cut from the frontier."),
        ),
        migrations.AddField(
            model_name="screenrun",
            name="frontier_entity_id",
            field=models.BigIntegerField(
                default=0, help_text="Every entity id <= this belongs to a chunk (claimed, maybe not finished)."
            ),
        ),
        migrations.CreateModel(
            name="ScreenRunChunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("first_entity_id", models.BigIntegerField()),
                ("last_entity_id", models.BigIntegerField()),
                ("claimed_by", models.CharField(blank=True, max_length=64)),
                ("claimed_until", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("screened", models.PositiveIntegerField(default=0)),
                ("changed", models.PositiveIntegerField(default=0)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="chunks", to="cases.screenrun"
                    ),
                ),
            ],
            options={
                "ordering": ["run", "first_entity_id"],
                "constraints": [
                    models.UniqueConstraint(fields=("run", "first_entity_id"), name="screenrunchunk_unique_start"),
                    models.CheckConstraint(
                        condition=models.Q(("last_entity_id__gte", models.F("first_entity_id"))),
                        name="screenrunchunk_range",
                    ),
                ],
            },
        ),
    ]
