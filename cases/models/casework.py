"""Case work: screening cases, their notes and evidence, overrides, exemptions, effective decisions.

Models hold fields, constraints and small properties only. Every state change goes
through ``cases.services`` (cases, overrides, exemptions, effective), which check
permissions, lock rows and write the audit trail.

``Case.status`` is a protected django-fsm-2 ``FSMField``: it can only change
through the transition methods below (``start_review``, ``submit_for_approval``,
``return_to_review``, ``close``, ``reopen``), and those are only called by the
services. The transition methods change the in-memory state; the service saves.
"""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from .choices import Outcome
from .decisions import Decision
from .parties import Entity

OUTCOME_STRICTNESS = {Outcome.ALLOW: 0, Outcome.REVIEW: 1, Outcome.BLOCK: 2}


def outcome_strictness(outcome: str) -> int:
    return OUTCOME_STRICTNESS[Outcome(outcome)]


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_REVIEW = "in_review", _("In review")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    CLOSED = "closed", _("Closed")


class CaseTrigger(models.TextChoices):
    ONBOARDING = "onboarding", _("Onboarding")
    OWNERSHIP_CHANGE = "ownership_change", _("Ownership change")
    PERIODIC = "periodic", _("Periodic re-screen")
    POLICY_CHANGE = "policy_change", _("Policy change")
    EXEMPTION_EXPIRY = "exemption_expiry", _("Exemption expired or ended")
    MANUAL = "manual", _("Manual")
    API = "api", _("API")


class CasePriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


PRIORITY_ORDER = [CasePriority.LOW, CasePriority.NORMAL, CasePriority.HIGH, CasePriority.CRITICAL]

DEFAULT_CASE_SLA_HOURS = {"low": 240, "normal": 120, "high": 48, "critical": 24}


def case_sla_hours(priority: str) -> int:
    configured = getattr(settings, "CASE_SLA_HOURS", None) or {}
    return int(configured.get(priority, DEFAULT_CASE_SLA_HOURS[priority]))


class CaseReferenceCounter(models.Model):
    """One row per year; locked to hand out gapless human references (SC-2026-000123)."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("case reference counter")
        verbose_name_plural = _("case reference counters")

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class Case(FSMModelMixin, models.Model):
    reference = models.CharField(max_length=20, unique=True, editable=False, help_text="e.g. SC-2026-000123")
    subject = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="cases")
    trigger = models.CharField(max_length=20, choices=CaseTrigger.choices)
    priority = models.CharField(max_length=10, choices=CasePriority.choices, default=CasePriority.NORMAL)
    due_at = models.DateTimeField(db_index=True, help_text="SLA deadline (settings.CASE_SLA_HOURS by priority).")
    is_overdue = models.BooleanField(default=False, help_text="Set by the escalation job when due_at passed.")
    escalated_at = models.DateTimeField(null=True, blank=True)
    status = FSMField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN, protected=True, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_cases"
    )
    opened_on_decision = models.ForeignKey(
        Decision,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The decision snapshot the case was (re)opened on.",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(
        max_length=10, choices=Outcome.choices, blank=True, help_text="Final outcome the case was closed with."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("work_case", "Can work screening cases (take, review, notes, evidence, confirm)"),
            ("assign_case", "Can assign screening cases to others"),
            ("reopen_case", "Can reopen closed screening cases"),
        ]
        indexes = [models.Index(fields=["status", "priority", "due_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["subject"], condition=~Q(status="closed"), name="case_one_open_per_subject"
            ),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in CaseStatus]), name="case_status_valid"),
            models.CheckConstraint(condition=~Q(status="closed") | ~Q(outcome=""), name="case_closed_has_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_status_display()})"

    @property
    def is_closed(self) -> bool:
        return self.status == CaseStatus.CLOSED

    # Transitions: state only; the services save, stamp and audit.
    @transition(field=status, source=CaseStatus.OPEN, target=CaseStatus.IN_REVIEW)
    def start_review(self) -> None:
        pass

    @transition(field=status, source=CaseStatus.IN_REVIEW, target=CaseStatus.PENDING_APPROVAL)
    def submit_for_approval(self) -> None:
        pass

    @transition(field=status, source=CaseStatus.PENDING_APPROVAL, target=CaseStatus.IN_REVIEW)
    def return_to_review(self) -> None:
        pass

    @transition(field=status, source=[CaseStatus.IN_REVIEW, CaseStatus.PENDING_APPROVAL], target=CaseStatus.CLOSED)
    def close(self) -> None:
        pass

    @transition(field=status, source=CaseStatus.CLOSED, target=CaseStatus.OPEN)
    def reopen(self) -> None:
        pass


class CaseNote(models.Model):
    """Append-only: a note is never edited or deleted (add another note to correct one)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    is_system = models.BooleanField(default=False, help_text="Written by the system, not a person.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("case note")
        verbose_name_plural = _("case notes")
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="casenote_text_not_blank")]

    def __str__(self) -> str:
        return f"Note on {self.case_id} by {self.author_id or 'system'}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Case notes are append-only.")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Case notes are append-only.")


