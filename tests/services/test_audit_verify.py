"""Verifying the chain in spans (parallel processes for large chains) gives exactly one walk's answer.

Each attack of ``test_audit_anchor`` is repeated with spans of 1-3 rows, so that the edited, deleted or
relabelled row falls at a span's start, middle and end; the first break must be the same row with the
same words, and the counts the same, as verifying in one walk.
"""

import hmac

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from cases.models import AuditEvent
from cases.services.audit import _KeyedHasher, audit_record
from cases.services.audit_anchor import audit_checkpoint_write
from cases.services.audit_spans import chain_walk_spans
from cases.services.audit_verify import audit_verification

from .test_audit import drop_triggers
from .test_audit_anchor import delete_tail, rewrite_from

pytestmark = pytest.mark.django_db


@given(key=st.binary(min_size=1, max_size=200), message=st.binary(max_size=2000))
def test_keyed_hasher_is_hmac_sha256(key, message):
    assert _KeyedHasher(key).hexdigest(message) == hmac.digest(key, message, "sha256").hex()


def seven_events(user):
    return [
        audit_record(actor=user, action=f"a{i}", target=("t", i), after={"n": i, "z": {"b": 1, "a": [i]}})
        for i in range(7)
    ]


def summary(result):
    return result.rows, result.keyed_rows, result.last_seq, result.last_hash, result.broken


def assert_spans_agree(expect_broken: bool):
    whole = audit_verification()
    assert (whole.broken is not None) == expect_broken
    for span in (1, 2, 3, 7, 50):
        assert summary(audit_verification(workers=1, span=span)) == summary(whole), f"span {span}"
        assert summary(audit_verification(workers=2, span=span)) == summary(whole), f"span {span}, 2 workers"


def test_intact_chain(investigator):
    seven_events(investigator)
    assert_spans_agree(expect_broken=False)
    assert audit_verification(workers=1, span=2).rows == 7


@pytest.mark.parametrize("seq", [1, 2, 3, 4, 7])
def test_edited_row(investigator, seq):
    seven_events(investigator)
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cases_auditevent SET reason='edited' WHERE seq=%s", [seq])
    assert_spans_agree(expect_broken=True)


@pytest.mark.parametrize("seq", [1, 3, 4, 6])
def test_deleted_row(investigator, seq):
    seven_events(investigator)
    drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cases_auditevent WHERE seq=%s", [seq])
    assert_spans_agree(expect_broken=True)


@pytest.mark.parametrize("seq", [2, 4, 5])
def test_public_rewrite_and_legacy_relabelling(investigator, seq):
    seven_events(investigator)
    rewrite_from(seq, reason="rewritten")
    assert_spans_agree(expect_broken=True)
    rewrite_from(seq, key_id="legacy", reason="relabelled")
    assert_spans_agree(expect_broken=True)


def test_tail_deleted_after_a_checkpoint(investigator):
    seven_events(investigator)
    audit_checkpoint_write()
    delete_tail(2)
    assert_spans_agree(expect_broken=True)


def test_checkpointed_row_rewritten(investigator):
    seven_events(investigator)
    audit_checkpoint_write()
    rewrite_from(5, reason="rewritten")
    assert AuditEvent.objects.count() == 7
    assert_spans_agree(expect_broken=True)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_worker_processes_on_committed_rows(investigator):
    """Committed rows another connection can read: the spans are walked by forked worker processes. (A break in
    a span is walked again in this process, as the tests above do; editing here would need the triggers dropped
    in a database that outlives the test.)"""
    if connection.vendor != "postgresql":
        pytest.skip("the test database is in memory on SQLite: no other process can read it")
    seven_events(investigator)
    whole = audit_verification()
    assert whole.ok and whole.rows == 7
    for span in (1, 3):
        assert summary(audit_verification(workers=2, span=span)) == summary(whole)


@pytest.mark.parametrize("edited", [None, 4, 5, 7])
def test_spans_from_a_checkpoint(investigator, edited):
    """What a checkpoint verifies before signing: the rows after the previous checkpoint, here after #3."""
    events = seven_events(investigator)
    if edited is not None:
        drop_triggers()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE cases_auditevent SET reason='edited' WHERE seq=%s", [edited])
    whole = chain_walk_spans(after_seq=3, after_hash=events[2].hash)
    assert whole.rows == (4 if edited is None else edited - 4)
    assert (whole.broken.seq if whole.broken else None) == edited
    for span in (1, 2, 3):
        assert chain_walk_spans(after_seq=3, after_hash=events[2].hash, workers=1, span=span) == whole
