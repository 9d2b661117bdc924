"""Admin login throttling (django-axes): N failures for one username from one address lock that pair out."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client, override_settings

from tests.admin.conftest import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"  # tests.factories.UserFactory


def login(client, username, password, ip="203.0.113.7"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def staff(db):
    return make_user(None, username="root", is_superuser=True)


def test_configured_for_username_and_ip():
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_FAILURE_LIMIT == 5 and settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_lockout_after_the_limit_even_with_the_right_password(staff):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "root", "wrong").status_code == 200  # the form again, with an error
    assert login(client, "root", "wrong").status_code == 429  # the limit-th failure locks out
    assert login(client, "root", PASSWORD).status_code == 429  # the right password no longer helps
    assert AccessAttempt.objects.get(username="root").failures_since_start >= settings.AXES_FAILURE_LIMIT


def test_lockout_is_per_username_and_address(staff):
    other = make_user(None, username="other", is_superuser=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "root", "wrong")
    assert login(client, "root", PASSWORD).status_code == 429
    # The same user from another address, and another user from the same address, still get in.
    assert login(Client(), "root", PASSWORD, ip="198.51.100.9").status_code == 302
    assert login(Client(), other.username, PASSWORD).status_code == 302


def test_success_before_the_limit_resets_the_count(staff):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "root", "wrong")
    assert login(client, "root", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="root").exists()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(Client(), "root", "wrong").status_code == 200


@override_settings(AXES_FAILURE_LIMIT=2)
def test_limit_is_configurable(staff):
    client = Client()
    login(client, "root", "wrong")
    assert login(client, "root", "wrong").status_code == 429


def test_cool_off_expires(staff):
    import datetime

    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "root", "wrong")
    assert login(client, "root", PASSWORD).status_code == 429
    # Let the cool-off period pass (the last failure is older than AXES_COOLOFF_TIME).
    attempt = AccessAttempt.objects.get(username="root")
    attempt.attempt_time -= settings.AXES_COOLOFF_TIME + datetime.timedelta(seconds=1)
    attempt.save(update_fields=["attempt_time"])
    assert login(Client(), "root", PASSWORD).status_code == 302


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_forwarded_address_is_the_key(staff):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            "/admin/login/",
            {"username": "root", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="203.0.113.50",
        )
    # Another client behind the same proxy is not locked out.
    ok = Client().post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.51",
    )
    assert ok.status_code == 302
    assert AccessAttempt.objects.get(username="root").ip_address == "203.0.113.50"


def test_api_tokens_are_not_throttled_by_axes(staff):
    """Token authentication does not go through django.contrib.auth.authenticate: a locked-out admin
    login leaves the same user's API token working (tokens are long random secrets; the API has its own throttle)."""
    from rest_framework.test import APIClient

    from cases.services.tokens import token_create

    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), "root", "wrong", ip="127.0.0.1")
    _, plaintext = token_create(user=staff, name="t", scopes="read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert api.get("/api/v1/cases/").status_code == 200


def test_test_client_login_needs_the_request(staff, client):
    """Axes needs the request to key on the address: tests log in with ``force_login`` (not throttled), or
    ``client.login(request=HttpRequest(), …)``; a bare ``client.login`` fails loudly instead of bypassing it."""
    from axes.exceptions import AxesBackendRequestParameterRequired
    from django.http import HttpRequest

    with pytest.raises(AxesBackendRequestParameterRequired):
        client.login(username="root", password=PASSWORD)
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    assert client.login(request=request, username="root", password=PASSWORD)
    assert client.get("/admin/").status_code == 200
