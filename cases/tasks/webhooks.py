"""Webhook delivery task. Queue ``webhooks``.

``deliver_webhooks`` sends every due delivery from the persistent outbox
(``WebhookDelivery``) through ``cases.services.webhooks.webhooks_deliver_due``,
which is idempotent and safe to run concurrently: the task can be enqueued as
often as wanted (after a change, or by the scheduler) and run twice harmlessly.
When more deliveries are due than one run takes, it enqueues itself again.
"""

from __future__ import annotations

import logging

from django_tasks import task

from cases.services import queue
from cases.services.webhooks import next_retry_at, webhooks_deliver_due

logger = logging.getLogger(__name__)

BATCH = 100


@task(queue_name="webhooks")
def deliver_webhooks(limit: int = BATCH) -> dict:
    """Deliver due webhooks (at most ``limit``); re-enqueue itself if the batch was full."""
    counts = webhooks_deliver_due(limit=limit)
    if counts["claimed"] >= limit:
        queue.enqueue(queue.WEBHOOKS)
    elif counts["retrying"]:
        queue.enqueue(queue.WEBHOOKS, run_after=next_retry_at())
    if counts["claimed"]:
        logger.info("webhooks: %s", counts)
    return counts


queue.provide(queue.WEBHOOKS, deliver_webhooks)
