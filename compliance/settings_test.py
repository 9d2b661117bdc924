"""Test settings: the production settings with test-only conveniences.

DEBUG stays False (tests should see production behaviour); only what would make
tests slow or need a proxy is changed.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
# The audit chain's test key and a temporary checkpoint store with a fresh signing key, set in the
# environment so subprocesses (backup restores, verify_audit) share them. tests/conftest.py gives each
# test its own empty checkpoint directory below this one.
os.environ.setdefault("AUDIT_HMAC_KEYS", "test1:test-only-audit-key-0123456789abcdef0123456789")
if "AUDIT_CHECKPOINT_DIR" not in os.environ:
    _audit_tmp = tempfile.mkdtemp(prefix="audit-test-")
    os.environ["AUDIT_CHECKPOINT_DIR"] = os.path.join(_audit_tmp, "checkpoints")
    os.environ.setdefault("AUDIT_SIGNING_KEY_FILE", os.path.join(_audit_tmp, "signing-key.pem"))
if not os.path.exists(os.environ["AUDIT_SIGNING_KEY_FILE"]):
    from cases.audit_keys import write_signing_key

    write_signing_key(os.environ["AUDIT_SIGNING_KEY_FILE"])

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
ALLOWED_HOSTS = ["*"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    # Test databases are thrown away: a commit need not wait for the WAL to reach the disk. The
    # transactional tests (concurrency, fault injection, browser runs) commit thousands of times.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
