"""Read endpoints for restricted-party lists and their members (``/api/v1/restricted-lists/``…).

Read-only on purpose: a list is an authority's edition, loaded by import
(``docs/data-sources.md``), never edited over the API.
"""

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from cases.models import RestrictedList, RestrictedListMember

from .views import READ_ERRORS, BaseViewSet

LIST_OUT = OpenApiExample(
    "The 1260H list",
    value={
        "code": "us-dod-1260h",
        "name": "US DoD 1260H list (Chinese military companies)",
        "authority": "US Department of Defense",
        "kind": "military",
        "version": "2025-01-07",
        "published_on": "2025-01-07",
        "source_url": "https://www.opensanctions.org/datasets/us_dod_chinese_milcorps/",
        "is_active": True,
        "loaded_at": "2025-01-08T06:45:12Z",
    },
    response_only=True,
)
MEMBER_OUT = OpenApiExample(
    "A 1260H member found by its LEI",
    value={
        "restricted_list": "us-dod-1260h",
        "record_id": "NK-milcorp",
        "name": "AeroDynamics Technologies B.V.",
        "aliases": ["AeroDyn Tech"],
        "countries": ["NL"],
        "listed_on": "2024-02-01",
        "identifiers": [
            {"scheme": "FTM", "value": "NK-milcorp"},
            {"scheme": "XI-LEI", "value": "5299000AERODYN000018"},
        ],
        "provenance": {
            "system": "ftm",
            "file": "entities.ftm.json",
            "line": 4,
            "datasets": ["us_dod_chinese_milcorps"],
        },
    },
    response_only=True,
)


class RestrictedListSerializer(serializers.ModelSerializer):
    class Meta:
        model = RestrictedList
        fields = [
            "code",
            "name",
            "authority",
            "kind",
            "version",
            "published_on",
            "source_url",
            "is_active",
            "loaded_at",
        ]


class RestrictedListMemberSerializer(serializers.ModelSerializer):
    restricted_list = serializers.CharField(source="restricted_list.code")
    identifiers = serializers.SerializerMethodField()
    provenance = serializers.JSONField(source="source", read_only=True)

    class Meta:
        model = RestrictedListMember
        fields = [
            "restricted_list",
            "record_id",
            "name",
            "aliases",
            "countries",
            "listed_on",
            "identifiers",
            "provenance",
        ]

    def get_identifiers(self, obj) -> list[dict[str, str]]:
        return [{"scheme": i.scheme, "value": i.value} for i in obj.identifiers.all()]


class RestrictedListMemberFilterSet(django_filters.FilterSet):
    restricted_list = django_filters.CharFilter(field_name="restricted_list__code")
    identifier = django_filters.CharFilter(field_name="identifiers__value", distinct=True)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = RestrictedListMember
        fields = ["restricted_list", "record_id"]


@extend_schema_view(
    list=extend_schema(
        summary="List restricted-party lists",
        responses={200: RestrictedListSerializer(many=True), **READ_ERRORS},
        examples=[LIST_OUT],
    ),
    retrieve=extend_schema(
        summary="One restricted-party list",
        responses={200: RestrictedListSerializer, **READ_ERRORS},
        examples=[LIST_OUT],
    ),
)
class RestrictedListViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """The lists screening checks (1260H, Entity List, OFAC SDN / NS-CMIC …) and the edition loaded."""

    queryset = RestrictedList.objects.order_by("id")
    serializer_class = RestrictedListSerializer
    lookup_field = "code"
    view_permission = "cases.view_restrictedlist"


@extend_schema_view(
    list=extend_schema(
        summary="List restricted-list members",
        responses={200: RestrictedListMemberSerializer(many=True), **READ_ERRORS},
        examples=[MEMBER_OUT],
    ),
)
class RestrictedListMemberViewSet(mixins.ListModelMixin, BaseViewSet):
    """Members with their identifiers (``?identifier=<LEI>`` finds a company's listings) and provenance."""

    queryset = (
        RestrictedListMember.objects.select_related("restricted_list").prefetch_related("identifiers").order_by("id")
    )
    serializer_class = RestrictedListMemberSerializer
    filterset_class = RestrictedListMemberFilterSet
    view_permission = "cases.view_restrictedlistmember"
