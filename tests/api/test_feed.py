"""The change feed: a polling consumer never misses or double-counts an event, even with concurrent writers."""

import random
import threading
import time

import pytest
from django.db import connections, transaction

from cases.models import DecisionChangeEvent
from cases.selectors.feed import feed_page
from tests.factories import CustomerFactory

from .conftest import decide, postgres_only


def poll_all(api, cursor=None):
    """A consumer: follow next_cursor until has_more is false; return (seqs, cursor)."""
    seqs = []
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = api.get("/api/v1/decisions/changes/", params).json()
        seqs += [item["seq"] for item in page["results"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seqs, cursor


@pytest.mark.django_db
def test_feed_pages_and_cursor(api):
    customers = [CustomerFactory(entity__external_id=f"f-{i}") for i in range(5)]
    for customer in customers:
        decide(customer.entity, "review")
    seqs, cursor = poll_all(api)
    assert seqs == [1, 2, 3, 4, 5]
    decide(customers[0].entity, "block")
    more, cursor2 = poll_all(api, cursor)
    assert more == [6]
    item = api.get("/api/v1/decisions/changes/", {"cursor": cursor}).json()["results"][0]
    assert (item["entity"], item["previous_outcome"], item["outcome"], item["type"]) == (
        "f-0",
        "review",
        "block",
        "decision.changed",
    )
    assert item["decision"]["outcome"] == "block"
    assert poll_all(api, cursor2) == ([], cursor2)


@pytest.mark.django_db
def test_bad_cursor_and_limit(api):
    assert api.get("/api/v1/decisions/changes/", {"cursor": "garbage!"}).json()["errors"][0]["attr"] == "cursor"
    assert api.get("/api/v1/decisions/changes/", {"limit": 0}).status_code == 400


@pytest.mark.django_db
def test_events_are_append_only(db):
    customer = CustomerFactory()
    decide(customer.entity, "block")
    event = DecisionChangeEvent.objects.get()
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()


@pytest.mark.django_db
def test_rolled_back_change_leaves_no_event_and_no_gap(db):
    customers = [CustomerFactory() for _ in range(2)]
    decide(customers[0].entity, "block")
    with pytest.raises(RuntimeError), transaction.atomic():
        decide(customers[1].entity, "block")
        raise RuntimeError("rollback")
    decide(customers[1].entity, "review")
    assert [e.seq for e in feed_page(after=0)] == [1, 2]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_poller_misses_nothing(baseline, integration_user):
    """Writers hold their transactions open for a random while after the change (so ids would commit out of
    order); a consumer polls throughout. It must see every event exactly once, in sequence order."""
    from .conftest import token_client

    api = token_client(integration_user, scopes=("read",))
    writers, changes_each = 6, 8
    customers = [CustomerFactory(entity__external_id=f"c-{i}") for i in range(writers)]
    done = threading.Event()
    errors = []
    seen: list[int] = []

    def writer(customer):
        rng = random.Random(customer.pk)
        try:
            for n in range(changes_each):
                with transaction.atomic():
                    decide(customer.entity, ["review", "block"][n % 2], figures=(50.0 + n, 60.0 + n))
                    time.sleep(rng.uniform(0, 0.01))  # commit later than the change
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    def poller():
        cursor = None
        try:
            while not done.is_set():
                got, cursor = poll_all(api, cursor)
                seen.extend(got)
                time.sleep(0.001)
            got, cursor = poll_all(api, cursor)
            seen.extend(got)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(c,)) for c in customers]
    consumer = threading.Thread(target=poller)
    consumer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    consumer.join()
    assert not errors
    total = writers * changes_each
    assert DecisionChangeEvent.objects.count() == total
    assert seen == list(range(1, total + 1))  # every event, once, in order, no gaps
