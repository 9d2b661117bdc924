"""Durable bookkeeping of background re-screening.

* ``RescreenRequest``: pending work. A row is written in the *same transaction*
  as the ownership or policy change that caused it (model receivers in
  ``cases.receivers_ownership``, or ``cases.services.rescreen.rescreen_request``),
  so a crash between the change and the re-screen loses nothing. A worker
  claims rows with a lease (``claimed_until``), re-screens everything downstream
  of their seeds, and deletes them. A worker that dies leaves its rows behind;
  the lease runs out and another worker (or the periodic sweep) retries them.
* ``ScreenRun``: a portfolio-wide re-screen (``screen --all``, periodic, policy
  change), cut into ``ScreenRunChunk`` id ranges as workers claim them. Several
  workers share one run: each claims a chunk with a lease, and a chunk's decisions
  commit together with its ``finished_at``, only while the worker still holds the
  lease, so a chunk is decided once however many workers, crashes and retries
  there are. A killed run resumes with the chunks not finished.
* ``ScheduledJob``: the tiny scheduler's table (django-tasks has no cron): one row
  per periodic job with its interval and ``next_run_at``.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RescreenRequest(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    trigger = models.CharField(max_length=30, default="ownership_change")
    all_entities = models.BooleanField(default=False, help_text="Re-decide every entity (policy change).")
    entity_ids = models.JSONField(default=list, blank=True, help_text="Changed entities (seeds).")
    person_ids = models.JSONField(default=list, blank=True, help_text="Changed persons (seeds).")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("rescreen request")
        verbose_name_plural = _("rescreen requests")
        ordering = ["id"]

    def __str__(self) -> str:
        if self.all_entities:
            scope = "all entities"
        else:
            scope = f"{len(self.entity_ids)} entities, {len(self.person_ids)} persons"
        return f"Re-screen request {self.pk} ({self.trigger}: {scope})"


class ScreenRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    kind = models.CharField(max_length=30, default="manual", help_text="Trigger: manual, periodic, policy_change.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    as_of = models.DateField()
    policy_version = models.PositiveIntegerField()
    last_entity_id = models.BigIntegerField(default=0, help_text="Checkpoint: every entity id <= this is done.")
    frontier_entity_id = models.BigIntegerField(
        default=0, help_text="Every entity id <= this belongs to a chunk (claimed, maybe not finished)."
    )
    chunk_size = models.PositiveIntegerField(default=5000, help_text="Entities per chunk cut from the frontier.")
    total = models.PositiveIntegerField(default=0)
    screened = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("screen run")
        verbose_name_plural = _("screen runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Screen run {self.pk} ({self.kind}, {self.status}, {self.screened}/{self.total})"


class ScreenRunChunk(models.Model):
    """One id range of a portfolio run, decided by whichever worker holds its lease when it commits."""

    run = models.ForeignKey(ScreenRun, on_delete=models.CASCADE, related_name="chunks")
    first_entity_id = models.BigIntegerField()
    last_entity_id = models.BigIntegerField()
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    screened = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("screen run chunk")
        verbose_name_plural = _("screen run chunks")
        ordering = ["run", "first_entity_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "first_entity_id"], name="screenrunchunk_unique_start"),
            models.CheckConstraint(
                condition=models.Q(last_entity_id__gte=models.F("first_entity_id")), name="screenrunchunk_range"
            ),
        ]

    def __str__(self) -> str:
        state = "finished" if self.finished_at else f"claimed by {self.claimed_by or 'nobody'}"
        return f"Chunk {self.first_entity_id}–{self.last_entity_id} of run {self.run_id} ({state})"


class ScheduledJob(models.Model):
    name = models.CharField(max_length=60, unique=True)
    interval_seconds = models.PositiveIntegerField()
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (every {self.interval_seconds} s, next {self.next_run_at:%Y-%m-%d %H:%M})"
