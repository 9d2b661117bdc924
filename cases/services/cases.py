"""Screening-case workflow services.

Every function is keyword-only, atomic, checks the actor's permission itself,
locks the case row it transitions (``select_for_update``) so two concurrent
clicks cannot both act on the same state, and writes an audit event.

Statuses: open → in_review → pending_approval → closed; closed → open (reopen).
``actor=None`` means the system (``decision_consequences``, scheduled jobs);
it is only accepted where the docstring says so.
"""

import datetime
import hashlib
import io
import re
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from cases.models import (
    Case,
    CaseEvidence,
    CaseMention,
    CaseNote,
    CasePriority,
    CaseReferenceCounter,
    CaseStatus,
    CaseTrigger,
    CurrentDecision,
    Decision,
    Exemption,
    Outcome,
    Override,
)
from cases.models.casework import EVIDENCE_ALLOWED_EXTENSIONS, PRIORITY_ORDER, case_sla_hours
from cases.roles import require_perm

from .approvals import exemption_may_decide, exemption_may_revoke, override_may_decide
from .audit import audit_record
from .effective import effective_recompute


def case_snapshot(case: Case) -> dict:
    return {
        "reference": case.reference,
        "status": case.status,
        "trigger": case.trigger,
        "priority": case.priority,
        "assignee": case.assignee.get_username() if case.assignee_id else None,
        "outcome": case.outcome or None,
        "due_at": case.due_at,
        "is_overdue": case.is_overdue,
        "opened_on_decision": case.opened_on_decision_id,
    }


def _transition(case: Case, name: str) -> None:
    try:
        getattr(case, name)()
    except TransitionNotAllowed as exc:
        raise ValidationError(
            f"Case {case.reference} is {case.get_status_display().lower()}: '{name}' is not allowed now."
        ) from exc


def _lock(case: Case) -> Case:
    """Re-read the case under a row lock; the caller's copy may be stale.

    No ``select_related``: on PostgreSQL a row lock that had to wait re-reads only the locked row,
    so joined columns (the assignee) would come from the pre-wait snapshot, stale or NULL.
    """
    return Case.objects.select_for_update().get(pk=case.pk)


