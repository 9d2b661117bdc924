"""The admin site as a workplace: a home page per role instead of the model list, and the models that
mean nothing to an investigator grouped under "Administration" (in the sidebar too).

Kept outside ``cases.admin`` so that Django can build the site before the ModelAdmins register on it.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: Models an investigator works with every day, in this order; every other model is "Administration".
CASEWORK_MODELS = tuple(
    f"cases.{name}"
    for name in ("case", "override", "exemption", "customer", "entity", "person", "relationship", "decision")
)


class WorkplaceAdminSite(admin.AdminSite):
    site_header = _("Ownership screening")
    site_title = _("Ownership screening")
    index_title = _("Compliance workplace")
    index_template = "admin/cases/home.html"
    enable_nav_sidebar = False  # the home page and breadcrumbs lead everywhere; the queue needs the width
    site_url = None  # there is no public site to "view"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        models = [model for app in apps for model in app["models"]]
        casework = sorted(
            (m for m in models if m["model"]._meta.label_lower in CASEWORK_MODELS),
            key=lambda m: CASEWORK_MODELS.index(m["model"]._meta.label_lower),
        )
        administration = [m for m in models if m not in casework]
        sections = [("casework", _("Casework"), casework), ("administration", _("Administration"), administration)]
        return [
            {
                "name": name,
                "app_label": key,
                "app_url": "",
                "has_module_perms": True,
                "models": section,
            }
            for key, name, section in sections
            if section
        ]

    def index(self, request, extra_context=None):
        from cases.selectors.workplace import home_for

        context = {
            **self.each_context(request),
            "title": self.index_title,
            "subtitle": None,
            "app_list": self.get_app_list(request),
            "home": home_for(request.user),
            "now": timezone.now(),
            "may_work": request.user.has_perm("cases.work_case"),
            "may_approve": request.user.has_perm("cases.approve_override")
            or request.user.has_perm("cases.approve_exemption"),
            **(extra_context or {}),
        }
        request.current_app = self.name
        return TemplateResponse(request, self.index_template, context)


class WorkplaceAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the workplace's site (settings.INSTALLED_APPS names this)."""

    default_site = "cases.admin_site.WorkplaceAdminSite"
