"""Shared admin helpers: outcome badges, interval and path formatting, read-only bases, service calls."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

OUTCOME_LABELS = {"block": _("Block"), "review": _("Review"), "allow": _("Allow")}

ADMIN_MEDIA_CSS = {"all": ["cases/admin.css"]}


def outcome_badge(outcome: str | None, *, title: str = "") -> str:
    if not outcome:
        return format_html('<span class="cs-badge cs-badge--none">{}</span>', _("not screened"))
    return format_html(
        '<span class="cs-badge cs-badge--{}" title="{}">{}</span>',
        outcome,
        title,
        OUTCOME_LABELS.get(outcome, outcome),
    )


def pct(value) -> str:
    if value is None:
        return "–"
    return f"{float(value):.2f} %"


def interval(low, high) -> str:
    """``"44.00 % – 44.00 %"``: what the data proves, and the worst case it allows."""
    return f"{pct(low)} – {pct(high)}"


def short_pct(value) -> str:
    value = float(value)
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def path_chain(path: dict) -> str:
    """``CN Holdco —55%→ H GmbH —80%→ Subject`` as HTML (the restricted owner highlighted).

    Paths carry external ids in ``nodes`` and, in the same order, display names in ``names``.
    """
    nodes = [str(n) for n in path.get("names") or path.get("nodes", [])]
    shares = list(path.get("shares", []))
    if not nodes:
        return ""
    parts = [format_html('<span class="cs-path__root">{}</span>', nodes[0])]
    for index, node in enumerate(nodes[1:]):
        share = shares[index] if index < len(shares) else None
        arrow = f"—{short_pct(share)}→" if share is not None else "—→"
        parts.append(format_html(' <span class="cs-path__hop">{}</span> {}', arrow, node))
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped by format_html


METHOD_LABELS = {
    "look_through": _("Look-through (multiplicative)"),
    "control_chain": _("Control chain (aggregation)"),
}


def decision_context(decision) -> dict | None:
    """What the decision panel template shows: both methods' intervals, reasons, paths."""
    if decision is None:
        return None
    payload = decision.payload or {}
    methods = [
        {
            "key": "look_through",
            "label": METHOD_LABELS["look_through"],
            "outcome": decision.look_through_outcome,
            "badge": outcome_badge(decision.look_through_outcome),
            "interval": interval(decision.look_through_low, decision.look_through_high),
        },
        {
            "key": "control_chain",
            "label": METHOD_LABELS["control_chain"],
            "outcome": decision.control_chain_outcome,
            "badge": outcome_badge(decision.control_chain_outcome),
            "interval": interval(decision.control_chain_low, decision.control_chain_high),
        },
    ]
    paths = []
    for path in payload.get("paths", []):
        paths.append(
            {
                "method": METHOD_LABELS.get(path.get("method"), path.get("method") or ""),
                "chain": path_chain(path),
                "contribution": pct(path.get("contribution")),
            }
        )
    return {
        "decision": decision,
        "badge": outcome_badge(decision.outcome),
        "methods": methods,
        "reasons": payload.get("reasons", decision.reasons or []),
        "paths": paths,
        "policy_version": payload.get("policy_version") or decision.policy_id,
    }


def reasons_html(reasons: list[str]) -> str:
    if not reasons:
        return "–"
    return format_html("<ul class='cs-reasons'>{}</ul>", format_html_join("", "<li>{}</li>", ((r,) for r in reasons)))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence and provenance: viewable by whoever has ``view_*``; nobody adds, changes or deletes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown for context on another object's page; each is changed on its own page (its service)."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceRefused(Exception):
    """A service refused an admin save after the form validated: the whole save is rolled back."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def form_value(value):
    """A form's cleaned value as a service takes it: a related row by its primary key."""
    return value.pk if isinstance(value, Model) else value


def inline_rows(formset) -> list[dict]:
    """The rows an inline formset would keep, as plain dicts (deleted and empty extra rows left out)."""
    return [
        {name: form_value(value) for name, value in form.cleaned_data.items()}
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class ServiceFormAdmin(admin.ModelAdmin):
    """An add/change form whose save is one service call, so an admin edit is audited and re-screens
    exactly as the API's does.

    Django validates the form and its inlines first (model validation, constraints); then, instead of
    saving the object and each inline, ``save_through_service`` receives both and calls the service.
    If the service still refuses (a rule the model cannot see), the transaction Django opened for the
    save is rolled back and the user is sent back to the form with the service's message, never a 500.
    Nobody deletes here: rows are evidence, and services close or deactivate them instead.
    """

    def save_through_service(self, request, form, formsets, change: bool) -> Model:
        raise NotImplementedError

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Deferred to ``save_related``: the service needs the inlines too."""

    def save_related(self, request, form, formsets, change):
        try:
            saved = self.save_through_service(request, form, formsets, change)
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused(exc) from exc
        form.instance.pk = saved.pk
        form.instance._state.adding = False
        form.instance._state.db = saved._state.db

    def construct_change_message(self, request, form, formsets, add=False):
        """The inlines were saved by the service (their change is in its audit event), not by formsets."""
        return super().construct_change_message(request, form, [], add)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            prefix = "Not allowed: " if isinstance(refused.error, PermissionDenied) else ""
            for text in error_messages(refused.error):
                messages.error(request, prefix + text)
            return HttpResponseRedirect(request.get_full_path())


def error_messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return [
                f"{'' if field == '__all__' else field + ': '}{m}" for field, ms in exc.message_dict.items() for m in ms
            ]
        return list(exc.messages)
    return [str(exc) or "You do not have permission to do that."]


def call_service(request, func: Callable, *, success: str = "", **kwargs):
    """Run a service; turn PermissionDenied / ValidationError into an error message (never a 500).

    Returns the service's result, or ``None`` if it refused.
    """
    try:
        result = func(**kwargs)
    except PermissionDenied as exc:
        messages.error(request, "Not allowed: " + " ".join(error_messages(exc)))
        return None
    except ValidationError as exc:
        for text in error_messages(exc):
            messages.error(request, text)
        return None
    if success:
        messages.success(request, success)
    return result if result is not None else True
