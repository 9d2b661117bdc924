"""Case management: the work queue, the case page and its actions, overrides, exemptions, effective decisions.

Every state change calls a service in ``cases.services`` (which checks permissions, locks rows and
audits); the admin only decides which buttons to show. A POST without the permission, or against
four-eyes, comes back as an error message on the case page — never a 500.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from cases.models import (
    AuditEvent,
    Case,
    CaseStatus,
    EffectiveDecision,
    Exemption,
    Outcome,
    Override,
    OverrideStatus,
)
from cases.services import cases as case_services
from cases.services import exemptions as exemption_services
from cases.services import overrides as override_services
from cases.services.screening import screen_entities

from .parties import entity_screening_context
from .site import ADMIN_MEDIA_CSS, ReadOnlyAdmin, call_service, error_messages, outcome_badge

#: What an evidence download may be served as: the upload allow-list's types (never text/html).
EVIDENCE_CONTENT_TYPES = frozenset(case_services._CONTENT_TYPES.values())

# ------------------------------------------------------------------ helpers


def users_who_work_cases():
    users = get_user_model()
    return (
        users.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="work_case")
            | Q(user_permissions__codename="work_case")
        )
        .distinct()
        .order_by("username")
    )


def pending_approval_for(user):
    """Cases waiting for a four-eyes decision this user may take (not their own proposals)."""
    if not user.has_perm("cases.approve_override"):
        return Q(pk__in=[])
    return Q(status=CaseStatus.PENDING_APPROVAL) & Q(
        Exists(Override.objects.filter(case=OuterRef("pk"), status=OverrideStatus.PROPOSED).exclude(proposed_by=user))
    )


def queue_filters(user, now) -> dict[str, Q]:
    not_closed = ~Q(status=CaseStatus.CLOSED)
    return {
        "mine": not_closed & Q(assignee=user),
        "unassigned": not_closed & Q(assignee__isnull=True),
        "overdue": not_closed & (Q(is_overdue=True) | Q(due_at__lt=now)),
        "pending_me": pending_approval_for(user),
        "open": not_closed,
    }


QUEUE_LABELS = {
    "mine": "My cases",
    "unassigned": "Unassigned",
    "overdue": "Overdue",
    "pending_me": "Pending my approval",
    "open": "All open",
}


def bulk(request, objects, func, *, verb: str) -> None:
    """Call ``func(obj)`` for each object, report successes and each refusal as messages."""
    done, failures = 0, []
    for obj in objects:
        try:
            func(obj)
            done += 1
        except (PermissionDenied, forms.ValidationError) as exc:
            failures.append(f"{obj}: {' '.join(error_messages(exc))}")
    if done:
        messages.success(request, f"{verb}: {done} done.")
    for failure in failures[:20]:
        messages.error(request, failure)
    if len(failures) > 20:
        messages.error(request, f"… and {len(failures) - 20} more refused.")


def confirm_page(modeladmin, request, queryset, *, title: str, action: str, form=None, intro: str = ""):
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "objects": list(queryset[:200]),
        "count": queryset.count(),
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action": action,
        "form": form,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media + (form.media if form else forms.Media()),
    }
    return TemplateResponse(request, "admin/cases/action_confirm.html", context)


class AssignForm(forms.Form):
    user = forms.ModelChoiceField(queryset=None, label="Assign to", help_text="Users who may work cases.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users_who_work_cases()


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Note for the record (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


# ------------------------------------------------------------------ case list filters


class QueueFilter(admin.SimpleListFilter):
    title = "work queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        may_approve = request.user.has_perm("cases.approve_override")
        return [(key, label) for key, label in QUEUE_LABELS.items() if key != "pending_me" or may_approve]

    def queryset(self, request, queryset):
        value = self.value()
        if value in QUEUE_LABELS:
            return queryset.filter(queue_filters(request.user, timezone.now())[value])
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return [("none", "Unassigned")] + [(str(u.pk), u.get_username()) for u in users_who_work_cases()[:50]]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        if self.value():
            return queryset.filter(assignee_id=self.value())
        return queryset


class SubjectOutcomeFilter(admin.SimpleListFilter):
    title = "automatic outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("block", "Block"), ("review", "Review"), ("allow", "Allow")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(subject__current__outcome=self.value())
        return queryset


# ------------------------------------------------------------------ case admin


class EvidenceHistoryAdmin(SimpleHistoryAdmin):
    """simple-history's field history, read-only: history is evidence, and changes go through services.

    Its revert form (one historical version as an editable form) is never shown: whoever may see the
    object is sent back to its history list, anyone else is refused.
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if obj is None:
            raise Http404
        messages.info(request, "Reverting from history is disabled; the history below lists every change.")
        opts = self.opts
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]))