EVIDENCE_ALLOWED_EXTENSIONS = ("pdf", "png", "jpg", "jpeg", "csv", "txt", "xlsx", "docx")


def evidence_upload_to(instance, filename: str) -> str:
    """A random stored name (the original is kept in ``original_name``); the extension is kept."""
    ext = Path(filename).suffix.lower()
    now = timezone.now()
    return f"evidence/{now:%Y/%m}/{uuid.uuid4().hex}{ext}"


class CaseEvidence(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to=evidence_upload_to, blank=True, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=1000, blank=True, help_text="A link instead of an uploaded file.")
    description = models.TextField(blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("case evidence")
        verbose_name_plural = _("case evidence")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(file="") & ~Q(url="")) | (~Q(file="") & Q(url="")),
                name="caseevidence_file_xor_url",
            )
        ]

    def __str__(self) -> str:
        return self.original_name or self.url


class OverrideStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed (awaiting four-eyes approval)")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    APPLIED = "applied", _("Applied")


class Override(models.Model):
    """A human outcome replacing the automatic one for the decision it was proposed on.

    ``approved_by`` is the second person (a Manager) who approved or rejected a
    proposal; it is never the proposer (service check and DB constraint). An
    override towards a stricter outcome is applied at once and has no approver.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="overrides")
    decision = models.ForeignKey(
        Decision, on_delete=models.PROTECT, related_name="+", help_text="The automatic decision being overridden."
    )
    automatic_outcome = models.CharField(max_length=10, choices=Outcome.choices)
    proposed_outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField()
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=OverrideStatus.choices, default=OverrideStatus.PROPOSED)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="approved/rejected by",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, help_text="The approver's or rejecter's comment.")
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("override")
        verbose_name_plural = _("overrides")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("propose_override", "Can propose an outcome override"),
            ("approve_override", "Can approve or reject an outcome override (four-eyes)"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="override_reason_not_blank"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("proposed_by")),
                name="override_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(proposed_outcome=F("automatic_outcome")), name="override_changes_outcome"
            ),
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="proposed"), name="override_one_pending_per_case"
            ),
        ]

    def __str__(self) -> str:
        return f"Override {self.automatic_outcome}→{self.proposed_outcome} ({self.status})"

    @property
    def is_stricter(self) -> bool:
        return outcome_strictness(self.proposed_outcome) > outcome_strictness(self.automatic_outcome)


class ExemptionStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested (awaiting four-eyes approval)")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked / ended early")


class Exemption(models.Model):
    """While approved and not past ``expires_on``, the entity's effective outcome is allow.

    It ends early (status revoked) when the entity's ownership changes materially:
    a new decision whose outcome or figures differ from ``ownership_fingerprint``.
    """

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="exemptions")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="exemptions", help_text="Requested in."
    )
    reason = models.TextField()
    expires_on = models.DateField(help_text="Last day the exemption applies; at most one year after the request.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=10, choices=ExemptionStatus.choices, default=ExemptionStatus.REQUESTED)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="approved/rejected by",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Decision at approval."
    )
    ownership_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of outcome and figures of the decision at approval."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("exemption")
        verbose_name_plural = _("exemptions")
        ordering = ["-requested_at", "-id"]
        permissions = [
            ("request_exemption", "Can request an exemption"),
            ("approve_exemption", "Can approve, reject or revoke an exemption (four-eyes)"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="exemption_reason_not_blank"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="exemption_four_eyes",
            ),
            models.UniqueConstraint(
                fields=["entity"], condition=Q(status="approved"), name="exemption_one_approved_per_entity"
            ),
        ]

    def __str__(self) -> str:
        return f"Exemption for {self.entity_id} until {self.expires_on} ({self.status})"

    def is_active_on(self, day) -> bool:
        return self.status == ExemptionStatus.APPROVED and self.expires_on >= day


class EffectiveSource(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic decision"
    OVERRIDE = "override", "Approved override"
    EXEMPTION = "exemption", "Active exemption"


class EffectiveDecision(models.Model):
    """What the business acts on: active exemption, else applied override, else the automatic decision."""

    entity = models.OneToOneField(Entity, on_delete=models.CASCADE, primary_key=True, related_name="effective")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    source = models.CharField(max_length=10, choices=EffectiveSource.choices)
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+")
    override = models.ForeignKey(Override, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    exemption = models.ForeignKey(Exemption, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("effective decision")
        verbose_name_plural = _("effective decisions")
        constraints = [
            models.CheckConstraint(
                name="effective_source_consistent",
                condition=Q(source="automatic", override__isnull=True, exemption__isnull=True)
                | Q(source="override", override__isnull=False, exemption__isnull=True)
                | Q(source="exemption", override__isnull=True, exemption__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity_id}: {self.outcome} ({self.source})"
