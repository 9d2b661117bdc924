"""Logs: JSON lines with request context in production; tokens, passwords and Authorization never logged."""

import io
import json
import logging

import pytest

from cases.services.tokens import token_create
from compliance.logging import REDACTED, JsonFormatter, RedactSecretsFilter, redact
from tests.admin.conftest import make_user

TOKEN = "abcdefgh1234.Zk3l9sQe_VbT0xYw1u2v3w4x5y6z7A8B9C0D1E2F3G4"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Token {TOKEN}",
        f"HTTP_AUTHORIZATION='Bearer {TOKEN}'",
        f"token={TOKEN}",
        f"calling with {TOKEN} now",
        "login password=hunter2-hunter2 failed",
        '{"password": "s3cr3t-value", "user": "ivy"}',
        "SECRET_KEY=django-insecure-abcdefghijklmnop",
        "connect postgres://app:db-pass-123@db.internal:5432/compliance",
        "Cookie: sessionid=0123456789abcdef0123456789abcdef",
        "Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==",
    ],
)
def test_redact(text):
    cleaned = redact(text)
    for secret in (
        TOKEN,
        TOKEN.split(".")[1],
        "hunter2",
        "s3cr3t",
        "django-insecure",
        "db-pass-123",
        "0123456789abcdef",
    ):
        assert secret not in cleaned, cleaned
    assert "dXNlcjpwYXNzd29yZDEyMw" not in cleaned
    assert REDACTED in cleaned


def test_redact_keeps_ordinary_text():
    text = "GET /api/v1/cases/CASE-000123/ 200 12.5ms user=ivy"
    assert redact(text) == text


def make_logger(formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.security.capture")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_json_lines_with_extras_and_redacted_arguments_and_exceptions():
    logger, stream = make_logger(JsonFormatter())
    logger.info("token %s used", TOKEN, extra={"request_id": "r1", "status": 200, "headers": {"Authorization": "x"}})
    try:
        raise ValueError(f"bad header Authorization: Token {TOKEN}")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == f"token {REDACTED} used" and first["request_id"] == "r1" and first["status"] == 200
    assert first["headers"] == {"Authorization": REDACTED} and first["level"] == "INFO"
    assert second["level"] == "ERROR" and "ValueError" in second["exception"]
    assert TOKEN.split(".")[1] not in stream.getvalue()


@pytest.mark.django_db
def test_request_log_line_has_context_and_no_token(client, caplog):
    user = make_user(None, username="robot-user", is_superuser=True)
    _, plaintext = token_create(user=user, name="t", scopes="read")
    with caplog.at_level(logging.INFO, logger="compliance.request"):
        response = client.get(
            "/api/v1/cases/?page=1", HTTP_AUTHORIZATION=f"Token {plaintext}", HTTP_X_REQUEST_ID="req-7"
        )
    assert response.status_code == 200
    record = next(r for r in caplog.records if r.name == "compliance.request")
    assert (record.request_id, record.path, record.status, record.user) == (
        "req-7",
        "/api/v1/cases/",
        200,
        "robot-user",
    )
    assert record.token_key == plaintext.split(".")[0] and record.duration_ms >= 0
    assert plaintext.split(".")[1] not in caplog.text


@pytest.mark.django_db
def test_failed_admin_login_logs_no_password(client, caplog):
    make_user(None, username="root", is_superuser=True)
    with caplog.at_level(logging.DEBUG):
        client.post("/admin/login/", {"username": "root", "password": "Very-Secret-Typo-42"})
    assert caplog.records and "Very-Secret-Typo-42" not in caplog.text


def test_production_logging_is_json_on_stderr_with_the_redaction_filter():
    from django.conf import settings

    handler = settings.LOGGING["handlers"]["console"]
    assert handler["stream"] == "ext://sys.stderr" and "redact" in handler["filters"]
    assert settings.LOG_FORMAT == "json"  # DEBUG is false in the test settings, as in production