def _next_reference(now: datetime.datetime) -> str:
    year = now.year
    try:
        with transaction.atomic():
            counter, _ = CaseReferenceCounter.objects.select_for_update().get_or_create(year=year)
    except IntegrityError:
        counter = CaseReferenceCounter.objects.select_for_update().get(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"SC-{year}-{counter.last_number:06d}"


def default_priority(outcome: str | None) -> str:
    if outcome == Outcome.BLOCK:
        return CasePriority.HIGH
    return CasePriority.NORMAL


def case_allowed_actions(
    *, case: Case, user, overrides: list[Override] | None = None, exemptions: list[Exemption] | None = None
) -> frozenset[str]:
    """What ``user`` may do to ``case`` now: the buttons the admin shows and ``allowed_actions`` in the API.

    Each entry mirrors the check of the service that performs it (the state machine's source states,
    the assignee rule, permissions, four-eyes in ``approvals``); a service still refuses on its own
    when the state moved on between the page and the click. ``overrides`` and ``exemptions`` may be
    passed when the caller has already read them (the case page), to save the queries.
    """
    if overrides is None:
        overrides = list(case.overrides.all())
    if exemptions is None:
        exemptions = list(Exemption.objects.filter(entity_id=case.subject_id))
    is_open = case.status != CaseStatus.CLOSED
    is_assignee = case.assignee_id is not None and case.assignee_id == user.pk
    may_work = user.has_perm("cases.work_case")
    may_assign = user.has_perm("cases.assign_case")
    in_review_by_me = case.status == CaseStatus.IN_REVIEW and is_assignee
    pending_override = any(override_may_decide(override=o, user=user) for o in overrides)
    deciding_exemption = any(exemption_may_decide(exemption=e, user=user) for e in exemptions)
    rules = {
        "take": may_work and is_open and not is_assignee and (case.assignee_id is None or may_assign),
        "unassign": is_open and case.assignee_id is not None and ((may_work and is_assignee) or may_assign),
        "assign": may_assign and is_open,
        "start": may_work and case.status == CaseStatus.OPEN and (case.assignee_id is None or is_assignee),
        "note": may_work,
        "evidence": may_work,
        "link": may_work,
        "confirm": may_work and in_review_by_me,
        "propose": user.has_perm("cases.propose_override") and in_review_by_me,
        "approve": pending_override and case.status == CaseStatus.PENDING_APPROVAL,
        "reject": pending_override,
        "exemption-request": user.has_perm("cases.request_exemption") and is_open,
        "exemption-approve": deciding_exemption,
        "exemption-reject": deciding_exemption,
        "exemption-revoke": any(exemption_may_revoke(exemption=e, user=user) for e in exemptions),
        "reopen": user.has_perm("cases.reopen_case") and not is_open,
        "rescreen": may_work,
    }
    return frozenset(action for action, allowed in rules.items() if allowed)


def _current_decision(entity) -> Decision | None:
    current = CurrentDecision.objects.filter(entity=entity).select_related("decision").first()
    return current.decision if current else None


def system_note(*, case: Case, text: str) -> CaseNote:
    note = CaseNote(case=case, author=None, text=text, is_system=True)
    note.full_clean(exclude={"author"})  # a system note has no author
    note.save()
    return note


@transaction.atomic
def case_open(*, subject, trigger: str, actor, decision: Decision | None = None, priority: str | None = None) -> Case:
    """Open a case for ``subject``, or return its existing non-closed case (idempotent).

    ``actor=None`` is the system (automatic opening); a user needs ``cases.work_case``.
    ``decision`` defaults to the subject's current decision; ``priority`` defaults to
    high for a block decision, else normal. The partial unique index
    ``case_one_open_per_subject`` makes this safe under concurrency: a racing insert
    fails, and the winner's case is returned.
    """
    if actor is not None:
        require_perm(actor, "work_case", "open a case")
    if trigger not in CaseTrigger.values:
        raise ValidationError({"trigger": f"Unknown case trigger {trigger!r}."})
    existing = Case.objects.filter(subject=subject).exclude(status=CaseStatus.CLOSED).first()
    if existing is not None:
        return existing
    decision = decision or _current_decision(subject)
    priority = priority or default_priority(decision.outcome if decision else None)
    now = timezone.now()
    case = Case(
        subject=subject,
        trigger=trigger,
        priority=priority,
        due_at=now + datetime.timedelta(hours=case_sla_hours(priority)),
        opened_on_decision=decision,
        opened_by=actor,
        created_at=now,
    )
    case.reference = _next_reference(now)
    case.full_clean(exclude={"status"}, validate_constraints=False)  # protected FSM field
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError:
        # Lost a race against another opener (one open case per subject): return theirs.
        existing = Case.objects.filter(subject=subject).exclude(status=CaseStatus.CLOSED).first()
        if existing is None:
            raise
        return existing
    audit_record(actor=actor, action="case.opened", target=case, after=case_snapshot(case), reason=f"trigger={trigger}")
    return case


def _check_assignable(user) -> None:
    if user is None or not user.is_active or not user.has_perm("cases.work_case"):
        raise ValidationError({"assignee": "The assignee must be an active user who may work cases."})


def _set_assignee(*, case: Case, user, actor, action: str) -> Case:
    if case.is_closed:
        raise ValidationError(f"Case {case.reference} is closed; reopen it before assigning.")
    before = case_snapshot(case)
    case.assignee = user
    case.full_clean(exclude={"status"}, validate_constraints=False)  # protected FSM field
    case.save()
    audit_record(actor=actor, action=action, target=case, before=before, after=case_snapshot(case))
    return case


@transaction.atomic
def case_assign(*, case: Case, user, actor) -> Case:
    """Assign to ``user`` (needs ``cases.assign_case``; the assignee needs ``cases.work_case``)."""
    require_perm(actor, "assign_case", "assign cases")
    _check_assignable(user)
    case = _lock(case)
    return _set_assignee(case=case, user=user, actor=actor, action="case.assigned")


@transaction.atomic
def case_assign_to_me(*, case: Case, actor) -> Case:
    """Take an unassigned case (``cases.work_case``). Taking someone else's case needs ``assign_case``."""
    require_perm(actor, "work_case", "take a case")
    case = _lock(case)
    if case.assignee_id and case.assignee_id != actor.pk and not actor.has_perm("cases.assign_case"):
        raise PermissionDenied(f"Case {case.reference} is assigned to {case.assignee.get_username()}.")
    return _set_assignee(case=case, user=actor, actor=actor, action="case.assigned")


@transaction.atomic
def case_unassign(*, case: Case, actor) -> Case:
    """Release a case: its assignee (``work_case``) or a user with ``assign_case``."""
    require_perm(actor, "work_case", "unassign a case")
    case = _lock(case)
    if case.assignee_id != actor.pk and not actor.has_perm("cases.assign_case"):
        raise PermissionDenied("Only the assignee or a user who may assign cases can unassign it.")
    return _set_assignee(case=case, user=None, actor=actor, action="case.unassigned")


def _require_assignee(case: Case, actor, what: str) -> None:
    if case.assignee_id != actor.pk:
        raise PermissionDenied(f"Only the case's assignee may {what}; assign the case to yourself first.")


@transaction.atomic
def case_start_review(*, case: Case, actor) -> Case:
    """open → in_review. An unassigned case is assigned to the actor; otherwise only its assignee may start."""
    require_perm(actor, "work_case", "start a review")
    case = _lock(case)
    before = case_snapshot(case)
    if case.assignee_id is None:
        case.assignee = actor
    _require_assignee(case, actor, "start its review")
    _transition(case, "start_review")
    case.save()
    audit_record(actor=actor, action="case.review_started", target=case, before=before, after=case_snapshot(case))
    return case


MENTION = re.compile(r"(?<![\w@.])@([\w.+-]+)")


def mentioned_users(text: str) -> list:
    """The active users named as ``@username`` in ``text`` who may see the case (unknown names are ignored:
    a note about an e-mail address or a handle elsewhere must not fail)."""
    names = {name.rstrip(".") for name in MENTION.findall(text)}
    if not names:
        return []
    users = get_user_model().objects.filter(username__in=names, is_active=True).order_by("username")
    return [user for user in users if user.has_perm("cases.view_case")]


@transaction.atomic
def case_add_note(*, case: Case, text: str, actor) -> CaseNote:
    """Append a note (``cases.work_case``); allowed in every status, notes are never edited.

    ``@username`` mentions notify those users: each gets an unread mention on their home page.
    """
    require_perm(actor, "work_case", "add notes")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "A note cannot be blank."})
    case = _lock(case)
    note = CaseNote(case=case, author=actor, text=text)
    note.full_clean()
    note.save()
    mentioned = [user for user in mentioned_users(text) if user.pk != actor.pk]
    CaseMention.objects.bulk_create([CaseMention(note=note, case=case, user=user) for user in mentioned])
    after = {"note_id": note.pk, "text": text}
    if mentioned:
        after["mentions"] = [user.get_username() for user in mentioned]
    audit_record(actor=actor, action="case.note_added", target=case, after=after)
    return note


