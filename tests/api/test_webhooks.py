"""Webhooks: signed POSTs to a local server, retries with exponential backoff, giving up, idempotent runs."""

import datetime
import http.server
import json
import threading

import pytest
from django.core.management import call_command
from django.utils import timezone

from cases.models import WebhookDelivery, WebhookSubscription
from cases.services.webhooks import backoff, sign, verify, webhooks_deliver_due
from cases.tasks.webhooks import deliver_webhooks
from tests.factories import CustomerFactory

from .conftest import decide

pytestmark = pytest.mark.django_db


class Receiver:
    """An http.server on 127.0.0.1 (only) in a thread; answers with the queued statuses, then 200."""

    def __init__(self):
        self.requests, self.statuses = [], []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def subscription(receiver):
    return WebhookSubscription.objects.create(name="crm", url=receiver.url, secret="s3cret")


def test_signed_delivery(receiver, subscription):
    customer = CustomerFactory(entity__external_id="hook-1")
    decide(customer.entity, "block")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    counts = webhooks_deliver_due()
    assert counts == {"claimed": 1, "delivered": 1, "retrying": 0, "gave_up": 0}
    headers, body = receiver.requests[0]
    assert verify(
        secret="s3cret", timestamp=headers["X-Signature-Timestamp"], body=body, signature=headers["X-Signature"]
    )
    assert headers["X-Signature"] == sign(secret="s3cret", timestamp=int(headers["X-Signature-Timestamp"]), body=body)
    assert not verify(
        secret="wrong", timestamp=headers["X-Signature-Timestamp"], body=body, signature=headers["X-Signature"]
    )
    old = int(headers["X-Signature-Timestamp"]) - 3600
    assert not verify(
        secret="s3cret", timestamp=str(old), body=body, signature=sign(secret="s3cret", timestamp=old, body=body)
    )
    payload = json.loads(body)
    assert (payload["entity"], payload["outcome"], payload["type"]) == ("hook-1", "block", "decision.changed")
    assert headers["X-Event-Id"] == str(payload["seq"])
    delivery.refresh_from_db()
    assert delivery.delivered_at and delivery.last_status == 200 and delivery.attempts == 1
    assert webhooks_deliver_due()["claimed"] == 0  # idempotent: never sent twice


def test_retry_with_backoff_then_success(receiver, subscription):
    customer = CustomerFactory()
    decide(customer.entity, "review")
    receiver.statuses = [500, 503]
    t0 = timezone.now()
    assert webhooks_deliver_due(now=t0)["retrying"] == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.next_attempt_at == t0 + backoff(1) and delivery.last_status == 500 and delivery.last_error
    assert webhooks_deliver_due(now=t0 + datetime.timedelta(seconds=10))["claimed"] == 0  # not due yet
    t1 = t0 + backoff(1)
    assert webhooks_deliver_due(now=t1)["retrying"] == 1
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == t1 + backoff(2) and backoff(2) == 2 * backoff(1)
    assert webhooks_deliver_due(now=t1 + backoff(2))["delivered"] == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.delivered_at and delivery.status == "delivered"
    assert len(receiver.requests) == 3
    assert [h["X-Delivery-Attempt"] for h, _ in receiver.requests] == ["1", "2", "3"]


def test_gives_up(receiver, subscription, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    decide(CustomerFactory().entity, "block")
    receiver.statuses = [500] * 10
    now = timezone.now()
    for _ in range(3):
        webhooks_deliver_due(now=now)
        now += datetime.timedelta(days=1)
    delivery = WebhookDelivery.objects.get()
    assert delivery.gave_up_at and delivery.attempts == 3 and delivery.status == "gave up"
    assert webhooks_deliver_due(now=now)["claimed"] == 0


def test_unreachable_is_a_failed_attempt(subscription):
    subscription.url = "http://127.0.0.1:9/unreachable"  # discard port: connection refused
    subscription.save()
    decide(CustomerFactory().entity, "block")
    assert webhooks_deliver_due()["retrying"] == 1
    assert WebhookDelivery.objects.get().last_error


def test_filters_task_and_command(receiver, subscription):
    WebhookSubscription.objects.create(name="blocks", url=receiver.url, secret="x", outcomes=["block"])
    WebhookSubscription.objects.create(name="off", url=receiver.url, secret="x", is_active=False)
    decide(CustomerFactory().entity, "review")
    assert WebhookDelivery.objects.count() == 1  # only the unfiltered, active subscription
    assert deliver_webhooks.call(limit=10)["delivered"] == 1
    decide(CustomerFactory().entity, "block")
    assert WebhookDelivery.objects.filter(delivered_at__isnull=True).count() == 2
    call_command("deliver_webhooks", "--all", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert WebhookDelivery.objects.filter(delivered_at__isnull=True).count() == 0


def test_commit_enqueues_one_delivery_task(subscription, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        decide(CustomerFactory().entity, "block")
        decide(CustomerFactory().entity, "review")
    assert DBTaskResult.objects.filter(task_path="cases.tasks.webhooks.deliver_webhooks").count() == 1
