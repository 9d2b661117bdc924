from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Ownership screening"
admin.site.site_title = "Ownership screening"
admin.site.index_title = "Compliance workplace"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("cases.api.urls")),
]

# JSON (not HTML) 404/500 under /api/; Django's pages elsewhere.
handler404 = "cases.api.exceptions.json_404"
handler500 = "cases.api.exceptions.json_500"
