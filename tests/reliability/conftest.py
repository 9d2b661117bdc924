"""Fixtures for the reliability suites: seed data for transactional tests, threads, scratch PostgreSQL databases."""

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.db import connection, connections

REPO = Path(__file__).resolve().parents[2]

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: real concurrent transactions and row locks (SQLite serialises writers)",
)


@pytest.fixture
def seeded(transactional_db):
    """Transactional tests flush the database afterwards: put the migrations' seed data (jurisdictions,
    default policy) back first, whatever flushed it before."""
    from importlib import import_module

    from django.apps import apps as global_apps

    import_module("cases.migrations.0002_jurisdictions_and_default_policy").seed(global_apps, None)


def run_concurrently(*calls, timeout: float = 60.0) -> list[tuple[object, BaseException | None]]:
    """Run each callable in its own thread (own database connection), released together by a barrier.

    Returns (result, exception) per callable, in order. Every thread closes its connections at the end.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[object, BaseException | None]] = [(None, None)] * len(calls)

    def worker(index, call):
        try:
            barrier.wait(timeout=timeout)
            outcomes[index] = (call(), None)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcomes[index] = (None, exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a worker thread hung (deadlock?)"
    return outcomes


def pg_admin_url(name: str) -> str:
    settings = connection.settings_dict
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    password = settings.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{auth}{host}:{port}/{name}"


def _subprocess_env(name: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": pg_admin_url(name),
        "DJANGO_SETTINGS_MODULE": "compliance.settings_test",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def _scratch_template():
    """One migrated template database per session (``migrate`` is slow); each test copies it."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: subprocess tests need a scratch server database")
    import psycopg

    name = f"reliability_tpl_{uuid.uuid4().hex[:12]}"
    admin = pg_admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        manage(_subprocess_env(name), "migrate", "--no-input", timeout=300)
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_pg(_scratch_template):
    """A fresh, migrated PostgreSQL database ``reliability_<random>`` for subprocesses (which cannot see
    the test's transaction). Yields an ``env`` dict for ``subprocess``; the database is dropped afterwards."""
    import psycopg

    name = f"reliability_{uuid.uuid4().hex[:12]}"
    admin = pg_admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_scratch_template}"')
    try:
        yield _subprocess_env(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result
