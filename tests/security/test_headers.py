"""HTTP security headers: CSP (strict, nonce only for styles), HSTS and secure cookies in production, CSRF."""

import pytest
from django.test import Client, override_settings

from tests.admin.conftest import client_for, make_user
from tests.factories import CustomerFactory
from tests.services.conftest import decide

pytestmark = pytest.mark.django_db


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("url", ["/admin/login/", "/api/docs/", "/health/"])
def test_csp_is_strict_on_every_page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no nonce needed
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]


def test_swagger_ui_has_no_inline_script_and_its_style_carries_the_nonce(client):
    response = client.get("/api/docs/")
    html = response.content.decode()
    nonce = next(p for p in csp_directives(response)["style-src"] if p.startswith("'nonce-"))[7:-1]
    assert f'<style nonce="{nonce}">' in html
    assert "<script>" not in html  # the initialiser is a separate file (SpectacularSwaggerSplitView)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def test_case_page_has_no_inline_script(admin_case_page):
    html = admin_case_page.content.decode()
    assert "<script>" not in html and "onclick=" not in html and "<style" not in html


@pytest.fixture
def admin_case_page(db):
    user = make_user(None, username="root", is_superuser=True)
    customer = CustomerFactory(entity__external_id="csp-1")
    decide(customer.entity, "block")
    case = customer.entity.cases.get()
    return client_for(user).get(f"/admin/cases/case/{case.pk}/change/")


def test_production_cookie_and_transport_settings():
    from django.conf import settings

    # settings_test only relaxes SECURE_SSL_REDIRECT and the cookie flags (no TLS in tests); production keeps them
    assert settings.SESSION_COOKIE_HTTPONLY and settings.X_FRAME_OPTIONS == "DENY"
    assert settings.SECURE_CONTENT_TYPE_NOSNIFF and settings.SECURE_HSTS_SECONDS >= 31536000
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")


@override_settings(SECURE_SSL_REDIRECT=True, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_https_redirect_hsts_and_secure_cookies(client):
    assert client.get("/admin/login/").status_code == 301
    response = client.get("/admin/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.cookies["csrftoken"]["secure"]


def test_admin_login_needs_the_csrf_token(db):
    make_user(None, username="root", is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "root", "password": "correct-horse-battery-staple"})
    assert response.status_code == 403


def test_responses_carry_a_request_id(client):
    response = client.get("/health/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = client.get("/health/", HTTP_X_REQUEST_ID="bad id with spaces\n")["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated
