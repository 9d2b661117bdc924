"""Fixtures for the API tests: role users, their tokens, and a client that sends a token."""

import pytest
from django.db import connection
from django.db.models.signals import post_migrate
from rest_framework.test import APIClient

from cases.roles import INTEGRATION, INVESTIGATOR, MANAGER
from cases.services.tokens import token_create
from tests.services.conftest import decide, make_user  # noqa: F401  (shared helpers)


def _reseed_after_flush(sender, **kwargs):
    """After a transactional test's flush (post_migrate), put back the migrations' seed data (jurisdictions,
    default policy, the restricted lists), so later transactional tests without serialized_rollback find
    the baseline."""
    if getattr(sender, "name", None) != "cases":
        return
    from importlib import import_module

    from django.apps import apps as global_apps

    import_module("cases.migrations.0002_jurisdictions_and_default_policy").seed(global_apps, None)
    import_module("cases.migrations.0009_restricted_lists").seed_lists(global_apps, None)


post_migrate.connect(_reseed_after_flush, dispatch_uid="tests.api.reseed_after_flush")


@pytest.fixture
def baseline(transactional_db):
    """Seed data for transactional tests, whatever flushed the database before them."""
    from django.apps import apps as global_apps

    _reseed_after_flush(global_apps.get_app_config("cases"))


#: Every list endpoint of the API (the first five have updated_since filters).
API_LISTS = [
    "/api/v1/entities/",
    "/api/v1/persons/",
    "/api/v1/relationships/",
    "/api/v1/decisions/",
    "/api/v1/cases/",
    "/api/v1/overrides/",
    "/api/v1/exemptions/",
    "/api/v1/restricted-lists/",
    "/api/v1/restricted-list-members/",
]

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: row locks and concurrent transactions (SQLite serialises writers)",
)


def token_client(user, scopes=("read", "write")) -> APIClient:
    _, plaintext = token_create(user=user, name=f"test-{user.username}", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    client.token = plaintext
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and the token/permission process caches must not leak between tests."""
    from django.core.cache import cache

    from cases.api import auth
    from cases.services import tokens

    cache.clear()
    tokens._token_cache._data.clear()
    auth._permission_cache._data.clear()
    yield


@pytest.fixture
def integration_user(db):
    return make_user(INTEGRATION)


@pytest.fixture
def investigator_user(db):
    return make_user(INVESTIGATOR)


@pytest.fixture
def manager_user(db):
    return make_user(MANAGER)


@pytest.fixture
def manager2_user(db):
    return make_user(MANAGER)


@pytest.fixture
def api(integration_user):
    """An Integration account's read/write token client."""
    return token_client(integration_user)


@pytest.fixture
def read_only_api(integration_user):
    return token_client(integration_user, scopes=("read",))
