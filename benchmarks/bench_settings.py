"""Settings for the API benchmark only: production settings, the benchmark URLconf, a high throttle rate.

The throttle stays on (its cost is part of every API request) but with a rate the
benchmark cannot reach, so it measures throughput rather than the limit.
"""

import os

from benchmarks import set_audit_environment

os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
set_audit_environment()

from compliance.settings import *  # noqa: E402,F403

ROOT_URLCONF = "benchmarks.bench_urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"token": "10000000/minute", "screening": "10000000/minute"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
