"""Entities, persons, customers: search by name, external id and identifier; the entity page explains its decision."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from cases.models import (
    CurrentDecision,
    Customer,
    Entity,
    EntityIdentifier,
    Interest,
    Jurisdiction,
    Person,
    Relationship,
    ScreeningPolicy,
)
from cases.selectors.graph import upstream_graph
from cases.services.customers import CUSTOMER_EDITABLE_FIELDS, customer_register, customer_update
from cases.services.entities import ENTITY_FIELDS, entity_create, entity_update
from cases.services.persons import PERSON_FIELDS, person_create, person_update

from .site import (
    ADMIN_MEDIA_CSS,
    ReadOnlyInline,
    ServiceFormAdmin,
    call_service,
    decision_context,
    form_value,
    inline_rows,
    outcome_badge,
)


def interests_summary(relationship: Relationship) -> str:
    """One line for all interests of a relationship (uses the prefetched ``interests``)."""
    parts = []
    for interest in relationship.interests.all():
        share = interest.share_display
        parts.append(f"{interest.get_interest_type_display()} {share}".strip())
    return "; ".join(parts) or "–"


def relationships_with_interests(qs):
    return qs.prefetch_related(Prefetch("interests", queryset=Interest.objects.order_by("interest_type", "pk")))


# ------------------------------------------------------------------ list filters


class OutcomeFilter(admin.SimpleListFilter):
    """Current automatic outcome through ``CurrentDecision`` (one indexed join)."""

    title = "current outcome"
    parameter_name = "outcome"
    field_path = "current"

    def lookups(self, request, model_admin):
        return [
            ("block", "Block"),
            ("review", "Review"),
            ("allow", "Allow"),
            ("restricted", "Restricted root (itself restricted)"),
            ("none", "Not screened"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        prefix = self.field_path
        if value in ("block", "review", "allow"):
            return queryset.filter(**{f"{prefix}__outcome": value})
        if value == "restricted":
            return queryset.filter(**{f"{prefix}__decision__is_restricted_root": True})
        if value == "none":
            return queryset.filter(**{f"{prefix}__isnull": True})
        return queryset


class JurisdictionFilter(admin.SimpleListFilter):
    """The restricted jurisdictions of the active policy as links; any code works in the URL (?jurisdiction=DE).

    A code matches the jurisdiction itself and its ISO 3166-2 subdivisions (CN matches CN-SH).
    Never lists every jurisdiction: thousands of subdivisions would make a useless sidebar.
    """

    title = "jurisdiction of registration"
    parameter_name = "jurisdiction"

    def lookups(self, request, model_admin):
        policy = ScreeningPolicy.objects.filter(is_active=True).first()
        codes = sorted(policy.restricted_country_codes()) if policy else []
        choices = [("restricted", "Any restricted (active policy)")]
        choices += [(code, f"{code} (restricted)") for code in codes]
        value = self.value()
        if value and value not in dict(choices):
            choices.append((value, value))
        return choices

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().upper()
        if not value:
            return queryset
        if value == "RESTRICTED":
            policy = ScreeningPolicy.objects.filter(is_active=True).first()
            codes = sorted(policy.restricted_country_codes()) if policy else []
        else:
            codes = [value]
        # A country matches its ISO 3166-2 subdivisions too (CN matches CN-SH); the jurisdiction table is small.
        subdivisions = Q(code__in=codes)
        for code in codes:
            subdivisions |= Q(code__startswith=f"{code}-")
        return queryset.filter(jurisdiction_id__in=Jurisdiction.objects.filter(subdivisions).values("code"))


class IsCustomerFilter(admin.SimpleListFilter):
    title = "customer"
    parameter_name = "is_customer"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(customer__isnull=False)
        if self.value() == "no":
            return queryset.filter(customer__isnull=True)
        return queryset


# ------------------------------------------------------------------ inlines


class EntityIdentifierInline(admin.TabularInline):
    model = EntityIdentifier
    extra = 0
    fields = ["scheme", "scheme_name", "value", "uri"]
    verbose_name_plural = "identifiers (LEI, registry numbers…)"


class OwnersInline(ReadOnlyInline):
    """Who owns this entity: relationships where it is the subject. Changed on the relationship's own page,
    whose save re-screens and audits (``relationship_update``)."""

    model = Relationship
    fk_name = "subject"
    verbose_name = "owner"
    verbose_name_plural = "Who owns this (owners, in force and closed)"
    fields = ["interested_entity", "interested_person", "unspecified_reason", "interests", "is_closed", "external_id"]
    readonly_fields = fields
    classes = ["cs-inline"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("interested_entity", "interested_person", "subject")
        return relationships_with_interests(qs).order_by("is_closed", "pk")

    @admin.display(description="interests")
    def interests(self, obj):
        return interests_summary(obj) if obj.pk else "–"


class HoldingsInline(OwnersInline):
    """What this entity owns: relationships where it is the interested party."""

    fk_name = "interested_entity"
    verbose_name = "holding"
    verbose_name_plural = "What it owns (holdings)"
    fields = ["subject", "interests", "is_closed", "external_id"]
    readonly_fields = fields


class PersonHoldingsInline(HoldingsInline):
    fk_name = "interested_person"


# ------------------------------------------------------------------ entity


def changed_fields(form, fields) -> dict:
    """The form's values for ``fields`` (only those it changed, when editing), as a service takes them."""
    names = [name for name in fields if name in form.cleaned_data]
    if form.instance.pk:
        names = [name for name in names if name in form.changed_data]
    return {name: form_value(form.cleaned_data[name]) for name in names}