@admin.register(Case)
class CaseAdmin(EvidenceHistoryAdmin):
    list_display = [
        "reference",
        "subject_name",
        "customer",
        "automatic",
        "status_badge",
        "priority_badge",
        "assignee",
        "due",
        "trigger",
        "created_at",
    ]
    list_display_links = ["reference", "subject_name"]
    list_select_related = ["subject", "subject__current", "subject__customer", "assignee"]
    list_filter = [QueueFilter, "status", SubjectOutcomeFilter, "priority", "trigger", "is_overdue", AssigneeFilter]
    search_fields = ["=reference", "subject__name", "=subject__external_id", "=subject__customer__customer_reference"]
    search_help_text = "Case reference, customer reference or external id (exact), or subject name (contains)."
    show_full_result_count = False
    list_per_page = 50
    ordering = ["-created_at", "-id"]
    actions = ["assign_to_me", "assign_to", "rescreen_subjects"]
    change_form_template = "admin/cases/case/change_form.html"
    change_list_template = "admin/cases/case/change_list.html"
    history_list_display = ["status", "assignee", "priority", "outcome"]
    fields = [
        "reference",
        "subject",
        "status",
        "trigger",
        "priority",
        "assignee",
        "due_at",
        "is_overdue",
        "opened_on_decision",
        "opened_by",
        "outcome",
        "decided_by",
        "decided_at",
        "reopen_count",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    # -- permissions: changes only through the services
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_work_permission(self, request):
        return request.user.has_perm("cases.work_case")

    def has_assign_permission(self, request):
        return request.user.has_perm("cases.assign_case")

    # -- columns
    @admin.display(description="subject", ordering="subject__name")
    def subject_name(self, obj):
        return obj.subject.name

    @admin.display(description="customer")
    def customer(self, obj):
        customer = getattr(obj.subject, "customer", None)
        return customer.customer_reference if customer else "–"

    @admin.display(description="automatic", ordering="subject__current__outcome")
    def automatic(self, obj):
        current = getattr(obj.subject, "current", None)
        return outcome_badge(current.outcome if current else None)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="cs-status cs-status--{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="priority", ordering="priority")
    def priority_badge(self, obj):
        return format_html('<span class="cs-prio cs-prio--{}">{}</span>', obj.priority, obj.get_priority_display())

    @admin.display(description="due", ordering="due_at")
    def due(self, obj):
        late = obj.status != CaseStatus.CLOSED and (obj.is_overdue or obj.due_at < timezone.now())
        due = timezone.localtime(obj.due_at)
        text, full = f"{due.day} {due:%b %H:%M}", f"{due:%Y-%m-%d %H:%M}"  # short: the queue has many columns
        if late:
            return format_html('<span class="cs-overdue cs-nowrap" title="overdue since {}">⚠ {}</span>', full, text)
        return format_html('<span class="cs-nowrap" title="{}">{}</span>', full, text)

    # -- the work queue
    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        now = timezone.now()
        filters = queue_filters(request.user, now)
        counts = Case.objects.aggregate(**{key: Count("pk", filter=q) for key, q in filters.items()})
        current = request.GET.get("queue", "")
        extra_context["queue_tabs"] = [
            {
                "key": key,
                "label": label,
                "count": counts[key],
                "url": f"?queue={key}",
                "active": current == key,
                "hidden": key == "pending_me" and not request.user.has_perm("cases.approve_override"),
            }
            for key, label in QUEUE_LABELS.items()
        ]
        extra_context["queue_all_active"] = not current
        return super().changelist_view(request, extra_context)

    # -- bulk actions (each with a confirmation page)
    @admin.action(description="Assign selected cases to me", permissions=["work"])
    def assign_to_me(self, request, queryset):
        if request.POST.get("confirm") == "yes":
            bulk(
                request,
                queryset.select_related("subject"),
                lambda case: case_services.case_assign_to_me(case=case, actor=request.user),
                verb="Assigned to you",
            )
            return None
        return confirm_page(self, request, queryset, title="Assign these cases to you?", action="assign_to_me")

    @admin.action(description="Assign selected cases to…", permissions=["assign"])
    def assign_to(self, request, queryset):
        form = AssignForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if request.POST.get("confirm") == "yes" and form.is_valid():
            user = form.cleaned_data["user"]
            bulk(
                request,
                queryset.select_related("subject"),
                lambda case: case_services.case_assign(case=case, user=user, actor=request.user),
                verb=f"Assigned to {user.get_username()}",
            )
            return None
        return confirm_page(self, request, queryset, title="Assign these cases to…", action="assign_to", form=form)

    @admin.action(description="Re-screen the subjects of selected cases", permissions=["work"])
    def rescreen_subjects(self, request, queryset):
        if request.POST.get("confirm") == "yes":
            entity_ids = list(queryset.values_list("subject_id", flat=True).distinct())
            summary = screen_entities(entity_ids=entity_ids, trigger="manual", actor=request.user)
            messages.success(
                request,
                f"Re-screened {summary.screened} subject(s) under policy v{summary.policy_version}; "
                f"{summary.changed} decision(s) changed.",
            )
            return None
        return confirm_page(
            self,
            request,
            queryset,
            title="Re-screen the subjects of these cases?",
            action="rescreen_subjects",
            intro="Each subject is screened again with the active policy on today's data. A changed decision "
            "is stored, audited, and may reopen or re-prioritise cases.",
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # -- the case page
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/do/<slug:action>/",
                self.admin_site.admin_view(self.case_action_view),
                name="{}_{}_do".format(*info),
            ),
            path(
                "<path:object_id>/evidence/<int:evidence_id>/",
                self.admin_site.admin_view(self.evidence_download_view),
                name="{}_{}_evidence".format(*info),
            ),
        ] + super().get_urls()

    def evidence_download_view(self, request, object_id, evidence_id):
        """An uploaded evidence file, to whoever may view the case: always a download (attachment), with
        a content type from the upload allow-list, nosniff and a sandboxing CSP, so an uploaded file is
        never rendered as a page of this site. MEDIA_URL is not routed: this is the only way to a file."""
        case = get_object_or_404(Case, pk=object_id)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        evidence = get_object_or_404(case.evidence.exclude(file=""), pk=evidence_id)
        content_type = evidence.content_type if evidence.content_type in EVIDENCE_CONTENT_TYPES else ""
        response = FileResponse(
            evidence.file.open("rb"),
            as_attachment=True,
            filename=evidence.original_name or f"evidence-{evidence.pk}",
            content_type=content_type or "application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, no-store"
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        case = self.get_object(request, object_id)
        if case is not None:
            extra_context.update(case_page_context(request, case))
        return super().change_view(request, object_id, form_url, extra_context)

    def case_action_view(self, request, object_id, action):
        case = get_object_or_404(Case.objects.select_related("subject"), pk=object_id)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:cases_case_change", args=[case.pk]))
        if request.method != "POST":
            return back
        handler = CASE_ACTIONS.get(action)
        if handler is None:
            messages.error(request, f"Unknown case action {action!r}.")
            return back
        handler(request, case)
        return back


# ------------------------------------------------------------------ case page actions (POST handlers)


def _override(request, case) -> Override | None:
    override = Override.objects.filter(pk=request.POST.get("override") or 0, case=case).first()
    if override is None:
        messages.error(request, "No such override on this case.")
    return override


def _exemption(request, case) -> Exemption | None:
    exemption = Exemption.objects.filter(pk=request.POST.get("exemption") or 0, entity=case.subject).first()
    if exemption is None:
        messages.error(request, "No such exemption for this subject.")
    return exemption


def _take(request, case):
    call_service(
        request, case_services.case_assign_to_me, case=case, actor=request.user, success="Case assigned to you."
    )


def _unassign(request, case):
    call_service(request, case_services.case_unassign, case=case, actor=request.user, success="Case unassigned.")


def _assign(request, case):
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a user who may work cases.")
        return
    user = form.cleaned_data["user"]
    call_service(
        request,
        case_services.case_assign,
        case=case,
        user=user,
        actor=request.user,
        success=f"Case assigned to {user.get_username()}.",
    )


def _start(request, case):
    call_service(request, case_services.case_start_review, case=case, actor=request.user, success="Review started.")


def _note(request, case):
    call_service(
        request,
        case_services.case_add_note,
        case=case,
        text=request.POST.get("text", ""),
        actor=request.user,
        success="Note added.",
    )


def _evidence(request, case):
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to upload.")
        return
    call_service(
        request,
        case_services.case_attach_evidence,
        case=case,
        file=upload,
        actor=request.user,
        description=request.POST.get("description", ""),
        success=f"Evidence {upload.name} attached.",
    )


def _link(request, case):
    call_service(
        request,
        case_services.case_add_link,
        case=case,
        url=request.POST.get("url", ""),
        actor=request.user,
        description=request.POST.get("description", ""),
        success="Link added.",
    )


def _confirm(request, case):
    call_service(
        request,
        case_services.case_confirm_outcome,
        case=case,
        actor=request.user,
        reason=request.POST.get("reason", ""),
        success="Automatic outcome confirmed; the case is closed.",
    )


def _propose(request, case):
    override = call_service(
        request,
        override_services.override_propose,
        case=case,
        outcome=request.POST.get("outcome", ""),
        reason=request.POST.get("reason", ""),
        actor=request.user,
    )
    if override:
        if override.status == OverrideStatus.APPLIED:
            messages.success(request, "Stricter override applied at once (fail closed); the case is closed.")
        else:
            messages.success(request, "Override proposed; the case waits for a manager's approval (four-eyes).")


def _approve(request, case):
    override = _override(request, case)
    if override:
        call_service(
            request,
            override_services.override_approve,
            override=override,
            actor=request.user,
            note=request.POST.get("note", ""),
            success="Override approved and applied; the case is closed.",
        )


def _reject(request, case):
    override = _override(request, case)
    if override:
        call_service(
            request,
            override_services.override_reject,
            override=override,
            actor=request.user,
            note=request.POST.get("note", ""),
            success="Override rejected; the case is back in review.",
        )


def _exemption_request(request, case):
    try:
        expires_on = datetime.date.fromisoformat(request.POST.get("expires_on", ""))
    except ValueError:
        messages.error(request, "expires_on: enter a date as YYYY-MM-DD.")
        return
    call_service(
        request,
        exemption_services.exemption_request,
        entity=case.subject,
        case=case,
        reason=request.POST.get("reason", ""),
        expires_on=expires_on,
        actor=request.user,
        success="Exemption requested; a manager must approve it (four-eyes).",
    )


def _exemption_approve(request, case):
    exemption = _exemption(request, case)
    if exemption:
        call_service(
            request,
            exemption_services.exemption_approve,
            exemption=exemption,
            actor=request.user,
            note=request.POST.get("note", ""),
            success="Exemption approved: the effective outcome is allow until it expires.",
        )


def _exemption_reject(request, case):
    exemption = _exemption(request, case)
    if exemption:
        call_service(
            request,
            exemption_services.exemption_reject,
            exemption=exemption,
            actor=request.user,
            note=request.POST.get("note", ""),
            success="Exemption rejected.",
        )


def _exemption_revoke(request, case):
    exemption = _exemption(request, case)
    if exemption:
        call_service(
            request,
            exemption_services.exemption_revoke,
            exemption=exemption,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            success="Exemption revoked.",
        )


def _reopen(request, case):
    call_service(
        request,
        case_services.case_reopen,
        case=case,
        actor=request.user,
        reason=request.POST.get("reason", ""),
        success="Case reopened.",
    )


def _rescreen(request, case):
    # The screening service does not check permissions itself: only case workers may trigger it here.
    if not request.user.has_perm("cases.work_case"):
        messages.error(request, "Not allowed: re-screening needs permission cases.work_case.")
        return
    summary = screen_entities(entity_ids=[case.subject_id], trigger="manual", actor=request.user)
    if summary.changed:
        messages.warning(request, "Re-screened: the decision changed (see the history below).")
    else:
        messages.success(request, "Re-screened: the decision is unchanged.")


CASE_ACTIONS = {
    "take": _take,
    "unassign": _unassign,
    "assign": _assign,
    "start": _start,
    "note": _note,
    "evidence": _evidence,
    "link": _link,
    "confirm": _confirm,
    "propose": _propose,
    "approve": _approve,
    "reject": _reject,
    "exemption-request": _exemption_request,
    "exemption-approve": _exemption_approve,
    "exemption-reject": _exemption_reject,
    "exemption-revoke": _exemption_revoke,
    "reopen": _reopen,
    "rescreen": _rescreen,
}


USER_FIELDS = ("assignee", "opened_by", "decided_by", "proposed_by", "approved_by", "requested_by")


def field_history(obj, limit: int = 50) -> list[dict]:
    """simple-history records, newest first, each with the fields it changed (user ids shown as usernames)."""
    records = list(obj.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1])
    deltas = []
    user_ids = set()
    for index, record in enumerate(records[:limit]):
        previous = records[index + 1] if index + 1 < len(records) else None
        changes = []
        if previous is not None:
            delta = record.diff_against(previous, foreign_keys_are_objs=False)
            changes = [c for c in delta.changes if c.field != "updated_at"]
            user_ids.update(v for c in changes if c.field in USER_FIELDS for v in (c.old, c.new) if v)
        deltas.append((record, changes))
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username")) if user_ids else {}

    def show(field, value):
        if value in (None, ""):
            return "–"
        return names.get(value, value) if field in USER_FIELDS else value

    return [
        {
            "date": record.history_date,
            "user": record.history_user.get_username() if record.history_user else "system",
            "type": {"+": "created", "~": "changed", "-": "deleted"}.get(record.history_type, record.history_type),
            "changes": [{"field": c.field, "old": show(c.field, c.old), "new": show(c.field, c.new)} for c in changes],
        }
        for record, changes in deltas
    ]


