"""Case opening, assignment, FSM transitions, notes, evidence and escalation."""

import datetime
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from cases.models import AuditEvent, Case, CaseNote, CasePriority, CaseStatus, CaseTrigger, EffectiveDecision
from cases.services.cases import (
    case_add_link,
    case_add_note,
    case_assign,
    case_assign_to_me,
    case_attach_evidence,
    case_confirm_outcome,
    case_open,
    case_reopen,
    case_start_review,
    case_unassign,
    cases_escalate_overdue,
)
from tests.factories import CustomerFactory, EntityFactory

from .conftest import decide

pytestmark = pytest.mark.django_db


def open_case(entity, outcome="review"):
    decide(entity, outcome)
    return Case.objects.get(subject=entity, status=CaseStatus.OPEN)


# --- automatic opening by decision_consequences ---------------------------------------------


@pytest.mark.parametrize("outcome", ["review", "block"])
def test_customer_review_or_block_opens_a_case(entity, outcome):
    decision = decide(entity, outcome, trigger="onboarding")
    case = Case.objects.get(subject=entity)
    assert case.status == CaseStatus.OPEN
    assert case.trigger == CaseTrigger.ONBOARDING
    assert case.opened_on_decision == decision
    assert case.reference.startswith(f"SC-{timezone.now().year}-")
    assert case.priority == (CasePriority.HIGH if outcome == "block" else CasePriority.NORMAL)
    assert EffectiveDecision.objects.get(entity=entity).outcome == outcome
    assert AuditEvent.objects.filter(action="decision.changed", target_id=str(entity.pk)).exists()


def test_first_allow_opens_no_case_but_outcome_change_does(entity):
    decide(entity, "allow")
    assert not Case.objects.filter(subject=entity).exists()
    decide(entity, "block", trigger="ownership_change")
    case = Case.objects.get(subject=entity)
    case.start_review()  # in-memory only, to close it the proper way below
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLOSED, outcome="block")
    decide(entity, "allow", trigger="ownership_change")  # block → allow is an outcome change
    assert Case.objects.filter(subject=entity).exclude(status=CaseStatus.CLOSED).count() == 1


def test_non_customer_and_inactive_customer_get_no_case(non_customer_entity):
    decide(non_customer_entity, "block")
    inactive = CustomerFactory(is_active=False)
    decide(inactive.entity, "block")
    assert not Case.objects.exists()


def test_case_open_is_idempotent(entity, investigator):
    first = open_case(entity)
    again = case_open(subject=entity, trigger=CaseTrigger.MANUAL, actor=investigator)
    assert again.pk == first.pk
    decide(entity, "block")  # another decision while open: same case, a system note
    assert Case.objects.filter(subject=entity).count() == 1
    assert CaseNote.objects.filter(case=first, is_system=True).exists()


def test_one_open_case_per_subject_db_constraint(entity):
    case = open_case(entity)
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(
            reference="SC-2099-000001", subject=entity, trigger="manual", due_at=case.due_at, opened_on_decision=None
        )


def test_sla_due_at_from_settings(entity, settings, investigator):
    settings.CASE_SLA_HOURS = {"low": 1, "normal": 2, "high": 3, "critical": 4}
    before = timezone.now()
    case = case_open(subject=EntityFactory(), trigger="manual", actor=investigator, priority="critical")
    assert before + datetime.timedelta(hours=4) <= case.due_at <= timezone.now() + datetime.timedelta(hours=4)


def test_references_are_unique_and_sequential(investigator):
    refs = [case_open(subject=EntityFactory(), trigger="manual", actor=investigator).reference for _ in range(3)]
    numbers = [int(r.rsplit("-", 1)[1]) for r in refs]
    assert numbers == sorted(numbers) and len(set(refs)) == 3


# --- FSM -------------------------------------------------------------------------------------------


def test_status_field_is_protected(entity):
    case = open_case(entity)
    with pytest.raises(AttributeError):
        case.status = CaseStatus.CLOSED


VALID = [
    ("open", "start_review", "in_review"),
    ("in_review", "submit_for_approval", "pending_approval"),
    ("pending_approval", "return_to_review", "in_review"),
    ("in_review", "close", "closed"),
    ("pending_approval", "close", "closed"),
    ("closed", "reopen", "open"),
]
ALL_TRANSITIONS = ["start_review", "submit_for_approval", "return_to_review", "close", "reopen"]
INVALID = [
    (source, name)
    for source in ["open", "in_review", "pending_approval", "closed"]
    for name in ALL_TRANSITIONS
    if (source, name) not in {(s, n) for s, n, _ in VALID}
]


@pytest.mark.parametrize(("source", "name", "target"), VALID)
def test_valid_transitions(source, name, target):
    case = Case(status=source)
    getattr(case, name)()
    assert case.status == target


@pytest.mark.parametrize(("source", "name"), INVALID)
def test_invalid_transitions(source, name):
    case = Case(status=source)
    with pytest.raises(TransitionNotAllowed):
        getattr(case, name)()


