"""Provenance of imported data: each import run and every BODS statement applied.

Keeping the statements makes imports idempotent (a statementId already applied
is skipped) and lets an investigator see the exact published statement behind
any record.
"""

import json
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import RecordStatus


class ImportRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    file_name = models.CharField(max_length=1000)
    file_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    statements_read = models.PositiveBigIntegerField(default=0)
    statements_applied = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Created/updated/closed per record type.")
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("import run")
        verbose_name_plural = _("import runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"


class BodsStatement(models.Model):
    # Unique and indexed through ``Meta``: on PostgreSQL a field's ``unique``/``db_index`` adds a second,
    # ``varchar_pattern_ops`` index for prefix ``LIKE`` queries, which nothing runs on this table, and an
    # import pays for every index on it (issue 12).
    statement_id = models.CharField(max_length=255)
    record_id = models.CharField(max_length=255)
    record_type = models.CharField(max_length=20)
    record_status = models.CharField(max_length=10, choices=RecordStatus.choices)
    statement_date = models.DateField(null=True, blank=True)
    declaration_subject = models.CharField(max_length=255, blank=True)
    import_run = models.ForeignKey(ImportRun, on_delete=models.PROTECT, related_name="statements")
    position = models.PositiveBigIntegerField(help_text="1-based position of the statement in its file.")
    # Text, not JSON: PostgreSQL's ``jsonb`` would reorder keys, drop whitespace and duplicate keys and
    # rewrite numbers, so what was stored would no longer be the published statement an investigator
    # (or an auditor hashing it) compares with the file. It also spares the server parsing every body.
    body = models.TextField(help_text="The statement as published: its JSON text, byte for byte.")

    class Meta:
        verbose_name = _("bods statement")
        verbose_name_plural = _("bods statements")
        ordering = ["import_run_id", "position"]
        indexes = [models.Index(fields=["record_id"], name="bodsstatement_record_id_idx")]
        constraints = [models.UniqueConstraint(fields=["statement_id"], name="bodsstatement_statement_id_unique")]

    def __str__(self) -> str:
        return self.statement_id

    @property
    def parsed_body(self) -> Any:
        """The published statement as Python values (numbers as ``Decimal``, exact as published)."""
        return json.loads(self.body, parse_float=Decimal)
