from django.contrib import admin
from django.urls import path

admin.site.site_header = "Ownership screening"
admin.site.site_title = "Ownership screening"
admin.site.index_title = "Compliance workplace"

urlpatterns = [
    path("admin/", admin.site.urls),
]
