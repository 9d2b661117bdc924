"""Idempotency-Key: replay of the first response, 422 on another body, exactly one effect under concurrent retries."""

import json
import threading

import pytest
from django.db import connections

from cases.models import Case, Customer, IdempotencyKey
from cases.services.tokens import token_create

from .conftest import postgres_only, token_client

REQUEST = {
    "customer_reference": "CRM-IDEM",
    "entity": {"external_id": "idem-co", "name": "Idem Co", "jurisdiction": "GB"},
    "owners": [
        {
            "person": {"external_id": "idem-p", "name": "Oleg", "nationalities": ["RU"]},
            "interests": [{"type": "shareholding", "share_exact": "30"}],
        }
    ],
}


@pytest.mark.django_db
def test_retry_returns_first_response(api):
    first = api.post("/api/v1/screening-requests/", REQUEST, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    second = api.post("/api/v1/screening-requests/", REQUEST, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert second.status_code == 201 and second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1 and Customer.objects.count() == 1
    # Without the key, a retry is a second (idempotent by reference) request: 200, not 201.
    assert api.post("/api/v1/screening-requests/", REQUEST, format="json").status_code == 200


@pytest.mark.django_db
def test_same_key_other_body_is_422(api):
    api.post("/api/v1/screening-requests/", REQUEST, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = {**REQUEST, "customer_reference": "CRM-OTHER"}
    response = api.post("/api/v1/screening-requests/", other, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_keys_are_per_credential_and_errors_are_stored(api, integration_user):
    other_client = token_client(integration_user)  # another token of the same user: its own key space
    bad = {"customer_reference": "CRM-BAD"}
    first = api.post("/api/v1/screening-requests/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == 400
    assert (
        api.post("/api/v1/screening-requests/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-3").json() == first.json()
    )
    assert (
        other_client.post("/api/v1/screening-requests/", REQUEST, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code
        == 201
    )
    assert IdempotencyKey.objects.filter(key="k-3").count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_have_one_effect(baseline, integration_user):
    _, plaintext = token_create(user=integration_user, name="concurrent", scopes="read,write")
    workers = 6
    barrier = threading.Barrier(workers)
    responses, errors = [], []

    def retry():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
        try:
            barrier.wait()
            response = client.post("/api/v1/screening-requests/", REQUEST, format="json", HTTP_IDEMPOTENCY_KEY="same")
            responses.append((response.status_code, response.json(), response.get("Idempotent-Replayed")))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=retry) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(responses) == workers
    assert {status for status, _, _ in responses} == {201}
    bodies = {json.dumps(body, sort_keys=True) for _, body, _ in responses}  # jsonb may reorder keys
    assert len(bodies) == 1
    assert sorted(replayed or "" for _, _, replayed in responses) == [""] + ["true"] * (workers - 1)
    assert Customer.objects.count() == 1 and Case.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
