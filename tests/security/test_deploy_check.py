"""`manage.py check --deploy --fail-level WARNING` is clean with the documented production environment."""

import os
import secrets
import subprocess
import sys
import tempfile

from django.conf import settings

from cases.audit_keys import write_signing_key

_AUDIT_STORE = tempfile.mkdtemp(prefix="deploy-check-")
write_signing_key(os.path.join(_AUDIT_STORE, "signing-key.pem"))
os.mkdir(os.path.join(_AUDIT_STORE, "checkpoints"))

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "screening.example.com",
    "DJANGO_SETTINGS_MODULE": "compliance.settings",
    # The audit chain's secrets (docs/security.md T14): the HMAC key, the checkpoint signing key and store.
    "AUDIT_HMAC_KEYS": "prod1:" + secrets.token_urlsafe(32),
    "AUDIT_SIGNING_KEY_FILE": os.path.join(_AUDIT_STORE, "signing-key.pem"),
    "AUDIT_CHECKPOINT_DIR": os.path.join(_AUDIT_STORE, "checkpoints"),
}


def run_check(**overrides) -> subprocess.CompletedProcess:
    # Only what a production process would have: nothing from the test run (its DATABASE_URL, the browser
    # tests' DJANGO_ALLOW_ASYNC_UNSAFE, the test settings' cookie relaxations).
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PRODUCTION_ENV, **overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_fails_on_a_weak_configuration():
    """The check is meaningful: turning HTTPS-only cookies off makes it fail."""
    result = run_check(SESSION_COOKIE_SECURE="false")
    assert result.returncode != 0
    assert "security.W012" in result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run_check(SECRET_KEY="")
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_check_deploy_fails_without_the_audit_chain_secrets():
    """No HMAC key, no signing key, no checkpoint store: each is named (cases.W001-W003)."""
    result = run_check(AUDIT_HMAC_KEYS="", AUDIT_SIGNING_KEY_FILE="", AUDIT_CHECKPOINT_DIR="/nonexistent/checkpoints")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cases.W001" in output and "AUDIT_HMAC_KEYS" in output
    assert "cases.W002" in output and "cases.W003" in output
