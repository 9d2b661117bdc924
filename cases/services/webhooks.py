"""Webhooks: a persistent outbox of signed POSTs, delivered by the background worker.

- ``webhooks_enqueue`` (called by ``feed_record`` in the decision's transaction)
  writes one ``WebhookDelivery`` per interested active subscription: the outbox
  commits with the change, so nothing is sent for a rolled-back change and
  nothing is lost if the process dies.
- ``webhooks_deliver_due`` claims due deliveries (``FOR UPDATE SKIP LOCKED`` and a
  lease on ``next_attempt_at``, so two workers never send the same delivery at the
  same time), POSTs each, and records the result: delivered, retry with
  exponential backoff, or give up after ``WEBHOOK_MAX_ATTEMPTS``. Running it again
  is harmless (idempotent): delivered and given-up rows are never sent again.

Signature: ``X-Signature: sha256=<hex>`` = HMAC-SHA256(secret, ``<timestamp>.<body>``)
with ``X-Signature-Timestamp: <unix seconds>``; receivers reject old timestamps
(replay) and dedupe on ``X-Event-Id`` (the feed seq): delivery is at-least-once.
"""

import datetime
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.models import Customer, DecisionChangeEvent, WebhookDelivery, WebhookSubscription
from cases.selectors.feed import event_body

from . import queue

logger = logging.getLogger(__name__)

LEASE = datetime.timedelta(minutes=2)


def _setting(name: str, default):
    return getattr(settings, name, default)


def backoff(attempts: int) -> datetime.timedelta:
    """Delay after the ``attempts``-th failure: base × 2^(attempts−1), capped."""
    base = _setting("WEBHOOK_BACKOFF_BASE_SECONDS", 30)
    cap = _setting("WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)
    return datetime.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(*, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300, now=None) -> bool:
    """What a receiver does (and the tests check): fresh timestamp, constant-time signature compare."""
    now = int(now if now is not None else time.time())
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=ts, body=body), signature or "")


def webhooks_enqueue(*, event: DecisionChangeEvent) -> list[WebhookDelivery]:
    """Queue ``event`` for every active subscription that wants it (in the caller's transaction)."""
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True))
    if not subscriptions:
        return []
    is_customer = True
    if any(s.customers_only for s in subscriptions):
        is_customer = Customer.objects.filter(entity_id=event.entity_id, is_active=True).exists()
    now = timezone.now()
    rows = [
        WebhookDelivery(subscription=s, event=event, next_attempt_at=now)
        for s in subscriptions
        if s.wants(event, is_customer=is_customer)
    ]
    if rows:
        _kick_after_commit()
    return WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)


class _Kick:
    """On-commit callback enqueuing the delivery job; one per transaction however many events it wrote."""

    def __call__(self) -> None:
        queue.enqueue(queue.WEBHOOKS)


def _kick_after_commit() -> None:
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(isinstance(func, _Kick) for _sids, func, _robust in conn.run_on_commit):
        return
    transaction.on_commit(_Kick(), robust=True)


def next_retry_at() -> datetime.datetime | None:
    """When the earliest pending delivery is due (None: nothing pending)."""
    return (
        WebhookDelivery.objects.filter(delivered_at__isnull=True, gave_up_at__isnull=True, subscription__is_active=True)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def delivery_body(delivery: WebhookDelivery) -> bytes:
    payload = {"id": delivery.event.seq, **event_body(delivery.event)}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is a failed delivery, not a new target
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(*, url: str, body: bytes, headers: dict, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - admin-set URL
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@transaction.atomic
def _claim(*, now, limit: int) -> list[int]:
    due = (
        WebhookDelivery.objects.select_for_update(skip_locked=True)
        .filter(delivered_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=now)
        .filter(Q(subscription__is_active=True))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    ids = list(due)
    WebhookDelivery.objects.filter(id__in=ids).update(next_attempt_at=now + LEASE)
    return ids


def _attempt(delivery: WebhookDelivery, *, now) -> None:
    subscription = delivery.subscription
    body = delivery_body(delivery)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ownership-screening-webhooks/1",
        "X-Event-Id": str(delivery.event.seq),
        "X-Event-Type": delivery.event.kind,
        "X-Delivery-Id": str(delivery.pk),
        "X-Delivery-Attempt": str(delivery.attempts + 1),
        "X-Signature-Timestamp": str(timestamp),
        "X-Signature": sign(secret=subscription.secret, timestamp=timestamp, body=body),
    }
    status, error = None, ""
    try:
        status = _post(
            url=subscription.url, body=body, headers=headers, timeout=_setting("WEBHOOK_TIMEOUT_SECONDS", 10)
        )
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Exception as exc:  # network errors of every kind are a failed attempt, never a crash
        error = f"{exc.__class__.__name__}: {exc}"[:2000]
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status = status
    delivery.last_error = error
    if not error:
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= _setting("WEBHOOK_MAX_ATTEMPTS", 10):
        delivery.gave_up_at = now
        delivery.next_attempt_at = None
        logger.warning("webhook delivery %s gave up after %s attempts: %s", delivery.pk, delivery.attempts, error)
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "last_status",
            "last_error",
            "delivered_at",
            "gave_up_at",
            "next_attempt_at",
        ]
    )


def webhooks_deliver_due(*, now: datetime.datetime | None = None, limit: int = 100) -> dict:
    """Send every due delivery (at most ``limit``); returns counts. Safe to run concurrently and repeatedly."""
    now = now or timezone.now()
    ids = _claim(now=now, limit=limit)
    counts = {"claimed": len(ids), "delivered": 0, "retrying": 0, "gave_up": 0}
    for delivery in WebhookDelivery.objects.filter(id__in=ids).select_related("subscription", "event").order_by("id"):
        _attempt(delivery, now=now)
        if delivery.delivered_at:
            counts["delivered"] += 1
        elif delivery.gave_up_at:
            counts["gave_up"] += 1
        else:
            counts["retrying"] += 1
    return counts
