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

# One stored decision by its numeric id (the router's decisions/{external_id}/ is the effective decision).
stored_decision = [
    path("decisions/<int:pk>/replay/", views.DecisionRecordViewSet.as_view({"get": "replay"}), name="decision-replay"),
    path(
        "decisions/<int:pk>/report.pdf", views.DecisionRecordViewSet.as_view({"get": "report"}), name="decision-report"
    ),
]

urlpatterns = [
    path("v1/", include(stored_decision)),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
