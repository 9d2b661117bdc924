"""Scheduled jobs and the small durable scheduler. Queue ``default``.

django-tasks has no cron, so the schedule is a table: one ``ScheduledJob`` row
per job (``JOBS`` below) with its interval and ``next_run_at``. ``scheduler_tick``
— run every ``TICK_SECONDS`` by a thread of ``manage.py run_worker`` — enqueues each
due job and moves its ``next_run_at`` on with one conditional ``UPDATE``
(``WHERE next_run_at = <the value it read>``), so several worker processes ticking
at once enqueue each run exactly once, and a restart forgets nothing (the row
still says when the job is due). The tick also sweeps: if re-screen requests are
pending and unclaimed (a lost kick, a worker that died), it enqueues processing.

Each job is idempotent: checkpointing the audit chain writes nothing when the head has not moved;
expiring exemptions, escalating overdue cases and purging
old idempotency keys act only on rows still due; the periodic re-screen resumes an unfinished run of the day.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from cases.models import ScheduledJob
from cases.services import queue
from cases.services.audit_anchor import audit_checkpoint_write
from cases.services.cases import cases_escalate_overdue
from cases.services.exemptions import exemptions_expire
from cases.services.idempotency import idempotency_keys_purge
from cases.services.rescreen import has_claimable_requests, rescreen_portfolio

logger = logging.getLogger(__name__)

TICK_SECONDS = 30


@task(queue_name="default")
def expire_exemptions() -> dict:
    return _finish("expire_exemptions", lambda: {"expired": len(exemptions_expire())})


@task(queue_name="default")
def escalate_overdue() -> dict:
    return _finish("escalate_overdue", lambda: {"escalated": len(cases_escalate_overdue())})


@task(queue_name="default")
def purge_idempotency_keys() -> dict:
    return _finish("purge_idempotency_keys", lambda: {"purged": idempotency_keys_purge()})


@task(queue_name="default")
def audit_checkpoint() -> dict:
    """Anchor the audit chain's head outside the database (docs/security.md T14)."""

    def run() -> dict:
        checkpoint = audit_checkpoint_write()
        return {"checkpoint": checkpoint.name if checkpoint else None}

    return _finish("audit_checkpoint", run)


@task(queue_name="screening")
def periodic_rescreen() -> dict:
    """Re-decide every entity as of today (stakes start and end; the date moves)."""

    def run() -> dict:
        result = rescreen_portfolio(kind="periodic", resume=True)
        return {"run": result.pk, "screened": result.screened, "changed": result.changed}

    return _finish("periodic_rescreen", run)


def _finish(name: str, job) -> dict:
    try:
        result = job()
    except Exception as exc:
        ScheduledJob.objects.filter(name=name).update(last_error=repr(exc)[:5000])
        raise
    ScheduledJob.objects.filter(name=name).update(last_finished_at=timezone.now(), last_error="")
    return result


@dataclass(frozen=True)
class Job:
    name: str
    task: object
    interval: datetime.timedelta
    first_delay: datetime.timedelta = datetime.timedelta(0)


JOBS = (
    Job("escalate_overdue", escalate_overdue, datetime.timedelta(hours=1)),
    Job("expire_exemptions", expire_exemptions, datetime.timedelta(days=1)),
    Job("purge_idempotency_keys", purge_idempotency_keys, datetime.timedelta(hours=1)),
    Job("audit_checkpoint", audit_checkpoint, datetime.timedelta(minutes=settings.AUDIT_CHECKPOINT_MINUTES)),
    # The first portfolio run waits a day: a fresh installation has just screened everything.
    Job("periodic_rescreen", periodic_rescreen, datetime.timedelta(days=1), datetime.timedelta(days=1)),
)


def scheduler_tick(*, now: datetime.datetime | None = None) -> list[str]:
    """Enqueue every due job once (safe in several processes at once); returns the names enqueued."""
    now = now or timezone.now()
    known = set(ScheduledJob.objects.values_list("name", flat=True))
    for job in JOBS:
        if job.name not in known:
            ScheduledJob.objects.get_or_create(
                name=job.name,
                defaults={"interval_seconds": int(job.interval.total_seconds()), "next_run_at": now + job.first_delay},
            )
    enqueued = []
    by_name = {job.name: job for job in JOBS}
    due = ScheduledJob.objects.filter(enabled=True, next_run_at__lte=now, name__in=list(by_name))
    for name, next_run_at, interval in due.values_list("name", "next_run_at", "interval_seconds"):
        with transaction.atomic():
            # Claim this run: only the process whose UPDATE matches the value it read enqueues.
            claimed = ScheduledJob.objects.filter(name=name, next_run_at=next_run_at).update(
                next_run_at=_next(next_run_at, interval, now), last_started_at=now
            )
            if claimed:
                # With the database backend the task row commits with the claim (atomic);
                # with a broker backend a rollback would at worst cause one extra idempotent run.
                by_name[name].task.enqueue()
                enqueued.append(name)
    # Requests a kick should already have handled (lost kick, dead worker, back-off over).
    if has_claimable_requests(older_than=datetime.timedelta(seconds=TICK_SECONDS)):
        queue.enqueue(queue.RESCREEN)
        enqueued.append("process_rescreen_requests")
    return enqueued


def _next(previous: datetime.datetime, interval_seconds: int, now: datetime.datetime) -> datetime.datetime:
    """The next slot after ``now`` on the job's grid (a stopped scheduler does not run a backlog)."""
    step = datetime.timedelta(seconds=interval_seconds)
    missed = max(0, int((now - previous) / step))
    return previous + step * (missed + 1)