def fixed_once_created(readonly: list[str], obj, fixed: list[str]) -> list[str]:
    return [*readonly, *fixed] if obj is not None else readonly


@admin.register(Entity)
class EntityAdmin(ServiceFormAdmin):
    list_display = ["name", "external_id", "jurisdiction_code", "entity_type", "is_listed", "outcome", "customer_ref"]
    list_display_links = ["name"]
    list_select_related = ["current", "customer"]
    list_filter = [OutcomeFilter, IsCustomerFilter, JurisdictionFilter, "entity_type", "is_listed", "is_closed"]
    search_fields = ["name", "=external_id"]
    search_help_text = "Name (contains), external id / BODS recordId, or identifier value (exact, e.g. an LEI)."
    show_full_result_count = False
    list_per_page = 50
    autocomplete_fields = ["jurisdiction", "registered_address_country"]
    inlines = [EntityIdentifierInline, OwnersInline, HoldingsInline]
    readonly_fields = ["is_closed", "created_at", "updated_at", "statement_id", "statement_date", "source"]
    change_form_template = "admin/cases/entity/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "external_id", "entity_type", "entity_subtype", "jurisdiction"]}),
        (
            "Addresses and listing",
            {
                "fields": [
                    "registered_address_country",
                    "business_address_countries",
                    "is_listed",
                    "listing",
                    "addresses",
                    "alternate_names",
                    "founding_date",
                    "dissolution_date",
                ],
                "classes": ["collapse"],
            },
        ),
        (
            "Provenance",
            {
                "fields": ["statement_id", "statement_date", "source", "is_closed", "created_at", "updated_at"],
                "classes": ["collapse"],
            },
        ),
    ]

    class Media:
        css = ADMIN_MEDIA_CSS

    @admin.display(description="jurisdiction", ordering="jurisdiction_id")
    def jurisdiction_code(self, obj):
        return obj.jurisdiction_id or "–"

    @admin.display(description="outcome", ordering="current__outcome")
    def outcome(self, obj):
        current = getattr(obj, "current", None)
        return outcome_badge(current.outcome if current else None)

    @admin.display(description="customer")
    def customer_ref(self, obj):
        customer = getattr(obj, "customer", None)
        return customer.customer_reference if customer else ""

    def get_search_results(self, request, queryset, search_term):
        """Name contains, or external id / identifier value equals: index-friendly, no duplicates."""
        term = search_term.strip()
        if not term:
            return queryset, False
        query = (
            Q(name__icontains=term)
            | Q(external_id=term)
            | Q(Exists(EntityIdentifier.objects.filter(entity=OuterRef("pk"), value=term)))
        )
        return queryset.filter(query), False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/graph.json",
                self.admin_site.admin_view(self.graph_view),
                name="{}_{}_graph".format(*info),
            ),
            path(
                "<path:object_id>/open-case/",
                self.admin_site.admin_view(self.open_case_view),
                name="{}_{}_open_case".format(*info),
            ),
        ] + super().get_urls()

    def graph_view(self, request, object_id):
        entity = get_object_or_404(Entity, pk=object_id)
        if not self.has_view_permission(request, entity):
            raise PermissionDenied
        return JsonResponse(upstream_graph(entity))

    def open_case_view(self, request, object_id):
        from django.shortcuts import redirect

        from cases.models import CaseTrigger
        from cases.services.cases import case_open

        entity = get_object_or_404(Entity, pk=object_id)
        if not self.has_view_permission(request, entity):
            raise PermissionDenied
        if request.method != "POST":
            return redirect(reverse("admin:cases_entity_change", args=[entity.pk]))
        case = call_service(
            request, case_open, subject=entity, trigger=CaseTrigger.MANUAL, actor=request.user, success="Case opened."
        )
        if case:
            return redirect(reverse("admin:cases_case_change", args=[case.pk]))
        return redirect(reverse("admin:cases_entity_change", args=[entity.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        entity = self.get_object(request, object_id)
        if entity is not None:
            extra_context.update(entity_screening_context(request, entity))
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return fixed_once_created(list(self.readonly_fields), obj, ["external_id"])

    def save_through_service(self, request, form, formsets, change):
        data = changed_fields(form, ENTITY_FIELDS)
        identifiers = next(f for f in formsets if f.model is EntityIdentifier)
        if not change or identifiers.has_changed():
            data["identifiers"] = inline_rows(identifiers)
        if change:
            return entity_update(actor=request.user, entity=form.instance, **data)
        return entity_create(actor=request.user, external_id=form.cleaned_data["external_id"], **data)


def entity_screening_context(request, entity: Entity) -> dict:
    """Decision panel, graph URL, decision history, cases: shared by the entity and case pages."""
    from cases.models import Case, EffectiveDecision

    current = CurrentDecision.objects.filter(entity=entity).select_related("decision__policy").first()
    decision = current.decision if current else None
    history = list(entity.decisions.select_related("policy").order_by("-computed_at", "-id")[:20])
    effective = EffectiveDecision.objects.filter(entity=entity).first()
    cases = list(Case.objects.filter(subject=entity).select_related("assignee").order_by("-created_at")[:10])
    customer = Customer.objects.filter(entity=entity).first()
    return {
        "screening": decision_context(decision),
        "current": current,
        "effective": effective,
        "effective_badge": outcome_badge(effective.outcome) if effective else "",
        "decision_history": [
            {"decision": d, "badge": outcome_badge(d.outcome), "ctx": decision_context(d)} for d in history
        ],
        "graph_url": reverse("admin:cases_entity_graph", args=[entity.pk]),
        "entity_cases": cases,
        "entity_customer": customer,
        "subject_entity": entity,
        "can_open_case": request.user.has_perm("cases.work_case"),
    }


# ------------------------------------------------------------------ person


@admin.register(Person)
class PersonAdmin(ServiceFormAdmin):
    list_display = ["name", "external_id", "person_type", "nationality_list", "residence_list", "tax_list"]
    list_filter = ["person_type", "is_closed"]
    search_fields = ["name", "=external_id"]
    show_full_result_count = False
    list_per_page = 50
    inlines = [PersonHoldingsInline]
    readonly_fields = ["is_closed", "created_at", "updated_at", "statement_id", "statement_date", "source"]

    class Media:
        css = ADMIN_MEDIA_CSS

    def get_readonly_fields(self, request, obj=None):
        return fixed_once_created(list(self.readonly_fields), obj, ["external_id"])

    def save_through_service(self, request, form, formsets, change):
        data = changed_fields(form, PERSON_FIELDS)
        if change:
            return person_update(actor=request.user, person=form.instance, **data)
        return person_create(actor=request.user, external_id=form.cleaned_data["external_id"], **data)

    @admin.display(description="nationalities")
    def nationality_list(self, obj):
        return ", ".join(obj.nationalities or []) or "–"

    @admin.display(description="residence")
    def residence_list(self, obj):
        return ", ".join(obj.residence_countries or []) or "–"

    @admin.display(description="tax residence")
    def tax_list(self, obj):
        return ", ".join(obj.tax_residencies or []) or "–"


# ------------------------------------------------------------------ customer


class CustomerOutcomeFilter(OutcomeFilter):
    field_path = "entity__current"


class EffectiveOutcomeFilter(admin.SimpleListFilter):
    title = "effective outcome"
    parameter_name = "effective"

    def lookups(self, request, model_admin):
        return [("block", "Block"), ("review", "Review"), ("allow", "Allow")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(entity__effective__outcome=self.value())
        return queryset


@admin.register(Customer)
class CustomerAdmin(ServiceFormAdmin):
    list_display = [
        "customer_reference",
        "entity_link",
        "jurisdiction",
        "outcome",
        "effective_outcome",
        "is_active",
        "onboarded_on",
    ]
    list_select_related = ["entity", "entity__current", "entity__effective"]
    list_filter = [CustomerOutcomeFilter, EffectiveOutcomeFilter, "is_active"]
    search_fields = ["=customer_reference", "entity__name", "=entity__external_id"]
    search_help_text = "Customer reference or entity external id (exact), or entity name (contains)."
    show_full_result_count = False
    autocomplete_fields = ["entity"]
    readonly_fields = ["created_at", "updated_at", "screening_summary"]
    list_per_page = 50

    class Media:
        css = ADMIN_MEDIA_CSS

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["entity", "customer_reference"]  # re-pointing a billing reference is refused
        return fields

    def get_fields(self, request, obj=None):
        fields = ["entity", "customer_reference", "onboarded_on", "is_active", "notes"]
        return fields + (["screening_summary", "created_at", "updated_at"] if obj else [])

    @admin.display(description="entity", ordering="entity__name")
    def entity_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_entity_change", args=[obj.entity_id]), obj.entity.name
        )

    @admin.display(description="jurisdiction")
    def jurisdiction(self, obj):
        return obj.entity.jurisdiction_id or "–"

    @admin.display(description="automatic", ordering="entity__current__outcome")
    def outcome(self, obj):
        current = getattr(obj.entity, "current", None)
        return outcome_badge(current.outcome if current else None)

    @admin.display(description="effective", ordering="entity__effective__outcome")
    def effective_outcome(self, obj):
        effective = getattr(obj.entity, "effective", None)
        return outcome_badge(effective.outcome if effective else None, title=effective.source if effective else "")

    @admin.display(description="screening")
    def screening_summary(self, obj):
        url = reverse("admin:cases_entity_change", args=[obj.entity_id])
        return format_html('<a href="{}">Decision, ownership graph and history on the entity page →</a>', url)

    def save_through_service(self, request, form, formsets, change):
        if change:
            return customer_update(
                customer=form.instance, actor=request.user, **changed_fields(form, CUSTOMER_EDITABLE_FIELDS)
            )
        customer, _ = customer_register(
            entity=form.cleaned_data["entity"],
            customer_reference=form.cleaned_data["customer_reference"],
            onboarded_on=form.cleaned_data["onboarded_on"],
            notes=form.cleaned_data.get("notes", ""),
            is_active=form.cleaned_data.get("is_active", True),
            actor=request.user,
        )
        return customer
