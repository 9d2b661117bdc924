"""The keyed, anchored audit chain against an attacker with database access (issue 13, docs/security.md T14).

Each attack is done as a DBA would: triggers dropped, rows rewritten with raw SQL, hashes recomputed with
the public canonical JSON and SHA-256, the chain head moved. Each must be named by ``verify_audit``.
"""

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from cases.audit_keys import AuditKeyError, parse_hmac_keys
from cases.models import AuditChainHead, AuditEvent
from cases.services.audit import audit_event_payload, audit_record
from cases.services.audit_anchor import AuditAnchorError, audit_checkpoint_write, load_checkpoints
from cases.services.audit_verify import audit_verification, audit_verify

from .test_audit import drop_triggers, three_events

pytestmark = pytest.mark.django_db


def public_sha256(payload: dict) -> str:
    """What the issue's attacker computes: the documented canonical JSON, hashed with SHA-256 (no key)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rewrite_from(seq: int, *, key_id: str | None = None, **changes) -> None:
    """Edit row ``seq`` and recompute prev_hash/hash of it and every later row publicly; move the head."""
    drop_triggers()
    prev_hash = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    with connection.cursor() as cursor:
        for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
            if event.seq == seq:
                for field, value in changes.items():
                    setattr(event, field, value)
            if key_id is not None:
                event.key_id = key_id
            event.prev_hash = prev_hash
            event.hash = public_sha256(audit_event_payload(event))
            cursor.execute(
                "UPDATE cases_auditevent SET actor_label=%s, reason=%s, prev_hash=%s, hash=%s, key_id=%s WHERE id=%s",
                [event.actor_label, event.reason, event.prev_hash, event.hash, event.key_id, event.pk],
            )
            prev_hash = event.hash
        cursor.execute("UPDATE cases_auditchainhead SET last_hash=%s WHERE id=1", [prev_hash])


def delete_tail(count: int) -> None:
    drop_triggers()
    last = AuditEvent.objects.order_by("-seq").first().seq
    keep = AuditEvent.objects.get(seq=last - count)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cases_auditevent WHERE seq > %s", [keep.seq])
        cursor.execute("UPDATE cases_auditchainhead SET last_seq=%s, last_hash=%s WHERE id=1", [keep.seq, keep.hash])


def broken():
    result = audit_verification()
    assert result.broken is not None, "the attack went undetected"
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("verify_audit")
    return result.broken


def test_new_rows_are_keyed_with_the_current_key(investigator):
    events = three_events(investigator)
    assert {event.key_id for event in events} == {"test1"}
    assert events[0].hash != public_sha256(audit_event_payload(events[0]))  # not recomputable without the key
    assert audit_verify() == (3, None)


def test_full_rewrite_with_public_hashes_and_trigger_dropped_is_detected(investigator):
    """The issue's attack: edit actor and reason, recompute every later row with public SHA-256, fix the head."""
    three_events(investigator)
    rewrite_from(2, actor_label="someone-else", reason="approved by phone")
    problem = broken()
    assert problem.seq == 2 and "re-hashed without the key" in problem.problem


def test_rewrite_relabelled_as_legacy_is_detected(investigator):
    """Marking rewritten rows 'legacy' (public SHA-256) is refused once keyed rows precede them."""
    three_events(investigator)
    rewrite_from(2, key_id="legacy", reason="forged")
    problem = broken()
    assert problem.seq == 2 and "legacy" in problem.problem


def test_whole_chain_relabelled_as_legacy_is_detected_by_a_checkpoint(investigator):
    three_events(investigator)
    audit_checkpoint_write()
    rewrite_from(1, key_id="legacy", reason="forged")
    problem = broken()
    assert problem.seq == 1 and "legacy" in problem.problem


def test_tail_deletion_with_head_lowered_is_detected_by_the_checkpoint(investigator):
    three_events(investigator)
    checkpoint = audit_checkpoint_write()
    delete_tail(1)
    assert audit_verification().rows == 2  # rows and head alone agree: only the anchor can tell
    problem = broken()
    assert problem.checkpoint == checkpoint.name and "ends at #2" in problem.problem


def test_rollback_to_an_older_state_that_then_continued_is_detected(investigator):
    """A backup restored and written to since: the checkpointed row number exists again, with other content."""
    three_events(investigator)
    audit_checkpoint_write()
    delete_tail(1)
    audit_record(actor=investigator, action="test.after-restore", target=("test", 9, "x"))
    problem = broken()
    assert problem.seq == 3 and "checkpoint" in problem.problem


