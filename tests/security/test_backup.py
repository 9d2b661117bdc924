"""Backups restore to a database whose audit chain verifies (docs/operations.md "Backups").

PostgreSQL: ``pg_dump -Fc`` then ``pg_restore`` into a fresh database, then ``manage.py verify_audit``
against it. SQLite: the online backup API (``sqlite3.Connection.backup``) into a file, then the same.
Each test also alters one audit row in the restored copy and shows ``verify_audit`` then fails, so the
check really ran against the restore.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import connection

from cases.models import AuditEvent, Case
from cases.roles import INVESTIGATOR
from cases.services import cases as case_services
from cases.services.audit_anchor import audit_checkpoint_write
from tests.admin.conftest import make_user
from tests.api.conftest import baseline  # noqa: F401  (pytest fixture: seed data after earlier flushes)
from tests.browser.conftest import audit_flushable  # noqa: F401  (pytest fixture)
from tests.factories import CustomerFactory
from tests.services.conftest import decide

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def some_history() -> int:
    """A case, worked a little: audit rows to back up."""
    customer = CustomerFactory(entity__external_id=f"bk-{uuid.uuid4().hex[:8]}")
    decide(customer.entity, "block")
    case = Case.objects.get(subject=customer.entity)
    investigator = make_user(INVESTIGATOR, username=f"ivy-{uuid.uuid4().hex[:6]}")
    case_services.case_assign_to_me(case=case, actor=investigator)
    case_services.case_add_note(case=case, text="Called the customer.", actor=investigator)
    count = AuditEvent.objects.count()
    assert count >= 2
    return count


def verify_audit(database_url: str, checkpoint_dir: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "compliance.settings_test"}
    if checkpoint_dir is not None:
        env["AUDIT_CHECKPOINT_DIR"] = checkpoint_dir
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite online backup API (PostgreSQL: see the pg_dump test)")
def test_sqlite_online_backup_restores_and_verifies(baseline, audit_flushable, tmp_path):  # noqa: F811
    rows = some_history()
    backup = tmp_path / "backup.sqlite3"
    target = sqlite3.connect(backup)
    connection.ensure_connection()
    connection.connection.backup(target)  # consistent copy while the database stays online
    target.close()

    restored = tmp_path / "restored.sqlite3"
    shutil.copyfile(backup, restored)  # restoring is copying the file into place (server stopped)
    result = verify_audit(f"sqlite:///{restored}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Audit chain OK: {rows} rows verified" in result.stdout

    from importlib import import_module

    triggers = import_module("cases.migrations.0004_audit_append_only_triggers")
    with sqlite3.connect(restored) as db:
        for sql in triggers.SQLITE_BACKWARD:
            db.execute(sql)
        db.execute("UPDATE cases_auditevent SET reason = 'tampered' WHERE seq = 1")
    tampered = verify_audit(f"sqlite:///{restored}")
    assert tampered.returncode != 0 and "BROKEN" in tampered.stdout + tampered.stderr


def sqlite_backup(tmp_path) -> str:
    """The online backup of the test database as a restorable file; its URL."""
    backup = tmp_path / f"backup-{uuid.uuid4().hex[:6]}.sqlite3"
    target = sqlite3.connect(backup)
    connection.ensure_connection()
    connection.connection.backup(target)
    target.close()
    return f"sqlite:///{backup}"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite online backup API (PostgreSQL: see the pg_dump test)")
def test_sqlite_rollback_to_an_older_backup_is_detected_by_the_checkpoint(baseline, audit_flushable, tmp_path):  # noqa: F811
    """Restore a backup taken before a signed checkpoint: the database is consistent but behind the anchor."""
    some_history()
    old_backup = sqlite_backup(tmp_path)
    some_history()
    checkpoint = audit_checkpoint_write()
    assert verify_audit(sqlite_backup(tmp_path), settings.AUDIT_CHECKPOINT_DIR).returncode == 0  # a current backup

    restored = verify_audit(old_backup, settings.AUDIT_CHECKPOINT_DIR)
    assert restored.returncode != 0
    assert f"BROKEN at checkpoint {checkpoint.name}" in restored.stderr and "older backup" in restored.stderr
    # Without the anchor (an empty checkpoint store) the old copy looks intact.
    assert verify_audit(old_backup, str(tmp_path / "no-checkpoints")).returncode == 0


def pg_env() -> tuple[dict, dict]:
    db = connection.settings_dict
    env = {**os.environ, "PGHOST": db["HOST"] or "127.0.0.1", "PGPORT": str(db["PORT"] or 5432), "PGUSER": db["USER"]}
    if db["PASSWORD"]:
        env["PGPASSWORD"] = db["PASSWORD"]
    return db, env


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump/pg_restore need PostgreSQL (SQLite: see above)")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs the pg_dump and pg_restore commands")
def test_postgres_dump_restore_into_a_fresh_database_verifies(baseline, audit_flushable, tmp_path):  # noqa: F811
    rows = some_history()
    db, env = pg_env()
    dump = tmp_path / "compliance.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", db["NAME"], "-f", str(dump)], env=env, check=True, timeout=300)

    fresh = f"{db['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", fresh], env=env, check=True, timeout=60)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", fresh, str(dump)], env=env, check=True, timeout=300
        )
        user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        url = f"postgres://{user}@{env['PGHOST']}:{env['PGPORT']}/{fresh}"
        result = verify_audit(url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Audit chain OK: {rows} rows verified" in result.stdout

        tamper = (
            "ALTER TABLE cases_auditevent DISABLE TRIGGER USER; UPDATE cases_auditevent SET reason = 'x' WHERE seq = 1;"
        )
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", fresh, "-c", tamper], env=env, check=True)
        tampered = verify_audit(url)
        assert tampered.returncode != 0 and "BROKEN" in tampered.stdout + tampered.stderr
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", fresh], env=env, check=False, timeout=60)


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump/pg_restore need PostgreSQL (SQLite: see above)")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs the pg_dump and pg_restore commands")
def test_postgres_rollback_to_an_older_dump_is_detected_by_the_checkpoint(baseline, audit_flushable, tmp_path):  # noqa: F811
    some_history()
    db, env = pg_env()
    dump = tmp_path / "old.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", db["NAME"], "-f", str(dump)], env=env, check=True, timeout=300)
    some_history()
    checkpoint = audit_checkpoint_write()

    fresh = f"{db['NAME']}_rollback_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", fresh], env=env, check=True, timeout=60)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", fresh, str(dump)], env=env, check=True, timeout=300
        )
        user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        url = f"postgres://{user}@{env['PGHOST']}:{env['PGPORT']}/{fresh}"
        restored = verify_audit(url, settings.AUDIT_CHECKPOINT_DIR)
        assert restored.returncode != 0
        assert f"BROKEN at checkpoint {checkpoint.name}" in restored.stderr and "older backup" in restored.stderr
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", fresh], env=env, check=False, timeout=60)
