"""/health/ (liveness) and /health/ready/ (database + backlog): JSON, no authentication, nothing secret."""

from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import override_settings

from cases.models import RescreenRequest

pytestmark = pytest.mark.django_db


def test_liveness(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness(client):
    response = client.get("/health/ready/")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["backlog"] == {
        "status": "ok",
        "limit": settings.HEALTH_MAX_BACKLOG,
        "tasks_ready": 0,
        "oldest_task_age_seconds": None,
        "rescreen_pending": 0,
    }


def test_readiness_reports_a_backlog_and_fails_above_the_limit(client):
    RescreenRequest.objects.bulk_create([RescreenRequest(entity_ids=[1]) for _ in range(3)])
    assert client.get("/health/ready/").json()["checks"]["backlog"]["rescreen_pending"] == 3
    with override_settings(HEALTH_MAX_BACKLOG=2):
        response = client.get("/health/ready/")
    assert response.status_code == 503 and response.json()["checks"]["backlog"]["status"] == "error"


def test_readiness_fails_without_the_database_and_leaks_nothing(client):
    secret = "postgres://app:db-pass-123@db.internal/compliance"
    with mock.patch("compliance.health.connection.cursor", side_effect=OperationalError(f"cannot reach {secret}")):
        response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"status": "error", "error": "OperationalError"}
    assert b"db-pass" not in response.content and b"db.internal" not in response.content


def test_health_needs_no_login_and_only_get(client):
    assert client.get("/health/ready/").status_code == 200
    assert client.post("/health/").status_code == 405


@override_settings(SECURE_SSL_REDIRECT=True)
def test_health_is_exempt_from_the_https_redirect(client):
    assert client.get("/health/").status_code == 200
    assert client.get("/health/ready/").status_code == 200
    assert client.get("/admin/login/").status_code == 301
