"""Database triggers that make the audit table append-only (UPDATE and DELETE abort).

The ORM already refuses (model save/delete, queryset update/delete); these
triggers also stop raw SQL and other clients. SQLite and PostgreSQL only.
TRUNCATE is deliberately not trapped (test-database flushes use it); the
production database role must not own the table, so it cannot TRUNCATE.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE TRIGGER cases_auditevent_no_update BEFORE UPDATE ON cases_auditevent
       BEGIN SELECT RAISE(ABORT, 'cases_auditevent is append-only: UPDATE is not allowed'); END;""",
    """CREATE TRIGGER cases_auditevent_no_delete BEFORE DELETE ON cases_auditevent
       BEGIN SELECT RAISE(ABORT, 'cases_auditevent is append-only: DELETE is not allowed'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS cases_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS cases_auditevent_no_delete;",
]
POSTGRES_FORWARD = [
    """CREATE OR REPLACE FUNCTION cases_auditevent_append_only() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION USING
           MESSAGE = 'cases_auditevent is append-only: ' || TG_OP || ' is not allowed',
           ERRCODE = 'integrity_constraint_violation';
       END;
       $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER cases_auditevent_no_update BEFORE UPDATE ON cases_auditevent
       FOR EACH ROW EXECUTE FUNCTION cases_auditevent_append_only();""",
    """CREATE TRIGGER cases_auditevent_no_delete BEFORE DELETE ON cases_auditevent
       FOR EACH ROW EXECUTE FUNCTION cases_auditevent_append_only();""",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS cases_auditevent_no_update ON cases_auditevent;",
    "DROP TRIGGER IF EXISTS cases_auditevent_no_delete ON cases_auditevent;",
    "DROP FUNCTION IF EXISTS cases_auditevent_append_only();",
]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRES_FORWARD)
    else:
        raise RuntimeError(f"No append-only audit triggers for database vendor {vendor!r}.")
    AuditChainHead = apps.get_model("cases", "AuditChainHead")
    AuditChainHead.objects.get_or_create(id=1)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_casework_and_audit")]
    operations = [migrations.RunPython(forward, backward)]
