"""Relationships (interested party → subject) with their interests."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html

from cases.models import Interest, Relationship

from .parties import interests_summary
from .site import ADMIN_MEDIA_CSS


class InterestInline(admin.TabularInline):
    model = Interest
    extra = 0
    fields = [
        "interest_type",
        "direct_or_indirect",
        "share_exact",
        "share_minimum",
        "share_minimum_exclusive",
        "share_maximum",
        "share_maximum_exclusive",
        "start_date",
        "end_date",
        "beneficial_ownership_or_control",
    ]


class InterestedPartyKindFilter(admin.SimpleListFilter):
    title = "interested party"
    parameter_name = "party"

    def lookups(self, request, model_admin):
        return [("entity", "Entity"), ("person", "Person"), ("unspecified", "Unspecified (BODS)")]

    def queryset(self, request, queryset):
        if self.value() == "entity":
            return queryset.filter(interested_entity__isnull=False)
        if self.value() == "person":
            return queryset.filter(interested_person__isnull=False)
        if self.value() == "unspecified":
            return queryset.exclude(unspecified_reason="")
        return queryset


@admin.register(Relationship)
class RelationshipAdmin(admin.ModelAdmin):
    list_display = ["external_id", "owner", "subject_link", "interests", "is_closed", "statement_date"]
    list_select_related = ["subject", "interested_entity", "interested_person"]
    list_filter = [InterestedPartyKindFilter, "is_closed", "is_component", "unspecified_reason"]
    search_fields = ["=external_id", "subject__name", "=subject__external_id"]
    search_help_text = "Relationship or subject external id (exact), or subject name (contains)."
    show_full_result_count = False
    list_per_page = 50
    autocomplete_fields = ["subject", "interested_entity", "interested_person"]
    inlines = [InterestInline]
    readonly_fields = ["created_at", "updated_at", "statement_id", "statement_date", "source"]
    fieldsets = [
        (None, {"fields": ["external_id", "subject", "interested_entity", "interested_person"]}),
        ("Unspecified interested party (BODS)", {"fields": ["unspecified_reason", "unspecified_description"]}),
        ("Indirect summaries", {"fields": ["is_component", "component_record_ids"], "classes": ["collapse"]}),
        (
            "Provenance",
            {"fields": ["statement_id", "statement_date", "source", "is_closed", "created_at", "updated_at"]},
        ),
    ]

    class Media:
        css = ADMIN_MEDIA_CSS

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("interests", queryset=Interest.objects.order_by("interest_type", "pk")))
        )

    @admin.display(description="owner (interested party)")
    def owner(self, obj):
        if obj.interested_entity_id:
            url = reverse("admin:cases_entity_change", args=[obj.interested_entity_id])
        elif obj.interested_person_id:
            url = reverse("admin:cases_person_change", args=[obj.interested_person_id])
        else:
            return obj.interested_party_label
        return format_html('<a href="{}">{}</a>', url, obj.interested_party_label)

    @admin.display(description="subject (owned)", ordering="subject__name")
    def subject_link(self, obj):
        url = reverse("admin:cases_entity_change", args=[obj.subject_id])
        return format_html('<a href="{}">{}</a>', url, obj.subject.name)

    @admin.display(description="interests")
    def interests(self, obj):
        return interests_summary(obj)
