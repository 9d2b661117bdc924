"""With ``CACHE_URL=redis://…`` the throttle budget lives in Redis, so every web process shares one per token.

Uses the machine's Redis on 127.0.0.1:6379 (database 15, a key prefix per test); skipped if none answers.
"""

import os
import subprocess
import sys
import uuid

import pytest
import redis

from .conftest import token_client

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


def test_cache_url_selects_the_redis_cache():
    code = "import django; django.setup(); from django.conf import settings; print(settings.CACHES['default'])"
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "compliance.settings", "DEBUG": "true", "CACHE_URL": REDIS_URL}
    printed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "django.core.cache.backends.redis.RedisCache" in printed.stdout
    assert REDIS_URL in printed.stdout


@pytest.mark.django_db
def test_throttle_counts_are_shared_through_redis(settings, integration_user):
    raw = _redis_or_skip()
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    # An hour's window, so it does not roll over mid-test.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/hour"}}
    api = token_client(integration_user)
    try:
        for _ in range(3):
            assert api.get("/api/v1/entities/").status_code == 200
        # What another web process would read: the counter, in Redis, at 3.
        [counter] = raw.keys(f"{prefix}:*throttle_token_*")
        assert int(raw.get(counter)) == 3
        assert api.get("/api/v1/entities/").status_code == 429
        raw.delete(counter)  # another process resetting the window frees the budget here too
        assert api.get("/api/v1/entities/").status_code == 200
    finally:
        for key in raw.keys(f"{prefix}:*"):
            raw.delete(key)
