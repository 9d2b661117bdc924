"""Relationships (interested party → subject) with their interests."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html

from cases.models import Interest, Relationship
from cases.services.relationships import relationship_close, relationship_create, relationship_update

from .casework import bulk
from .parties import changed_fields, fixed_once_created, interests_summary
from .site import ADMIN_MEDIA_CSS, ServiceFormAdmin, inline_rows

#: What the relationship form hands to the service besides the interests (parties by external id).
PARTY_FIELDS = ("subject", "interested_entity", "interested_person")
RELATIONSHIP_FIELDS = ("unspecified_reason", "unspecified_description", "is_component", "component_record_ids")


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
class RelationshipAdmin(ServiceFormAdmin):
    list_display = ["external_id", "owner", "subject_link", "interests", "is_closed", "statement_date"]
    list_select_related = ["subject", "interested_entity", "interested_person"]
    list_filter = [InterestedPartyKindFilter, "is_closed", "is_component", "unspecified_reason"]
    search_fields = ["=external_id", "subject__name", "=subject__external_id"]
    search_help_text = "Relationship or subject external id (exact), or subject name (contains)."
    show_full_result_count = False
    list_per_page = 50
    autocomplete_fields = ["subject", "interested_entity", "interested_person"]
    inlines = [InterestInline]
    actions = ["close_selected"]
    readonly_fields = ["is_closed", "created_at", "updated_at", "statement_id", "statement_date", "source"]
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

    def get_readonly_fields(self, request, obj=None):
        return fixed_once_created(list(self.readonly_fields), obj, ["external_id"])

    def save_through_service(self, request, form, formsets, change):
        data = changed_fields(form, RELATIONSHIP_FIELDS)
        parties = {name: form.cleaned_data.get(name) for name in PARTY_FIELDS}
        if not change or {*PARTY_FIELDS, "unspecified_reason"} & set(form.changed_data):
            data.update({name: party.external_id if party else None for name, party in parties.items()})
            data.setdefault("unspecified_reason", form.cleaned_data.get("unspecified_reason") or "")
            data.setdefault("unspecified_description", form.cleaned_data.get("unspecified_description") or "")
        interests = formsets[0]
        if not change or interests.has_changed():
            data["interests"] = inline_rows(interests)
        if change:
            return relationship_update(actor=request.user, relationship=form.instance, **data)
        return relationship_create(actor=request.user, external_id=form.cleaned_data["external_id"], **data)

    def has_close_permission(self, request):
        return request.user.has_perm("cases.change_relationship")

    @admin.action(description="Close selected relationships (kept as evidence)", permissions=["close"])
    def close_selected(self, request, queryset):
        bulk(
            request,
            queryset.filter(is_closed=False),
            lambda relationship: relationship_close(actor=request.user, relationship=relationship, reason="admin"),
            verb="Closed",
        )