def case_page_context(request, case: Case) -> dict:
    user = request.user
    context = entity_screening_context(request, case.subject)
    overrides = list(case.overrides.select_related("proposed_by", "approved_by", "decision"))
    pending = next((o for o in overrides if o.status == OverrideStatus.PROPOSED), None)
    exemptions = list(case.subject.exemptions.select_related("requested_by", "approved_by").order_by("-requested_at"))
    targets = Q(target_type="cases.case", target_id=str(case.pk)) | Q(
        target_type="cases.entity", target_id=str(case.subject_id)
    )
    if overrides:
        targets |= Q(target_type="cases.override", target_id__in=[str(o.pk) for o in overrides])
    if exemptions:
        targets |= Q(target_type="cases.exemption", target_id__in=[str(e.pk) for e in exemptions])
    audit = list(AuditEvent.objects.filter(targets).order_by("-seq")[:200])
    is_open = case.status != CaseStatus.CLOSED
    is_assignee = case.assignee_id == user.pk
    may_work = user.has_perm("cases.work_case")
    may_assign = user.has_perm("cases.assign_case")
    current = context.get("current")
    automatic = current.outcome if current else None
    can = {
        "take": may_work and is_open and not is_assignee and (case.assignee_id is None or may_assign),
        "unassign": is_open and case.assignee_id is not None and ((may_work and is_assignee) or may_assign),
        "assign": may_assign and is_open,
        "start": may_work and case.status == CaseStatus.OPEN and (case.assignee_id is None or is_assignee),
        "note": may_work,
        "evidence": may_work,
        "confirm": may_work and case.status == CaseStatus.IN_REVIEW and is_assignee,
        "propose": user.has_perm("cases.propose_override") and case.status == CaseStatus.IN_REVIEW and is_assignee,
        "approve": bool(pending) and user.has_perm("cases.approve_override") and pending.proposed_by_id != user.pk,
        "exemption_request": user.has_perm("cases.request_exemption") and is_open,
        "exemption_decide": user.has_perm("cases.approve_exemption"),
        "reopen": user.has_perm("cases.reopen_case") and not is_open,
        "rescreen": may_work,
    }
    today = timezone.localdate()
    return {
        **context,
        "case": case,
        "can": can,
        "is_assignee": is_assignee,
        "pending_override": pending,
        "pending_is_mine": bool(pending) and pending.proposed_by_id == user.pk,
        "overrides": overrides,
        "exemptions": exemptions,
        "notes": list(case.notes.select_related("author")),
        "evidence": list(case.evidence.select_related("added_by")),
        "audit_events": audit,
        "case_history": field_history(case),
        "automatic_outcome": automatic,
        "override_outcomes": [(o.value, o.label) for o in Outcome if o.value != automatic],
        "assign_form": AssignForm() if can["assign"] else None,
        "exemption_max": today.replace(year=today.year + 1) if not (today.month == 2 and today.day == 29) else today,
        "exemption_default": today + datetime.timedelta(days=90),
        "action_url": reverse("admin:cases_case_do", args=[case.pk, "ACTION"]).replace("ACTION/", ""),
        "status_badge": format_html(
            '<span class="cs-status cs-status--{}">{}</span>', case.status, case.get_status_display()
        ),
    }


