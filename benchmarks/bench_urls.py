"""Benchmark-only URLconf: the real URLs plus a bare Django view reading the same decision."""

from django.http import JsonResponse
from django.urls import path

from cases.models import EffectiveDecision
from compliance.urls import urlpatterns as real_urlpatterns


def bare_decision(request, external_id: str):
    """The floor: one query, the stored decision payload, JsonResponse; no auth, no DRF."""
    row = (
        EffectiveDecision.objects.select_related("decision")
        .only("outcome", "source", "decision__payload")
        .filter(entity__external_id=external_id)
        .first()
    )
    if row is None:
        return JsonResponse({"detail": "not found"}, status=404)
    return JsonResponse({**row.decision.payload, "outcome": row.outcome, "source": row.source})


urlpatterns = [path("bench/bare/<str:external_id>/", bare_decision), *real_urlpatterns]
