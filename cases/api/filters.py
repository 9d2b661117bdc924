"""django-filter FilterSets, one per resource (NetBox style: ``?external_id=…&jurisdiction=CN&q=acme``)."""

import datetime

import django_filters
from django import forms
from django.db.models import Q
from django_filters.fields import IsoDateTimeField

from cases.models import Case, CaseStatus, EffectiveDecision, Entity, Outcome, Person, Relationship


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    pass


class _UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is not None:
            try:
                value = value.astimezone(datetime.UTC)  # 9999-12-31T23:59:59-01:00 is after the year 9999 in UTC
            except OverflowError as exc:
                raise forms.ValidationError("Date and time out of range.", code="invalid") from exc
        return value


class UpdatedSinceFilter(django_filters.IsoDateTimeFilter):
    """``updated_at >= value``, the value converted to UTC.

    ISO 8601 allows offsets up to ±23:59, PostgreSQL only ±15:59 ("time zone displacement out of
    range", a 500), and near year 1 or 9999 the conversion overflows: such values are a 400 or UTC.
    """

    field_class = _UtcIsoDateTimeField

    def __init__(self, **kwargs):
        super().__init__(field_name="updated_at", lookup_expr="gte", **kwargs)


class EntityFilterSet(django_filters.FilterSet):
    external_id = CharInFilter(field_name="external_id", help_text="One or more, comma-separated.")
    identifier = django_filters.CharFilter(field_name="identifiers__value", distinct=True, help_text="Any scheme.")
    jurisdiction = django_filters.CharFilter(method="filter_jurisdiction", help_text="ISO code; CN also matches CN-SH.")
    outcome = django_filters.ChoiceFilter(
        field_name="current__outcome", choices=Outcome.choices, help_text="Current automatic outcome."
    )
    effective_outcome = django_filters.ChoiceFilter(field_name="effective__outcome", choices=Outcome.choices)
    q = django_filters.CharFilter(method="filter_q", help_text="Name contains (case-insensitive).")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Entity
        fields = ["entity_type", "is_listed", "is_closed"]

    def filter_jurisdiction(self, queryset, name, value):
        code = value.strip().upper()
        return queryset.filter(Q(jurisdiction_id=code) | Q(jurisdiction__code__startswith=f"{code}-"))

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(external_id=value))


class PersonFilterSet(django_filters.FilterSet):
    external_id = CharInFilter(field_name="external_id")
    jurisdiction = django_filters.CharFilter(
        method="filter_jurisdiction", help_text="Nationality, residence or tax residence (ISO country code)."
    )
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Person
        fields = ["person_type", "is_closed"]

    def filter_jurisdiction(self, queryset, name, value):
        token = f'"{value.strip().upper()}"'
        return queryset.filter(
            Q(nationalities__icontains=token)
            | Q(residence_countries__icontains=token)
            | Q(tax_residencies__icontains=token)
        )


class RelationshipFilterSet(django_filters.FilterSet):
    external_id = CharInFilter(field_name="external_id")
    subject = django_filters.CharFilter(field_name="subject__external_id", help_text="Owned entity's external id.")
    interested_party = django_filters.CharFilter(method="filter_party", help_text="Owner's external id.")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Relationship
        fields = ["is_closed"]

    def filter_party(self, queryset, name, value):
        return queryset.filter(Q(interested_entity__external_id=value) | Q(interested_person__external_id=value))


class DecisionFilterSet(django_filters.FilterSet):
    entity = CharInFilter(field_name="entity__external_id")
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    source = django_filters.ChoiceFilter(choices=[("automatic",) * 2, ("override",) * 2, ("exemption",) * 2])
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = EffectiveDecision
        fields = []


class CaseFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CaseStatus.choices)
    subject = django_filters.CharFilter(field_name="subject__external_id")
    assignee = django_filters.CharFilter(field_name="assignee__username")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Case
        fields = ["priority", "trigger", "is_overdue"]
