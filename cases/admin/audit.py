"""The audit trail: read-only for everyone (no add, change or delete, superusers included)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from cases.models import AuditEvent

from .site import ADMIN_MEDIA_CSS, ReadOnlyAdmin


class TargetTypeFilter(admin.SimpleListFilter):
    title = "target type"
    parameter_name = "target_type"

    def lookups(self, request, model_admin):
        return [
            ("cases.case", "Case"),
            ("cases.override", "Override"),
            ("cases.exemption", "Exemption"),
            ("cases.entity", "Entity (decisions, effective outcome)"),
            ("cases.screeningpolicy", "Screening policy"),
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(target_type=self.value())
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "occurred_at", "actor_label", "action", "target", "reason_short"]
    list_filter = [TargetTypeFilter, "action"]
    search_fields = ["=target_id", "target_label", "=actor_label", "=action"]
    search_help_text = (
        "Target id (exact, e.g. a case's id), target label (contains, e.g. SC-2026-000001 or a company name), "
        "actor username or action (exact)."
    )
    show_full_result_count = False
    list_per_page = 100
    ordering = ["-seq"]
    fields = [
        "seq",
        "occurred_at",
        "actor_label",
        "action",
        "target",
        "target_type",
        "target_id",
        "reason",
        "before_json",
        "after_json",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    def get_actions(self, request):
        return {}

    @admin.display(description="target")
    def target(self, obj):
        app_label, _, model = obj.target_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model}_change", args=[obj.target_id])
        except NoReverseMatch:
            return obj.target_label or f"{obj.target_type} {obj.target_id}"
        return format_html('<a href="{}">{}</a>', url, obj.target_label or f"{obj.target_type} {obj.target_id}")

    @admin.display(description="reason")
    def reason_short(self, obj):
        return (obj.reason[:80] + "…") if len(obj.reason) > 80 else obj.reason

    @admin.display(description="before")
    def before_json(self, obj):
        return format_html('<pre class="cs-json">{}</pre>', json.dumps(obj.before, indent=2, ensure_ascii=False))

    @admin.display(description="after")
    def after_json(self, obj):
        return format_html('<pre class="cs-json">{}</pre>', json.dumps(obj.after, indent=2, ensure_ascii=False))