# ------------------------------------------------------------------ overrides, exemptions, effective decisions


@admin.register(Override)
class OverrideAdmin(EvidenceHistoryAdmin):
    list_display = ["id", "case_link", "subject", "change", "status", "proposed_by", "approved_by", "created_at"]
    list_select_related = ["case", "case__subject", "proposed_by", "approved_by"]
    list_filter = ["status", "proposed_outcome", "automatic_outcome"]
    search_fields = ["=case__reference", "case__subject__name", "=case__subject__external_id"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["approve_selected", "reject_selected"]
    fields = [
        "case",
        "decision",
        "automatic_outcome",
        "proposed_outcome",
        "reason",
        "status",
        "proposed_by",
        "created_at",
        "approved_by",
        "decided_at",
        "decision_note",
        "applied_at",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm("cases.approve_override")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="case", ordering="case__reference")
    def case_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_case_change", args=[obj.case_id]), obj.case.reference
        )

    @admin.display(description="subject")
    def subject(self, obj):
        return obj.case.subject.name

    @admin.display(description="outcome change")
    def change(self, obj):
        return format_html("{} → {}", outcome_badge(obj.automatic_outcome), outcome_badge(obj.proposed_outcome))

    def _decide(self, request, queryset, *, service, verb: str, action: str):
        form = NoteForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if request.POST.get("confirm") == "yes" and form.is_valid():
            note = form.cleaned_data["note"]
            bulk(
                request,
                queryset.select_related("case"),
                lambda override: service(override=override, actor=request.user, note=note),
                verb=verb,
            )
            return None
        return confirm_page(
            self,
            request,
            queryset,
            title=f"{verb.split()[0]} these overrides?",
            action=action,
            form=form,
            intro="Four-eyes: overrides you proposed yourself will be refused.",
        )

    @admin.action(description="Approve selected overrides (four-eyes)", permissions=["approve"])
    def approve_selected(self, request, queryset):
        return self._decide(
            request, queryset, service=override_services.override_approve, verb="Approved", action="approve_selected"
        )

    @admin.action(description="Reject selected overrides", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._decide(
            request, queryset, service=override_services.override_reject, verb="Rejected", action="reject_selected"
        )


@admin.register(Exemption)
class ExemptionAdmin(EvidenceHistoryAdmin):
    list_display = ["id", "entity", "status", "expires_on", "requested_by", "approved_by", "requested_at"]
    list_select_related = ["entity", "requested_by", "approved_by"]
    list_filter = ["status", "expires_on"]
    search_fields = ["entity__name", "=entity__external_id", "=case__reference"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["approve_selected", "reject_selected"]
    fields = [
        "entity",
        "case",
        "reason",
        "expires_on",
        "status",
        "requested_by",
        "requested_at",
        "approved_by",
        "decided_at",
        "decision_note",
        "decision",
        "ownership_fingerprint",
        "ended_at",
        "end_reason",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm("cases.approve_exemption")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _decide(self, request, queryset, *, service, verb: str, action: str):
        form = NoteForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if request.POST.get("confirm") == "yes" and form.is_valid():
            note = form.cleaned_data["note"]
            bulk(
                request,
                queryset.select_related("entity"),
                lambda exemption: service(exemption=exemption, actor=request.user, note=note),
                verb=verb,
            )
            return None
        return confirm_page(
            self,
            request,
            queryset,
            title=f"{verb.split()[0]} these exemptions?",
            action=action,
            form=form,
            intro="Four-eyes: exemptions you requested yourself will be refused.",
        )

    @admin.action(description="Approve selected exemptions (four-eyes)", permissions=["approve"])
    def approve_selected(self, request, queryset):
        return self._decide(
            request,
            queryset,
            service=exemption_services.exemption_approve,
            verb="Approved",
            action="approve_selected",
        )

    @admin.action(description="Reject selected exemptions", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._decide(
            request, queryset, service=exemption_services.exemption_reject, verb="Rejected", action="reject_selected"
        )


@admin.register(EffectiveDecision)
class EffectiveDecisionAdmin(ReadOnlyAdmin):
    list_display = ["entity", "effective", "source", "automatic", "updated_at"]
    list_select_related = ["entity", "decision"]
    list_filter = ["outcome", "source"]
    search_fields = ["entity__name", "=entity__external_id"]
    show_full_result_count = False
    list_per_page = 50
    fields = ["entity", "outcome", "source", "decision", "override", "exemption", "updated_at"]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    @admin.display(description="effective", ordering="outcome")
    def effective(self, obj):
        return outcome_badge(obj.outcome)

    @admin.display(description="automatic")
    def automatic(self, obj):
        return outcome_badge(obj.decision.outcome)
