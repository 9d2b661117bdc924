"""Case management: the work queue, the case page and its actions, overrides, exemptions, effective decisions.

Every state change calls a service in ``cases.services`` (which checks permissions, locks rows and
audits); the admin only decides which buttons to show. A POST without the permission, or against
four-eyes, comes back as an error message on the case page — never a 500.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from cases.models import (
    AuditEvent,
    Case,
    CaseMention,
    CaseStatus,
    EffectiveDecision,
    Exemption,
    NameMatch,
    Outcome,
    Override,
    OverrideStatus,
    RestrictedList,
    SavedQueueFilter,
)
from cases.selectors.workplace import (
    decision_names_list,
    may_approve,
    queue_counts,
    queue_filters,
    restricted_countries_by_decision,
    restricted_lists_by_decision,
)
from cases.services import cases as case_services
from cases.services import exemptions as exemption_services
from cases.services import overrides as override_services
from cases.services import workplace as workplace_services
from cases.services.approvals import exemption_may_decide, exemption_may_revoke
from cases.services.screening import case_rescreen_subject, screen_entities
from cases.services.workplace import clean_queue_query

from .parties import entity_screening_context
from .site import (
    ADMIN_MEDIA_CSS,
    METHOD_LABELS,
    OUTCOME_LABELS,
    ReadOnlyAdmin,
    call_service,
    error_messages,
    interval,
    outcome_badge,
)
from .timeline import action_label, case_timeline

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
    user = forms.ModelChoiceField(
        queryset=None,
        label=_("Assign to"),
        help_text=_("Users who may work cases."),
        empty_label=_("Choose an investigator…"),
        widget=forms.Select(attrs={"aria-label": _("Assign to")}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users_who_work_cases()


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Note for the record (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


# ------------------------------------------------------------------ case list filters


class QueueFilter(admin.SimpleListFilter):
    title = _("work queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        approves = may_approve(request.user)
        return [(key, label) for key, label in QUEUE_LABELS.items() if key != "pending_me" or approves]

    def queryset(self, request, queryset):
        value = self.value()
        if value in QUEUE_LABELS:
            return queryset.filter(queue_filters(request.user, timezone.now())[value])
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return [("none", _("Unassigned"))] + [(str(u.pk), u.get_username()) for u in users_who_work_cases()[:50]]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        if self.value():
            return queryset.filter(assignee_id=self.value())
        return queryset


class SubjectOutcomeFilter(admin.SimpleListFilter):
    title = _("automatic outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return list(OUTCOME_LABELS.items())

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(subject__current__outcome=self.value())
        return queryset


class RestrictedListFilter(admin.SimpleListFilter):
    """Cases whose current decision names a restricted-party list among its reasons."""

    title = _("restricted list")
    parameter_name = "restricted_list"

    def lookups(self, request, model_admin):
        return list(RestrictedList.objects.order_by("name").values_list("code", "name"))

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        restricted_list = RestrictedList.objects.filter(code=self.value()).first()
        if restricted_list is None:
            return queryset.none()
        return queryset.filter(decision_names_list(restricted_list))


# ------------------------------------------------------------------ case admin


class EvidenceHistoryAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
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
        "case_column",
        "automatic",
        "restricted_share",
        "restricted_countries",
        "state",
        "assignee",
        "sla",
        "trigger_short",
    ]
    list_display_links = None
    list_select_related = ["subject", "subject__current", "subject__current__decision", "subject__customer", "assignee"]
    list_filter = [
        QueueFilter,
        "status",
        SubjectOutcomeFilter,
        RestrictedListFilter,
        "priority",
        "trigger",
        "is_overdue",
        AssigneeFilter,
    ]
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

    # -- permissions: changes only through the services (EvidenceHistoryAdmin is read-only)
    def has_work_permission(self, request):
        return request.user.has_perm("cases.work_case")

    def has_assign_permission(self, request):
        return request.user.has_perm("cases.assign_case")

    # -- columns: why the case is here, at a glance
    @admin.display(description=_("case"), ordering="reference")
    def case_column(self, obj):
        customer = getattr(obj.subject, "customer", None)
        return format_html(
            '<a class="cs-q__ref" href="{}">{}</a><span class="cs-q__subject">{}</span>'
            '<span class="cs-q__meta">{}</span>',
            reverse("admin:cases_case_change", args=[obj.pk]),
            obj.reference,
            obj.subject.name,
            customer.customer_reference if customer else _("not a customer"),
        )

    @admin.display(description=_("automatic"), ordering="subject__current__outcome")
    def automatic(self, obj):
        current = getattr(obj.subject, "current", None)
        return outcome_badge(current.outcome if current else None)

    @admin.display(
        description=_("restricted share (low–high)"), ordering="subject__current__decision__control_chain_high"
    )
    def restricted_share(self, obj):
        current = getattr(obj.subject, "current", None)
        if current is None:
            return "–"
        decision = current.decision
        return format_html(
            '<span class="cs-q__share" title="{}">LT {}</span><span class="cs-q__share" title="{}">CC {}</span>',
            METHOD_LABELS["look_through"],
            interval(decision.look_through_low, decision.look_through_high),
            METHOD_LABELS["control_chain"],
            interval(decision.control_chain_low, decision.control_chain_high),
        )

    @admin.display(description=_("restricted countries · lists"))
    def restricted_countries(self, obj):
        """Countries and lists share a column so the whole queue still fits 1400 px."""
        codes = getattr(obj, "restricted_codes", None) or []
        lists = getattr(obj, "named_lists", None) or []
        countries = format_html_join(" ", '<span class="cs-chip cs-chip--restricted">{}</span>', ((c,) for c in codes))
        named = format_html_join(
            " ", '<span class="cs-chip cs-chip--list" title="{}">{}</span>', ((rl.label, rl.code) for rl in lists)
        )
        return format_html("{} {}", countries, named) if codes or lists else "–"

    @admin.display(description=_("status"), ordering="status")
    def state(self, obj):
        return format_html(
            '<span class="cs-status cs-status--{}">{}</span><span class="cs-prio cs-prio--{} cs-q__prio">{}</span>',
            obj.status,
            obj.get_status_display(),
            obj.priority,
            obj.get_priority_display(),
        )

    @admin.display(description=_("age · SLA"), ordering="due_at")
    def sla(self, obj):
        now = timezone.now()
        age = timesince(obj.created_at, now, depth=1)
        due = timezone.localtime(obj.due_at)
        full = f"{due:%Y-%m-%d %H:%M}"
        if obj.status == CaseStatus.CLOSED:
            return format_html('<span class="cs-q__age">{}</span><span class="cs-muted">{}</span>', age, _("closed"))
        if obj.is_overdue or obj.due_at < now:
            late = _("overdue by %(time)s") % {"time": timesince(obj.due_at, now, depth=1)}
            return format_html(
                '<span class="cs-q__age">{}</span><span class="cs-overdue" title="{}">⚠ {}</span>', age, full, late
            )
        left = _("due in %(time)s") % {"time": timeuntil(obj.due_at, now, depth=1)}
        return format_html('<span class="cs-q__age">{}</span><span title="{}">{}</span>', age, full, left)

    @admin.display(description=_("trigger"), ordering="trigger")
    def trigger_short(self, obj):
        return obj.get_trigger_display()

    def get_changelist_instance(self, request):
        """Look up the page's restricted countries and lists in three queries (not one per row)."""
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)
        decisions = [case.subject.current.decision for case in page if getattr(case.subject, "current", None)]
        codes = restricted_countries_by_decision(decisions)
        lists = restricted_lists_by_decision(decisions)
        for case in page:
            current = getattr(case.subject, "current", None)
            case.restricted_codes = codes.get(current.decision_id, []) if current else []
            case.named_lists = lists.get(current.decision_id, []) if current else []
        return changelist

    # -- the work queue
    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        counts = queue_counts(request.user, timezone.now())
        current = request.GET.get("queue", "")
        extra_context["queue_tabs"] = [
            {
                "key": key,
                "label": label,
                "count": counts[key],
                "url": f"?queue={key}",
                "active": current == key,
                "hidden": key == "pending_me" and not may_approve(request.user),
            }
            for key, label in QUEUE_LABELS.items()
        ]
        extra_context["queue_all_active"] = not current
        extra_context["saved_filters"] = list(SavedQueueFilter.objects.filter(user=request.user))
        extra_context["current_query"] = clean_queue_query(request.GET.urlencode())
        extra_context["saved_filter_url"] = reverse("admin:cases_case_saved_filters")
        return super().changelist_view(request, extra_context)

    def saved_filters_view(self, request):
        """POST: save the queue's current query under a name, or delete one of the user's saved filters."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        back = reverse("admin:cases_case_changelist")
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if request.POST.get("delete"):
            saved = SavedQueueFilter.objects.filter(pk=request.POST["delete"], user=request.user).first()
            if saved is None:
                messages.error(request, _("No such saved filter."))
                return HttpResponseRedirect(back)
            call_service(
                request,
                workplace_services.queue_filter_delete,
                saved_filter=saved,
                user=request.user,
                success=_("Saved filter deleted."),
            )
            return HttpResponseRedirect(back)
        query = request.POST.get("query", "")
        saved = call_service(
            request,
            workplace_services.queue_filter_save,
            user=request.user,
            name=request.POST.get("name", ""),
            query=query,
            success=_("Filter saved."),
        )
        return HttpResponseRedirect(f"{back}?{saved.query}" if saved else f"{back}?{query}")

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

    # -- the case page
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "saved-filters/",
                self.admin_site.admin_view(self.saved_filters_view),
                name="{}_{}_saved_filters".format(*info),
            ),
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
        handler.run(request, case)
        return HttpResponseRedirect(f"{back.url}#tab-{handler.tab}")


# ------------------------------------------------------------------ case page actions (POST handlers)


def _rescreen_message(summary) -> tuple[int, str]:
    if summary.changed:
        return messages.WARNING, "Re-screened: the decision changed (see the history below)."
    return messages.SUCCESS, "Re-screened: the decision is unchanged."


def _proposal_message(override) -> tuple[int, str]:
    if override.status == OverrideStatus.APPLIED:
        return messages.SUCCESS, "Stricter override applied at once (fail closed); the case is closed."
    return messages.SUCCESS, "Override proposed; the case waits for a manager's approval (four-eyes)."


def _text() -> forms.Field:
    """Optional here: the service says what a blank value means (refused, or allowed)."""
    return forms.CharField(required=False)


def _assignee_fields(case) -> dict[str, forms.Field]:
    choose = "Choose a user who may work cases."
    user = forms.ModelChoiceField(
        queryset=users_who_work_cases(), error_messages={"required": choose, "invalid_choice": choose}
    )
    return {"user": user}


def _override_fields(case) -> dict[str, forms.Field]:
    no_such = "No such override on this case."
    override = forms.ModelChoiceField(
        queryset=Override.objects.filter(case=case), error_messages={"required": no_such, "invalid_choice": no_such}
    )
    return {"override": override, "note": _text()}


def _exemption_field(case) -> forms.Field:
    no_such = "No such exemption for this subject."
    return forms.ModelChoiceField(
        queryset=Exemption.objects.filter(entity_id=case.subject_id),
        error_messages={"required": no_such, "invalid_choice": no_such},
    )


@dataclass(frozen=True)
class CaseAction:
    """One POST on the case page: the service it calls, the form fields that become the service's keyword
    arguments (built per case, so a looked-up override or exemption must belong to it), and the message
    on success: a text formatted with the service's ``result``, or a function of it giving (level, text)."""

    service: Callable
    success: str | Callable[[object], tuple[int, str]]
    fields: Callable[[Case], dict[str, forms.Field]] = lambda case: {}
    target: Callable[[Case], dict] = lambda case: {"case": case}
    tab: str = "why"  # where the page opens after the POST

    def run(self, request, case: Case) -> None:
        form = type("CaseActionForm", (forms.Form,), self.fields(case))(request.POST, request.FILES)
        if not form.is_valid():
            for field, errors in form.errors.items():
                for error in errors:
                    messages.error(request, f"{field}: {error}")
            return
        kwargs = {**self.target(case), **form.cleaned_data, "actor": request.user}
        result = call_service(request, self.service, **kwargs)
        if not result:
            return
        level, text = self.success(result) if callable(self.success) else (messages.SUCCESS, self.success)
        messages.add_message(request, level, text.format(result=result))


