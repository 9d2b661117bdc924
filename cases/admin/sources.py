"""Restricted-party lists, their members and name-screening matches: read-only, loaded by import.

Editing a member by hand would make the list differ from the authority's edition it
claims to be; members change only through ``import_restricted_list`` / ``import_ftm``
(``cases.services.restricted_lists``), which audit every load.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from cases.models import NameMatch, RestrictedList, RestrictedListIdentifier, RestrictedListMember

from .decisions import pretty_json
from .site import ReadOnlyAdmin


@admin.register(RestrictedList)
class RestrictedListAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "code",
        "kind",
        "authority",
        "version",
        "published_on",
        "member_count",
        "is_active",
        "loaded_at",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code", "authority"]
    fields = [
        "name",
        "code",
        "kind",
        "authority",
        "version",
        "published_on",
        "source_url",
        "ftm_datasets",
        "is_active",
        "loaded_from",
        "loaded_at",
        "members_link",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    @admin.display(description="members")
    def members_link(self, obj):
        url = reverse("admin:cases_restrictedlistmember_changelist") + f"?restricted_list__id__exact={obj.pk}"
        return format_html('<a href="{}">{} members</a>', url, obj.members.count())


class IdentifierInline(admin.TabularInline):
    model = RestrictedListIdentifier
    fields = ["scheme", "value"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RestrictedListMember)
class RestrictedListMemberAdmin(ReadOnlyAdmin):
    list_display = ["name", "restricted_list", "record_id", "countries", "listed_on"]
    list_filter = ["restricted_list"]
    list_select_related = ["restricted_list"]
    search_fields = ["name", "=record_id", "=identifiers__value"]
    fields = ["restricted_list", "record_id", "name", "aliases", "countries", "listed_on", "provenance", "created_at"]
    readonly_fields = fields
    inlines = [IdentifierInline]
    show_full_result_count = False

    @admin.display(description="provenance (source, file, date, record id)")
    def provenance(self, obj):
        return pretty_json(obj.source)


@admin.register(NameMatch)
class NameMatchAdmin(ReadOnlyAdmin):
    list_display = [
        "entity",
        "candidate_name",
        "matched_name",
        "score",
        "country_matches",
        "candidate_kind",
        "case_link",
    ]
    list_filter = ["country_matches"]
    list_select_related = ["entity", "case", "candidate_member__restricted_list", "candidate_entity"]
    search_fields = ["entity__name", "=entity__external_id", "candidate_name", "=case__reference"]
    autocomplete_fields = []
    ordering = ["-created_at", "-score"]

    @admin.display(description="candidate")
    def candidate_kind(self, obj):
        if obj.candidate_member_id:
            return f"member of {obj.candidate_member.restricted_list.name}"
        return f"entity {obj.candidate_entity.external_id}"

    @admin.display(description="case")
    def case_link(self, obj):
        if obj.case_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_case_change", args=[obj.case_id]), obj.case.reference
        )