# Magic numbers for content sniffing: the extension must agree with the bytes.
_SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
}
_OOXML_MARKERS = {"xlsx": "xl/workbook.xml", "docx": "word/document.xml"}
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"PK\x03\x04", b"MZ", b"\x7fELF", b"GIF8")
_CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "csv": "text/csv",
    "txt": "text/plain",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def evidence_sniff(*, name: str, content: bytes) -> str:
    """Return the content type if the extension is allowed and the bytes match it; else raise ValidationError."""
    ext = Path(name or "").suffix.lower().lstrip(".")
    if ext not in EVIDENCE_ALLOWED_EXTENSIONS:
        allowed = ", ".join(EVIDENCE_ALLOWED_EXTENSIONS)
        raise ValidationError({"file": f"File type .{ext or '?'} is not allowed (allowed: {allowed})."})
    mismatch = ValidationError({"file": f"The file's content does not match its .{ext} extension."})
    if ext in _SIGNATURES:
        if not content.startswith(_SIGNATURES[ext]):
            raise mismatch
    elif ext in _OOXML_MARKERS:
        if not content.startswith(b"PK\x03\x04"):
            raise mismatch
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise mismatch from exc
        if "[Content_Types].xml" not in names or _OOXML_MARKERS[ext] not in names:
            raise mismatch
    else:  # csv, txt: must be text
        if b"\x00" in content or content.startswith(_BINARY_MAGIC):
            raise mismatch
        try:
            content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError({"file": f"A .{ext} file must be UTF-8 text."}) from exc
    return _CONTENT_TYPES[ext]


