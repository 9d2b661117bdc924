"""Decisions (immutable evidence) and import provenance: read-only for everyone."""

from __future__ import annotations

import hashlib
import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from cases.evidence_pdf import evidence_pdf_response
from cases.models import BodsStatement, Decision, ImportRun
from cases.services.replay import decision_replay

from .site import ADMIN_MEDIA_CSS, ReadOnlyAdmin, decision_context, interval, outcome_badge


def json_block(text: str) -> str:
    return format_html('<pre class="cs-json">{}</pre>', text)


def pretty_json(value) -> str:
    return json_block(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "entity_link",
        "outcome_badge",
        "look_through",
        "control_chain",
        "is_restricted_root",
        "policy_version",
        "as_of",
        "computed_at",
    ]
    list_select_related = ["entity", "policy"]
    list_filter = ["outcome", "look_through_outcome", "control_chain_outcome", "is_restricted_root", "as_of"]
    search_fields = ["=entity__external_id", "entity__name"]
    search_help_text = "Entity external id (exact) or name (contains)."
    show_full_result_count = False
    list_per_page = 50
    date_hierarchy = None
    change_form_template = "admin/cases/decision/change_form.html"
    fields = ["entity", "outcome", "policy", "as_of", "computed_at", "result_fingerprint", "payload_json"]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    @admin.display(description="entity", ordering="entity__name")
    def entity_link(self, obj):
        url = reverse("admin:cases_entity_change", args=[obj.entity_id])
        return format_html('<a href="{}">{}</a>', url, obj.entity.name)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj):
        return outcome_badge(obj.outcome)

    @admin.display(description="look-through [low – high]")
    def look_through(self, obj):
        return format_html(
            "{} <span class='cs-muted'>{}</span>",
            outcome_badge(obj.look_through_outcome),
            interval(obj.look_through_low, obj.look_through_high),
        )

    @admin.display(description="control chain [low – high]")
    def control_chain(self, obj):
        return format_html(
            "{} <span class='cs-muted'>{}</span>",
            outcome_badge(obj.control_chain_outcome),
            interval(obj.control_chain_low, obj.control_chain_high),
        )

    @admin.display(description="policy", ordering="policy__version")
    def policy_version(self, obj):
        return f"v{obj.policy.version}"

    @admin.display(description="decision object (as the API returns it)")
    def payload_json(self, obj):
        return pretty_json(obj.payload)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context["screening"] = decision_context(obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="{}_{}_replay".format(*info),
            ),
            path(
                "<int:object_id>/report.pdf",
                self.admin_site.admin_view(self.report_view),
                name="{}_{}_report".format(*info),
            ),
        ] + super().get_urls()

    def _viewable(self, request, object_id) -> Decision:
        decision = get_object_or_404(Decision.objects.select_related("entity", "policy"), pk=object_id)
        if not self.has_view_permission(request, decision):
            raise PermissionDenied
        return decision

    def replay_view(self, request, object_id):
        """One page answering "why was this customer allowed then": the decision, replayed on its own input."""
        decision = self._viewable(request, object_id)
        replay = decision_replay(decision=decision)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Replay of decision #{decision.pk} ({decision.entity.external_id}, {decision.as_of})",
            "original": decision,
            "screening": decision_context(decision),
            "replay": replay,
            "figures": _figure_rows(replay),
        }
        return TemplateResponse(request, "admin/cases/decision/replay.html", context)

    def report_view(self, request, object_id):
        decision = self._viewable(request, object_id)
        return evidence_pdf_response(decision)


def _figure_rows(replay) -> list[tuple[str, object, object, bool]]:
    """(field, stored, replayed, same) for the replay page's table."""
    stored = replay.as_json()["stored"]
    replayed = replay.as_json()["replayed"] or {}
    return [(name, value, replayed.get(name, "–"), replayed.get(name) == value) for name, value in stored.items()]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "file_name", "status", "started_at", "finished_at", "statements_read", "statements_applied"]
    list_filter = ["status"]
    search_fields = ["file_name", "=file_sha256"]
    fields = [
        "file_name",
        "file_sha256",
        "status",
        "started_at",
        "finished_at",
        "statements_read",
        "statements_applied",
        "counts_json",
        "error",
        "statements_link",
    ]
    readonly_fields = fields

    @admin.display(description="counts")
    def counts_json(self, obj):
        return pretty_json(obj.counts)

    @admin.display(description="statements")
    def statements_link(self, obj):
        url = reverse("admin:cases_bodsstatement_changelist") + f"?import_run__id__exact={obj.pk}"
        return format_html('<a href="{}">Statements of this run →</a>', url)


@admin.register(BodsStatement)
class BodsStatementAdmin(ReadOnlyAdmin):
    list_display = ["statement_id", "record_id", "record_type", "record_status", "statement_date", "import_run"]
    list_select_related = ["import_run"]
    list_filter = ["record_type", "record_status", "import_run"]
    search_fields = ["=statement_id", "=record_id", "=declaration_subject"]
    search_help_text = "statementId, recordId or declaration subject (exact)."
    show_full_result_count = False
    list_per_page = 50
    fields = [
        "statement_id",
        "record_id",
        "record_type",
        "record_status",
        "statement_date",
        "declaration_subject",
        "import_run",
        "position",
        "body_text",
        "body_sha256",
        "body_json",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA_CSS

    @admin.display(description="statement as published")
    def body_text(self, obj):
        """The stored text exactly, so an investigator can compare it with the file byte for byte."""
        return json_block(obj.body)

    @admin.display(description="SHA-256 of that text (UTF-8)")
    def body_sha256(self, obj):
        """For JSON Lines the stored text is the file's line, so an auditor can hash the line and compare."""
        return hashlib.sha256(obj.body.encode()).hexdigest()

    @admin.display(description="statement, formatted")
    def body_json(self, obj):
        return pretty_json(obj.parsed_body)
