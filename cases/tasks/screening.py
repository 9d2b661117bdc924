"""Re-screening tasks. Queue ``screening``.

``process_rescreen_requests`` is enqueued after every committed ownership or
policy change (``cases.services.rescreen``) and by the scheduler's sweep. It
drains the durable ``RescreenRequest`` table; on failure the requests stay
pending (their lease released) and the task re-enqueues itself with an
exponential back-off, so a transient error (a lock timeout, a restart) heals
itself without anyone running a command.
"""

from __future__ import annotations

import datetime
import logging

from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tasks import task

from cases.services import queue
from cases.services.rescreen import (
    has_claimable_requests,
    rescreen_portfolio,
    rescreen_portfolio_work,
    rescreen_process_pending,
)

logger = logging.getLogger(__name__)

#: Back-off of self-retries: 10 s, 20 s, 40 s … capped at 15 minutes.
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 900
#: One task run drains for at most this long, then hands over to a fresh run (other queues get a turn).
MAX_SECONDS = 300


def retry_delay(attempt: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1)))


@task(queue_name="screening")
def process_rescreen_requests(attempt: int = 1) -> dict:
    """Drain pending re-screen requests; idempotent; retries itself on failure."""
    try:
        summary = rescreen_process_pending(max_seconds=MAX_SECONDS)
    except Exception:
        logger.exception("Re-screening failed (attempt %d); retrying later", attempt)
        _enqueue_retry(attempt + 1)
        raise
    if has_claimable_requests():
        queue.enqueue(queue.RESCREEN)  # time budget used up: continue in a fresh task
    return summary.as_dict()


def _enqueue_retry(attempt: int) -> None:
    try:
        process_rescreen_requests.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(attempt=attempt)
    except Exception:
        logger.exception("Could not enqueue the retry; the scheduler sweep will pick the requests up")


@task(queue_name="screening")
def screen_portfolio_chunks(run_id: int, actor_id: int | None = None) -> dict:
    """Help decide one portfolio run: claim its chunks until none is left (a duplicate finds none)."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return {"run": run_id, "chunks": rescreen_portfolio_work(run_id=run_id, actor=actor)}


@task(queue_name="screening")
def rescreen_all(kind: str = "periodic", as_of: str | None = None) -> dict:
    """Re-decide the whole portfolio, resuming an unfinished run of the same kind and date."""
    day = datetime.date.fromisoformat(as_of) if as_of else None
    run = rescreen_portfolio(kind=kind, as_of=day, resume=True)
    return {"run": run.pk, "screened": run.screened, "changed": run.changed}


queue.provide(queue.RESCREEN, process_rescreen_requests)
queue.provide(queue.PORTFOLIO_CHUNKS, screen_portfolio_chunks)