def test_checkpoint_files_are_signed_write_once_and_verified(investigator, settings):
    three_events(investigator)
    first = audit_checkpoint_write()
    assert audit_checkpoint_write() is None  # nothing new: no file
    audit_record(actor=investigator, action="test.more", target=("test", 4, "x"))
    second = audit_checkpoint_write()
    files = sorted(Path(settings.AUDIT_CHECKPOINT_DIR).glob("*.json"))
    assert [path.name for path in files] == [first.name, second.name]
    assert not files[0].stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    data = json.loads(files[1].read_text())
    assert data["seq"] == 4 and data["head_hash"] == AuditEvent.objects.get(seq=4).hash
    assert data["head_key_id"] == "test1" and data["signing_key"].startswith("ed25519:")
    result = audit_verification()
    assert result.ok and result.checkpoints == 2 and result.latest_checkpoint.name == second.name


def test_forged_checkpoint_is_named(investigator, settings):
    three_events(investigator)
    checkpoint = audit_checkpoint_write()
    path = Path(settings.AUDIT_CHECKPOINT_DIR) / checkpoint.name
    data = json.loads(path.read_text())
    data["seq"] = 2  # an attacker who can write the store, but has not the signing key
    os.chmod(path, 0o644)
    path.write_text(json.dumps(data))
    problem = broken()
    assert problem.checkpoint == checkpoint.name and "signature" in problem.problem
    assert load_checkpoints()[1][0][0] == checkpoint.name


def test_checkpoint_refuses_to_sign_a_broken_chain(investigator):
    three_events(investigator)
    audit_checkpoint_write()
    audit_record(actor=investigator, action="test.more", target=("test", 4, "x"))
    rewrite_from(4, reason="forged")
    with pytest.raises(AuditAnchorError, match="row #4"):
        audit_checkpoint_write()


def test_key_rotation_keeps_old_rows_verifying(investigator, settings):
    three_events(investigator)
    settings.AUDIT_HMAC_KEYS = "test1:test-only-audit-key-0123456789abcdef0123456789,k2:" + "r" * 40
    settings.AUDIT_HMAC_KEY_ID = "k2"
    event = audit_record(actor=investigator, action="test.rotated", target=("test", 4, "x"))
    assert event.key_id == "k2"
    assert audit_verify() == (4, None)
    settings.AUDIT_HMAC_KEYS = "k2:" + "r" * 40  # the old key dropped: its rows no longer verify
    problem = broken()
    assert problem.seq == 1 and "unknown key id 'test1'" in problem.problem


def test_legacy_rows_verify_and_the_keyed_chain_continues_from_them(investigator):
    """Rows from before migration 0008 keep their public SHA-256 (key_id 'legacy'); new rows chain onto them."""
    three_events(investigator)
    rewrite_from(1, key_id="legacy")  # what 0008 leaves: the same rows, hashed as before it
    event = audit_record(actor=investigator, action="test.keyed", target=("test", 4, "x"))
    assert event.prev_hash == AuditEvent.objects.get(seq=3).hash and event.key_id == "test1"
    result = audit_verification()
    assert result.ok and (result.legacy_rows, result.keyed_rows) == (3, 1)
    checkpoint = audit_checkpoint_write()
    assert checkpoint.legacy_through == 3
    assert audit_verification().ok


def test_verify_audit_json(investigator, capsys):
    three_events(investigator)
    audit_checkpoint_write()
    call_command("verify_audit", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["rows_verified"] == 3 and report["broken"] is None
    assert report["latest_checkpoint"]["seq"] == 3 and report["rows_since_checkpoint"] == 0
    delete_tail(1)
    with pytest.raises(CommandError):
        call_command("verify_audit", "--json")
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["broken"]["checkpoint"] == report["latest_checkpoint"]["file"]


def test_missing_key_fails_before_writing(investigator, settings):
    settings.AUDIT_HMAC_KEYS = ""
    with pytest.raises(AuditKeyError, match="AUDIT_HMAC_KEYS"):
        audit_record(actor=investigator, action="test.x", target=("test", 1, "x"))
    assert not AuditEvent.objects.exists() and AuditChainHead.objects.get(id=1).last_seq == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [("k1:short", "at least 32"), ("legacy:" + "x" * 32, "not a valid key id"), ("nocolon", "not a valid key id")],
)
def test_malformed_keys_are_refused_clearly(text, message):
    with pytest.raises(AuditKeyError, match=message):
        parse_hmac_keys(text)


def test_scheduler_runs_the_checkpoint_job(investigator):
    from cases.tasks.periodic import JOBS, audit_checkpoint

    assert "audit_checkpoint" in {job.name for job in JOBS}
    three_events(investigator)
    assert audit_checkpoint.call()["checkpoint"].startswith("000000000003-")
