from django.contrib import admin
from django.urls import include, path

from compliance import health

# Uploaded evidence (MEDIA_ROOT) is deliberately not routed: files are only served by the
# permission-checked admin download (cases/admin/casework.py, evidence_download_view).
urlpatterns = [
    path("health/", health.live, name="health-live"),
    path("health/ready/", health.ready, name="health-ready"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the admin's language switcher
    path("admin/", admin.site.urls),
    path("api/", include("cases.api.urls")),
]

# JSON (not HTML) 404/500 under /api/; Django's pages elsewhere.
handler404 = "cases.api.exceptions.json_404"
handler500 = "cases.api.exceptions.json_500"
