"""``/api/v1/`` routes (plural, hyphenated) and the OpenAPI schema + offline Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import (
    schema,  # noqa: F401  (registers the token auth scheme with drf-spectacular)
    sources,
    views,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("entities", views.EntityViewSet, basename="entity")
router.register("persons", views.PersonViewSet, basename="person")
router.register("relationships", views.RelationshipViewSet, basename="relationship")
router.register("decisions", views.DecisionViewSet, basename="decision")
router.register("screening-requests", views.ScreeningRequestViewSet, basename="screening-request")
router.register("cases", views.CaseViewSet, basename="case")
router.register("overrides", views.OverrideViewSet, basename="override")
router.register("exemptions", views.ExemptionViewSet, basename="exemption")
router.register("restricted-lists", sources.RestrictedListViewSet, basename="restricted-list")
router.register("restricted-list-members", sources.RestrictedListMemberViewSet, basename="restricted-list-member")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