CASE_ACTIONS: dict[str, CaseAction] = {
    "take": CaseAction(case_services.case_assign_to_me, "Case assigned to you."),
    "unassign": CaseAction(case_services.case_unassign, "Case unassigned."),
    "assign": CaseAction(
        case_services.case_assign, "Case assigned to {result.assignee.username}.", fields=_assignee_fields
    ),
    "start": CaseAction(case_services.case_start_review, "Review started."),
    "note": CaseAction(
        case_services.case_add_note, "Note added.", fields=lambda case: {"text": _text()}, tab="history"
    ),
    "evidence": CaseAction(
        case_services.case_attach_evidence,
        "Evidence {result.original_name} attached.",
        fields=lambda case: {
            "file": forms.FileField(error_messages={"required": "Choose a file to upload."}),
            "description": _text(),
        },
        tab="evidence",
    ),
    "link": CaseAction(
        case_services.case_add_link,
        "Link added.",
        fields=lambda case: {"url": _text(), "description": _text()},
        tab="evidence",
    ),
    "confirm": CaseAction(
        case_services.case_confirm_outcome,
        "Automatic outcome confirmed; the case is closed.",
        fields=lambda case: {"reason": _text()},
    ),
    "propose": CaseAction(
        override_services.override_propose,
        _proposal_message,
        fields=lambda case: {"outcome": _text(), "reason": _text()},
    ),
    "approve": CaseAction(
        override_services.override_approve,
        "Override approved and applied; the case is closed.",
        fields=_override_fields,
        target=lambda case: {},
    ),
    "reject": CaseAction(
        override_services.override_reject,
        "Override rejected; the case is back in review.",
        fields=_override_fields,
        target=lambda case: {},
    ),
    "exemption-request": CaseAction(
        exemption_services.exemption_request,
        "Exemption requested; a manager must approve it (four-eyes).",
        fields=lambda case: {"reason": _text(), "expires_on": forms.DateField(input_formats=["%Y-%m-%d"])},
        target=lambda case: {"entity": case.subject, "case": case},
        tab="evidence",
    ),
    "exemption-approve": CaseAction(
        exemption_services.exemption_approve,
        "Exemption approved: the effective outcome is allow until it expires.",
        fields=lambda case: {"exemption": _exemption_field(case), "note": _text()},
        target=lambda case: {},
        tab="evidence",
    ),
    "exemption-reject": CaseAction(
        exemption_services.exemption_reject,
        "Exemption rejected.",
        fields=lambda case: {"exemption": _exemption_field(case), "note": _text()},
        target=lambda case: {},
        tab="evidence",
    ),
    "exemption-revoke": CaseAction(
        exemption_services.exemption_revoke,
        "Exemption revoked.",
        fields=lambda case: {"exemption": _exemption_field(case), "reason": _text()},
        target=lambda case: {},
        tab="evidence",
    ),
    "reopen": CaseAction(case_services.case_reopen, "Case reopened.", fields=lambda case: {"reason": _text()}),
    "rescreen": CaseAction(case_rescreen_subject, _rescreen_message),
    "mentions-read": CaseAction(
        workplace_services.mentions_mark_read, "Mentions marked as read.", target=lambda case: {"case": case}
    ),
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
    for event in audit:
        event.action_label = action_label(event.action)
    notes = list(case.notes.select_related("author"))
    allowed = case_services.case_allowed_actions(case=case, user=user, overrides=overrides, exemptions=exemptions)
    for exemption in exemptions:
        exemption.may_decide = exemption_may_decide(exemption=exemption, user=user)
        exemption.may_revoke = exemption_may_revoke(exemption=exemption, user=user)
    current = context.get("current")
    automatic = current.outcome if current else None
    return {
        **context,
        "case": case,
        "can": {action.replace("-", "_"): True for action in allowed},
        "is_assignee": case.assignee_id == user.pk,
        "pending_override": pending,
        "pending_is_mine": bool(pending) and pending.proposed_by_id == user.pk,
        "overrides": overrides,
        "exemptions": exemptions,
        "notes": notes,
        "timeline": case_timeline(notes=notes, audit_events=audit, decisions=context["decision_history"]),
        "my_mentions": list(
            CaseMention.objects.filter(case=case, user=user, read_at__isnull=True).select_related("note__author")
        ),
        "evidence": list(case.evidence.select_related("added_by")),
        "name_matches": list(
            NameMatch.objects.filter(entity=case.subject).select_related(
                "candidate_member__restricted_list", "candidate_entity"
            )
        ),
        "audit_events": audit,
        "case_history": field_history(case),
        "automatic_outcome": automatic,
        "override_outcomes": [(o.value, o.label) for o in Outcome if o.value != automatic],
        "assign_form": AssignForm() if "assign" in allowed else None,
        "exemption_max": exemption_services.exemption_latest_expiry(),
        "exemption_default": timezone.localdate() + datetime.timedelta(days=90),
        "action_url": reverse("admin:cases_case_do", args=[case.pk, "ACTION"]).replace("ACTION/", ""),
        "status_badge": format_html(
            '<span class="cs-status cs-status--{}">{}</span>', case.status, case.get_status_display()
        ),
    }


# ------------------------------------------------------------------ overrides, exemptions, effective decisions


class SecondPersonDecisionAdmin(EvidenceHistoryAdmin):
    """The one approve/reject path for what a second person decides (overrides, exemptions): bulk actions
    with a confirmation page and an optional note, each object through its service (which enforces
    four-eyes and audits the note); refusals are listed, never a 500."""

    # Set by each subclass: its two services, the services' keyword for the object, the row to join,
    # the noun and the author's verb for the confirmation page, and the approving permission.
    approve_service: Callable
    reject_service: Callable
    target_kwarg: str
    related: str
    noun: str
    author_verb: str
    approve_permission: str
    actions = ["approve_selected", "reject_selected"]

    def has_approve_permission(self, request):
        return request.user.has_perm(f"cases.{self.approve_permission}")

    def _decide(self, request, queryset, *, service, verb: str, action: str):
        form = NoteForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if request.POST.get("confirm") == "yes" and form.is_valid():
            note = form.cleaned_data["note"]
            bulk(
                request,
                queryset.select_related(self.related),
                lambda obj: service(**{self.target_kwarg: obj}, actor=request.user, note=note),
                verb=verb,
            )
            return None
        return confirm_page(
            self,
            request,
            queryset,
            title=f"{verb.split()[0]} these {self.noun}s?",
            action=action,
            form=form,
            intro=f"Four-eyes: {self.noun}s you {self.author_verb} yourself will be refused.",
        )

    @admin.action(description="Approve selected (four-eyes)", permissions=["approve"])
    def approve_selected(self, request, queryset):
        return self._decide(request, queryset, service=self.approve_service, verb="Approved", action="approve_selected")

    @admin.action(description="Reject selected", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._decide(request, queryset, service=self.reject_service, verb="Rejected", action="reject_selected")


@admin.register(Override)
class OverrideAdmin(SecondPersonDecisionAdmin):
    list_display = ["id", "case_link", "subject", "change", "status", "proposed_by", "approved_by", "created_at"]
    list_select_related = ["case", "case__subject", "proposed_by", "approved_by"]
    list_filter = ["status", "proposed_outcome", "automatic_outcome"]
    search_fields = ["=case__reference", "case__subject__name", "=case__subject__external_id"]
    show_full_result_count = False
    list_per_page = 50
    approve_service = staticmethod(override_services.override_approve)
    reject_service = staticmethod(override_services.override_reject)
    target_kwarg, related, noun, author_verb = "override", "case", "override", "proposed"
    approve_permission = "approve_override"
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


@admin.register(Exemption)
class ExemptionAdmin(SecondPersonDecisionAdmin):
    list_display = ["id", "entity", "status", "expires_on", "requested_by", "approved_by", "requested_at"]
    list_select_related = ["entity", "requested_by", "approved_by"]
    list_filter = ["status", "expires_on"]
    search_fields = ["entity__name", "=entity__external_id", "=case__reference"]
    show_full_result_count = False
    list_per_page = 50
    approve_service = staticmethod(exemption_services.exemption_approve)
    reject_service = staticmethod(exemption_services.exemption_reject)
    target_kwarg, related, noun, author_verb = "exemption", "entity", "exemption", "requested"
    approve_permission = "approve_exemption"
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