@transaction.atomic
def case_attach_evidence(*, case: Case, file, actor, description: str = "") -> CaseEvidence:
    """Attach an uploaded file (``cases.work_case``): size ≤ settings.EVIDENCE_MAX_BYTES, allowed type
    by extension AND content; stored under a random name, original name and SHA-256 kept."""
    require_perm(actor, "work_case", "attach evidence")
    max_bytes = int(getattr(settings, "EVIDENCE_MAX_BYTES", 10 * 1024 * 1024))
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise ValidationError({"file": f"The file is larger than the limit of {max_bytes} bytes."})
    file.seek(0)
    content = file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise ValidationError({"file": f"The file is larger than the limit of {max_bytes} bytes."})
    if not content:
        raise ValidationError({"file": "The file is empty."})
    original_name = Path(getattr(file, "name", "") or "").name
    content_type = evidence_sniff(name=original_name, content=content)
    case = _lock(case)
    file.seek(0)
    evidence = CaseEvidence(
        case=case,
        original_name=original_name[:255],
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        description=description,
        added_by=actor,
    )
    evidence.file.save(original_name, file, save=False)
    evidence.full_clean()
    evidence.save()
    audit_record(
        actor=actor,
        action="case.evidence_added",
        target=case,
        after={"evidence_id": evidence.pk, "name": original_name, "sha256": evidence.sha256, "size": len(content)},
    )
    return evidence


@transaction.atomic
def case_add_link(*, case: Case, url: str, actor, description: str = "") -> CaseEvidence:
    """Attach a link as evidence (``cases.work_case``); http(s) only."""
    require_perm(actor, "work_case", "add links")
    url = (url or "").strip()
    URLValidator(schemes=["http", "https"])(url)
    case = _lock(case)
    evidence = CaseEvidence(case=case, url=url, description=description, added_by=actor)
    evidence.full_clean()
    evidence.save()
    audit_record(actor=actor, action="case.link_added", target=case, after={"evidence_id": evidence.pk, "url": url})
    return evidence


def close_case(*, case: Case, outcome: str, actor, action: str, reason: str = "") -> Case:
    """Internal: close a locked case with ``outcome``; callers check permissions."""
    before = case_snapshot(case)
    _transition(case, "close")
    case.outcome = outcome
    case.decided_by = actor
    case.decided_at = timezone.now()
    case.full_clean(exclude={"status"}, validate_constraints=False)  # protected FSM field
    case.save()
    audit_record(actor=actor, action=action, target=case, before=before, after=case_snapshot(case), reason=reason)
    return case


