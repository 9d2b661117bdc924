# The investigator's workplace (issue 15): saved work-queue filters and @mentions in case notes.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_restricted_lists")]

    operations = [
        migrations.CreateModel(
            name="CaseMention",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("read_at", models.DateTimeField(blank=True, null=True)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="mentions", to="cases.case"
                    ),
                ),
                (
                    "note",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="mentions", to="cases.casenote"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="case_mentions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["user", "read_at"], name="cases_casem_user_id_fe1d97_idx")],
                "constraints": [models.UniqueConstraint(fields=("note", "user"), name="casemention_once_per_note")],
            },
        ),
        migrations.CreateModel(
            name="SavedQueueFilter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80)),
                (
                    "query",
                    models.CharField(
                        blank=True, help_text="The queue's query string, without the '?'.", max_length=1000
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_queue_filters",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name", "id"],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "name"), name="savedqueuefilter_name_unique_per_user"),
                    models.CheckConstraint(
                        condition=models.Q(("name", ""), _negated=True), name="savedqueuefilter_name_not_blank"
                    ),
                ],
            },
        ),
    ]
