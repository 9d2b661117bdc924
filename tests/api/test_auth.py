"""Tokens: hashed storage, header formats, expiry, revocation, scopes, last-used throttling, the command."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import ApiToken
from cases.services import tokens as tokens_module
from cases.services.tokens import token_authenticate, token_create, token_digest, token_revoke, token_touch

pytestmark = pytest.mark.django_db


def test_token_is_stored_hashed_and_authenticates(integration_user):
    token, plaintext = token_create(user=integration_user, name="billing", scopes="read,write")
    key, secret = plaintext.split(".")
    assert token.key == key and secret not in token.digest and token.digest == token_digest(secret)
    assert token_authenticate(raw=plaintext) == token
    assert token.scopes == ["read", "write"]


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_header_keywords(integration_user, keyword):
    _, plaintext = token_create(user=integration_user, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {plaintext}")
    assert client.get("/api/v1/entities/").status_code == 200


@pytest.mark.parametrize(
    "header",
    ["", "Token", "Token nodot", "Token abc.def", "Token a b", "Basic dXNlcjpwYXNz"],
)
def test_unauthenticated_is_401_json(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/entities/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json()["type"] == "client_error"


def test_wrong_secret_expired_revoked(integration_user):
    token, plaintext = token_create(user=integration_user, name="t")
    key, _ = plaintext.split(".")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}.wrong")
    assert client.get("/api/v1/entities/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert client.get("/api/v1/entities/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    # Writes always re-read the token; reads reuse it for READ_TOKEN_CACHE_SECONDS (10 s).
    assert client.post("/api/v1/entities/", {}, format="json").status_code == 401
    tokens_module._token_cache.delete(key)
    assert client.get("/api/v1/entities/").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None)
    tokens_module._token_cache.delete(key)
    assert client.get("/api/v1/entities/").status_code == 200
    token_revoke(token=token, actor=None)  # drops this process's cached copy at once
    assert client.get("/api/v1/entities/").status_code == 401


def test_inactive_user_is_401(integration_user):
    _, plaintext = token_create(user=integration_user, name="t")
    integration_user.is_active = False
    integration_user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert client.get("/api/v1/entities/").status_code == 401


def test_last_used_is_throttled(integration_user):
    token, _ = token_create(user=integration_user, name="t")
    now = timezone.now()
    token_touch(token=token, now=now)
    token.refresh_from_db()
    assert token.last_used_at == now
    token_touch(token=ApiToken.objects.get(pk=token.pk), now=now + datetime.timedelta(seconds=10))
    token.refresh_from_db()
    assert token.last_used_at == now  # within the minute: no write
    later = now + datetime.timedelta(minutes=2)
    token_touch(token=ApiToken.objects.get(pk=token.pk), now=later)
    token.refresh_from_db()
    assert token.last_used_at == later


def test_session_auth_for_staff(manager_user):
    client = APIClient()
    client.force_login(manager_user)
    assert client.get("/api/v1/cases/").status_code == 200
    # Session writes need the CSRF token like any Django form.
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(manager_user)
    assert csrf_client.post("/api/v1/entities/", {}, format="json").status_code == 403


def test_create_api_token_command(integration_user):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token",
        "crm",
        user=integration_user.username,
        scopes="read,write",
        expires_days=30,
        stdout=out,
        stderr=err,
    )
    plaintext = out.getvalue().strip()
    token = token_authenticate(raw=plaintext)
    assert token.name == "crm" and token.can_write
    assert token.expires_at > timezone.now() + datetime.timedelta(days=29)
    assert "not shown again" in err.getvalue()
    assert plaintext not in str(ApiToken.objects.values_list("digest", flat=True)[0])


def test_admin_creates_token_and_shows_it_once(client, integration_user):
    from tests.services.conftest import make_user

    admin_user = make_user(None, is_superuser=True)
    client.force_login(admin_user)
    response = client.post(
        "/admin/cases/apitoken/add/",
        {"user": integration_user.pk, "name": "from-admin", "description": "", "can_read": "on", "can_write": "on"},
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="from-admin")
    shown = [str(m) for m in response.context["messages"] if "shown once" in str(m)]
    assert shown and token.key in shown[0] and token.digest not in shown[0]