@transaction.atomic
def case_confirm_outcome(*, case: Case, actor, reason: str = "") -> Case:
    """in_review → closed with the automatic outcome of the subject's current decision (assignee only)."""
    require_perm(actor, "work_case", "confirm an outcome")
    case = _lock(case)
    if case.status != CaseStatus.IN_REVIEW:
        raise ValidationError(f"Case {case.reference} must be in review to confirm its outcome.")
    _require_assignee(case, actor, "confirm its outcome")
    decision = _current_decision(case.subject)
    if decision is None:
        raise ValidationError("The subject has no screening decision to confirm.")
    close_case(case=case, outcome=decision.outcome, actor=actor, action="case.outcome_confirmed", reason=reason)
    effective_recompute(entity=case.subject, actor=actor, reason=f"case {case.reference} confirmed")
    return case


def reopen_locked_case(
    *, case: Case, actor, reason: str, decision: Decision | None = None, trigger: str | None = None
) -> Case:
    """Internal: closed → open on a locked case; callers check permissions."""
    before = case_snapshot(case)
    _transition(case, "reopen")
    if trigger:
        case.trigger = trigger
    now = timezone.now()
    case.assignee = None
    case.outcome = ""
    case.decided_by = None
    case.decided_at = None
    case.is_overdue = False
    case.escalated_at = None
    case.reopen_count += 1
    case.opened_on_decision = decision or _current_decision(case.subject) or case.opened_on_decision
    case.due_at = now + datetime.timedelta(hours=case_sla_hours(case.priority))
    case.full_clean(exclude={"status"}, validate_constraints=False)  # protected FSM field
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError as exc:
        raise ValidationError(f"{case.subject} already has an open case; it cannot have two.") from exc
    audit_record(
        actor=actor, action="case.reopened", target=case, before=before, after=case_snapshot(case), reason=reason
    )
    return case


@transaction.atomic
def case_reopen(*, case: Case, actor, reason: str) -> Case:
    """closed → open (``cases.reopen_case``); a reason is mandatory."""
    require_perm(actor, "reopen_case", "reopen cases")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required to reopen a case."})
    case = _lock(case)
    return reopen_locked_case(case=case, actor=actor, reason=reason)


def case_reopen_or_open(*, subject, trigger: str, reason: str, decision: Decision | None = None) -> Case:
    """System: the subject's open case if any; else reopen its latest closed case; else open a new one."""
    existing = Case.objects.select_for_update().filter(subject=subject).exclude(status=CaseStatus.CLOSED).first()
    if existing is not None:
        system_note(case=existing, text=reason)
        return existing
    latest = Case.objects.select_for_update().filter(subject=subject).order_by("-created_at", "-id").first()
    if latest is not None:
        case = reopen_locked_case(case=latest, actor=None, reason=reason, decision=decision, trigger=trigger)
        system_note(case=case, text=reason)
        return case
    case = case_open(subject=subject, trigger=trigger, actor=None, decision=decision)
    system_note(case=case, text=reason)
    return case


@transaction.atomic
def cases_escalate_overdue(*, now: datetime.datetime | None = None) -> list[Case]:
    """System job: flag non-closed cases past due_at as overdue and raise their priority one level (once)."""
    now = now or timezone.now()
    escalated = []
    overdue = (
        Case.objects.select_for_update().filter(due_at__lt=now, is_overdue=False).exclude(status=CaseStatus.CLOSED)
    )
    for case in overdue:
        before = case_snapshot(case)
        index = PRIORITY_ORDER.index(CasePriority(case.priority))
        case.priority = PRIORITY_ORDER[min(index + 1, len(PRIORITY_ORDER) - 1)]
        case.is_overdue = True
        case.escalated_at = now
        case.save()
        audit_record(actor=None, action="case.escalated", target=case, before=before, after=case_snapshot(case))
        escalated.append(case)
    return escalated
