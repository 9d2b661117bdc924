"""The one door from services to background work: services name a job, tasks provide it.

Services must not import ``cases.tasks`` (tasks call services, so the import graph
would have a cycle). Instead each task module registers its task here when it is
imported (``CasesConfig.ready`` imports them), and a service asks for a job by
name. Enqueueing is best effort on purpose: every job's durable state lives in our
own tables (``RescreenRequest``, ``WebhookDelivery``), and the scheduler's sweep
enqueues again whatever a lost enqueue left behind, so a broker that is down is
logged, not raised into the write that asked for the job.
"""

from __future__ import annotations

import datetime
import logging

logger = logging.getLogger(__name__)

#: Drain pending ``RescreenRequest`` rows (``cases.tasks.screening``).
RESCREEN = "rescreen"
#: Help decide a partitioned portfolio run's chunks (``cases.tasks.screening``; kwargs run_id, actor_id).
PORTFOLIO_CHUNKS = "portfolio_chunks"
#: Send due webhook deliveries (``cases.tasks.webhooks``).
WEBHOOKS = "webhooks"

_providers: dict[str, object] = {}


def provide(job: str, task) -> None:
    """Called by a task module at import: ``task`` (a django-tasks ``Task``) runs ``job``."""
    _providers[job] = task


def enqueue(job: str, *, run_after: datetime.datetime | None = None, **arguments) -> None:
    """Enqueue ``job`` (with the task's JSON ``arguments``) now or at ``run_after``; a failure is logged
    (the sweep catches up)."""
    try:
        task = _providers[job]
        if run_after is not None:
            task = task.using(run_after=run_after)
        task.enqueue(**arguments)
    except Exception:  # noqa: BLE001 - the durable rows are the source of truth
        logger.exception("Could not enqueue the %s job; the scheduler's sweep will pick it up", job)
