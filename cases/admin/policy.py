"""Jurisdictions and the versioned screening policy (editing publishes a new version)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from cases.models import Jurisdiction, ScreeningPolicy
from cases.services.policy import policy_publish

from .site import ADMIN_MEDIA_CSS


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "restricted"]
    search_fields = ["code", "name"]
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request)

    def changelist_view(self, request, extra_context=None):
        policy = ScreeningPolicy.objects.filter(is_active=True).first()
        self._restricted = policy.restricted_country_codes() if policy else frozenset()
        return super().changelist_view(request, extra_context)

    @admin.display(description="restricted in the active policy", boolean=True)
    def restricted(self, obj):
        return ScreeningPolicy.code_is_restricted(obj.code, getattr(self, "_restricted", frozenset()))

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PolicyPublishForm(forms.ModelForm):
    class Meta:
        model = ScreeningPolicy
        fields = [
            "restricted_jurisdictions",
            "threshold",
            "threshold_inclusive",
            "count_nationality",
            "count_residence",
            "count_tax_residence",
            "method",
            "notes",
        ]

    def clean_notes(self):
        notes = (self.cleaned_data.get("notes") or "").strip()
        if not notes:
            raise ValidationError("Say why this version is published (it is kept with every decision's policy).")
        return notes


@admin.register(ScreeningPolicy)
class ScreeningPolicyAdmin(admin.ModelAdmin):
    """A version is never edited: "Publish a new version" opens the add form prefilled from the active one,
    and saving calls ``policy_publish`` (new version, made active, audited)."""

    form = PolicyPublishForm
    list_display = ["version", "active", "threshold_text", "method", "restricted_list", "created_at", "created_by"]
    list_select_related = ["created_by"]
    autocomplete_fields = ["restricted_jurisdictions"]
    readonly_fields = ["version", "is_active", "created_at", "created_by"]
    ordering = ["-version"]

    class Media:
        css = ADMIN_MEDIA_CSS

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("restricted_jurisdictions")

    @admin.display(description="active", boolean=True, ordering="is_active")
    def active(self, obj):
        return obj.is_active

    @admin.display(description="majority")
    def threshold_text(self, obj):
        return f"{'≥' if obj.threshold_inclusive else '>'} {obj.threshold.normalize():f} %"

    @admin.display(description="restricted jurisdictions")
    def restricted_list(self, obj):
        return ", ".join(sorted(j.code for j in obj.restricted_jurisdictions.all()))

    def has_change_permission(self, request, obj=None):
        return False  # versions are immutable; publish a new one instead

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        source = ScreeningPolicy.objects.filter(pk=request.GET.get("from")).first() if "from" in request.GET else None
        source = source or ScreeningPolicy.objects.filter(is_active=True).first()
        if source is None:
            return super().get_changeform_initial_data(request)
        return {
            "restricted_jurisdictions": list(source.restricted_jurisdictions.values_list("code", flat=True)),
            "threshold": source.threshold,
            "threshold_inclusive": source.threshold_inclusive,
            "count_nationality": source.count_nationality,
            "count_residence": source.count_residence,
            "count_tax_residence": source.count_tax_residence,
            "method": source.method,
        }

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(PolicyPublishForm.Meta.fields)
        return ["version", "is_active"] + list(PolicyPublishForm.Meta.fields) + ["created_at", "created_by"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id is None:
            extra_context["title"] = "Publish a new screening-policy version"
            extra_context["subtitle"] = None
        elif self.has_add_permission(request):
            url = "../../add/?from=" + str(object_id)
            extra_context["publish_hint"] = format_html(
                '<a class="button" href="{}">Publish a new version based on this one</a>', url
            )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        published = policy_publish(
            user=request.user,
            restricted_codes=[j.code for j in data["restricted_jurisdictions"]],
            threshold=data["threshold"],
            threshold_inclusive=data["threshold_inclusive"],
            count_nationality=data["count_nationality"],
            count_residence=data["count_residence"],
            count_tax_residence=data["count_tax_residence"],
            method=data["method"],
            notes=data["notes"],
        )
        # The admin logs and redirects to ``obj``: make it the published version.
        for field in ScreeningPolicy._meta.concrete_fields:
            setattr(obj, field.attname, getattr(published, field.attname))
        obj._state.adding = False
        obj._state.db = published._state.db
        messages.info(
            request,
            f"Policy v{published.version} is now active. Existing decisions keep the version they were computed "
            "under; re-screen customers to apply it.",
        )

    def save_related(self, request, form, formsets, change):
        pass  # policy_publish already set the restricted jurisdictions
