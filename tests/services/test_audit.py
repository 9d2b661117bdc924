"""The audit trail: hash chain, tamper detection, append-only at ORM and database level."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from cases.models import AppendOnlyError, AuditEvent
from cases.services.audit import audit_record
from cases.services.audit_verify import audit_verify
from cases.services.policy import policy_publish

from .conftest import decide

pytestmark = pytest.mark.django_db

TRIGGERS = ("cases_auditevent_no_update", "cases_auditevent_no_delete")


def drop_triggers():
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON cases_auditevent")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def three_events(user):
    return [
        audit_record(actor=user, action=f"test.{i}", target=("test", i, f"thing {i}"), after={"i": i}) for i in range(3)
    ]


def test_chain_links_and_verifies(investigator):
    events = three_events(investigator)
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert [e.seq for e in events] == [1, 2, 3]
    assert audit_verify() == (3, None)
    call_command("verify_audit")


def test_orm_refuses_update_and_delete(investigator):
    event = three_events(investigator)[0]
    event.reason = "edited"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_database_triggers_refuse_raw_update_and_delete(investigator):
    event = three_events(investigator)[0]
    for sql in (
        "UPDATE cases_auditevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM cases_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, reason="").exists()


def _assert_broken(seq_or_none, problem_word):
    _, broken = audit_verify()
    assert broken is not None
    assert broken.seq == seq_or_none and problem_word in broken.problem
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("verify_audit")


def test_detects_edited_row(investigator):
    events = three_events(investigator)
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cases_auditevent SET reason = 'forged' WHERE id = %s", [events[1].pk])
    _assert_broken(2, "edited")


def test_detects_deleted_row(investigator):
    events = three_events(investigator)
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cases_auditevent WHERE id = %s", [events[1].pk])
    _assert_broken(3, "gap")


def test_detects_deleted_last_row(investigator):
    events = three_events(investigator)
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cases_auditevent WHERE id = %s", [events[2].pk])
    _assert_broken(None, "head")


def test_detects_reordered_rows(investigator):
    events = three_events(investigator)
    drop_triggers()
    with connection.cursor() as cursor:  # swap the sequence positions of rows 1 and 2
        cursor.execute("UPDATE cases_auditevent SET seq = 1000 WHERE id = %s", [events[0].pk])
        cursor.execute("UPDATE cases_auditevent SET seq = 1 WHERE id = %s", [events[1].pk])
        cursor.execute("UPDATE cases_auditevent SET seq = 2 WHERE id = %s", [events[0].pk])
    _assert_broken(1, "prev_hash")


def test_detects_recomputed_hash_without_chain(investigator):
    """Editing a row and recomputing its own hash still breaks the next row's prev_hash."""
    from cases.services.audit import audit_event_hash

    events = three_events(investigator)
    drop_triggers()
    forged = AuditEvent.objects.get(pk=events[0].pk)
    forged.reason = "forged"
    new_hash = audit_event_hash(forged)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cases_auditevent SET reason='forged', hash=%s WHERE id=%s", [new_hash, events[0].pk])
    _assert_broken(2, "prev_hash")


def test_services_write_audit_events(entity, manager):
    decide(entity, "block", actor=None)
    policy_publish(user=manager, restricted_codes=["CN", "RU"], notes="tighten")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"decision.changed", "case.opened", "effective.changed", "policy.published"} <= actions
    published = AuditEvent.objects.get(action="policy.published")
    assert published.actor == manager and published.after["restricted_jurisdictions"] == ["CN", "RU"]
    assert audit_verify()[1] is None


def test_policy_publish_requires_permission(investigator):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        policy_publish(user=investigator, restricted_codes=["CN"])