def test_service_flow_open_review_confirm_reopen(entity, investigator, manager):
    case = open_case(entity, "block")
    with pytest.raises(ValidationError):
        case_confirm_outcome(case=case, actor=investigator)  # not in review (and not assigned)
    case = case_start_review(case=case, actor=investigator)
    assert case.status == CaseStatus.IN_REVIEW and case.assignee == investigator
    with pytest.raises(ValidationError):
        case_start_review(case=case, actor=investigator)  # already in review
    case = case_confirm_outcome(case=case, actor=investigator)
    assert case.status == CaseStatus.CLOSED and case.outcome == "block" and case.decided_by == investigator
    with pytest.raises(ValidationError):
        case_assign_to_me(case=case, actor=investigator)  # closed
    with pytest.raises(PermissionDenied):
        case_reopen(case=case, actor=investigator, reason="new facts")  # needs reopen_case
    with pytest.raises(ValidationError):
        case_reopen(case=case, actor=manager, reason=" ")
    case = case_reopen(case=case, actor=manager, reason="new facts")
    assert case.status == CaseStatus.OPEN and case.reopen_count == 1 and case.outcome == "" and case.assignee is None
    actions = list(
        AuditEvent.objects.filter(target_type="cases.case", target_id=str(case.pk)).values_list("action", flat=True)
    )
    assert actions == ["case.opened", "case.review_started", "case.outcome_confirmed", "case.reopened"]


def test_only_assignee_works_the_case(entity, investigator, investigator2, manager):
    case = open_case(entity)
    case_assign_to_me(case=case, actor=investigator)
    with pytest.raises(PermissionDenied):
        case_assign_to_me(case=case, actor=investigator2)
    with pytest.raises(PermissionDenied):
        case_start_review(case=case, actor=investigator2)
    with pytest.raises(PermissionDenied):
        case_unassign(case=case, actor=investigator2)
    with pytest.raises(PermissionDenied):
        case_assign(case=case, user=investigator2, actor=investigator)  # assigning others needs assign_case
    case = case_assign(case=case, user=investigator2, actor=manager)
    assert case.assignee == investigator2
    case = case_unassign(case=case, actor=investigator2)
    assert case.assignee is None


def test_cannot_assign_to_user_who_cannot_work_cases(entity, manager, auditor):
    case = open_case(entity)
    with pytest.raises(ValidationError):
        case_assign(case=case, user=auditor, actor=manager)


# --- notes and evidence --------------------------------------------------------------------------


def test_notes_are_append_only(entity, investigator, auditor):
    case = open_case(entity)
    note = case_add_note(case=case, text="Called the customer.", actor=investigator)
    with pytest.raises(ValidationError):
        case_add_note(case=case, text="   ", actor=investigator)
    with pytest.raises(PermissionDenied):
        case_add_note(case=case, text="hi", actor=auditor)
    note.text = "changed"
    with pytest.raises(PermissionError):
        note.save()
    with pytest.raises(PermissionError):
        note.delete()


PDF = b"%PDF-1.4\n%test\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def _docx_bytes(marker="word/document.xml"):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(marker, "<x/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("report.pdf", PDF),
        ("scan.png", PNG),
        ("photo.JPG", b"\xff\xd8\xff\xe0rest"),
        ("list.csv", b"a,b\n1,2\n"),
        ("memo.txt", "caf\u00e9".encode()),
        ("letter.docx", _docx_bytes()),
        ("sheet.xlsx", _docx_bytes("xl/workbook.xml")),
    ],
)
def test_evidence_allowed(entity, investigator, settings, tmp_path, name, content):
    settings.MEDIA_ROOT = tmp_path
    case = open_case(entity)
    evidence = case_attach_evidence(case=case, file=SimpleUploadedFile(name, content), actor=investigator)
    assert evidence.original_name == name
    assert name.rsplit(".", 1)[0] not in evidence.file.name  # stored under a random name
    assert evidence.size == len(content) and len(evidence.sha256) == 64


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("evil.exe", b"MZ...."),
        ("fake.pdf", b"MZ not a pdf"),
        ("fake.png", PDF),
        ("binary.txt", b"\x00\x01\x02"),
        ("zip.txt", b"PK\x03\x04abc"),
        ("sheet.xlsx", _docx_bytes()),  # a docx renamed to xlsx
        ("noext", b"hello"),
        ("empty.txt", b""),
    ],
)
def test_evidence_rejected(entity, investigator, settings, tmp_path, name, content):
    settings.MEDIA_ROOT = tmp_path
    case = open_case(entity)
    with pytest.raises(ValidationError):
        case_attach_evidence(case=case, file=SimpleUploadedFile(name, content), actor=investigator)


def test_evidence_size_limit(entity, investigator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EVIDENCE_MAX_BYTES = 10
    case = open_case(entity)
    with pytest.raises(ValidationError, match="larger"):
        case_attach_evidence(case=case, file=SimpleUploadedFile("a.txt", b"x" * 11), actor=investigator)


def test_links(entity, investigator):
    case = open_case(entity)
    link = case_add_link(case=case, url="https://registry.example/company/1", actor=investigator)
    assert link.url.startswith("https://")
    with pytest.raises(ValidationError):
        case_add_link(case=case, url="javascript:alert(1)", actor=investigator)


# --- escalation ----------------------------------------------------------------------------------


def test_escalate_overdue(entity):
    case = open_case(entity, "review")
    assert cases_escalate_overdue(now=case.due_at - datetime.timedelta(minutes=1)) == []
    escalated = cases_escalate_overdue(now=case.due_at + datetime.timedelta(minutes=1))
    assert [c.pk for c in escalated] == [case.pk]
    case.refresh_from_db()
    assert case.is_overdue and case.priority == CasePriority.HIGH
    assert cases_escalate_overdue(now=case.due_at + datetime.timedelta(days=1)) == []  # once


# --- concurrency (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_case_open_race_yields_one_case():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    from django.db import connections

    subject = EntityFactory()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(case_open(subject=subject, trigger="manual", actor=None).pk)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert Case.objects.filter(subject=subject).count() == 1
