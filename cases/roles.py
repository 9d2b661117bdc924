"""Roles as Django groups, and the permission check every service uses.

``roles_sync()`` creates or updates the four groups so each has exactly the
permissions listed here. It is idempotent; the data migration calls it with the
historical app registry, and ``post_migrate`` calls it again (so groups come
back after a test-database flush and pick up permissions of new models).

Permissions are checked in the services (``require_perm``), never only in the
admin: the admin and the API call the same services and cannot bypass them.
"""

from django.core.exceptions import PermissionDenied

INVESTIGATOR = "Investigator"
MANAGER = "Manager"
AUDITOR = "Auditor"
INTEGRATION = "Integration"

_VIEW_PARTIES = [
    "cases.view_entity",
    "cases.view_entityidentifier",
    "cases.view_person",
    "cases.view_relationship",
    "cases.view_interest",
    "cases.view_customer",
    "cases.view_jurisdiction",
    "cases.view_decision",
    "cases.view_currentdecision",
    "cases.view_effectivedecision",
    "cases.view_screeningpolicy",
    "cases.view_decisionchangeevent",
    "cases.view_restrictedlist",
    "cases.view_restrictedlistmember",
    "cases.view_restrictedlistidentifier",
    "cases.view_namematch",
]
_VIEW_CASEWORK = [
    "cases.view_case",
    "cases.view_historicalcase",
    "cases.view_casenote",
    "cases.view_caseevidence",
    "cases.view_override",
    "cases.view_historicaloverride",
    "cases.view_exemption",
    "cases.view_historicalexemption",
]
_WORK = [
    "cases.work_case",
    "cases.add_casenote",
    "cases.add_caseevidence",
    "cases.propose_override",
    "cases.request_exemption",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    INVESTIGATOR: _VIEW_PARTIES + _VIEW_CASEWORK + _WORK,
    MANAGER: _VIEW_PARTIES
    + _VIEW_CASEWORK
    + _WORK
    + [
        "cases.assign_case",
        "cases.reopen_case",
        "cases.approve_override",
        "cases.approve_exemption",
        "cases.add_screeningpolicy",
        "cases.change_screeningpolicy",
    ],
    # Auditor: every view_* permission of the cases app (audit included), added in roles_sync; nothing else.
    AUDITOR: ["cases.view_auditevent", "auth.view_user", "auth.view_group"],
    INTEGRATION: [
        "cases.view_entity",
        "cases.view_customer",
        "cases.add_customer",
        "cases.change_customer",
        "cases.view_decision",
        "cases.view_currentdecision",
        "cases.view_effectivedecision",
        # The integration API (docs/api.md): parties and relationships in, decisions and cases out.
        "cases.view_person",
        "cases.view_entityidentifier",
        "cases.view_relationship",
        "cases.view_interest",
        "cases.add_entity",
        "cases.change_entity",
        "cases.add_person",
        "cases.change_person",
        "cases.add_relationship",
        "cases.change_relationship",
        "cases.view_case",
        "cases.view_decisionchangeevent",
        "cases.view_restrictedlist",
        "cases.view_restrictedlistmember",
    ],
}


def roles_sync(*, apps=None, verbosity: int = 0) -> None:
    """Create/update the role groups with exactly ROLE_PERMISSIONS (idempotent)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def lookup(names):
        perms = []
        for name in names:
            app_label, codename = name.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is None:
                if verbosity:
                    print(f"roles_sync: permission {name} does not exist yet")
                continue
            perms.append(perm)
        return perms

    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = lookup(names)
        if role == AUDITOR:
            perms += list(Permission.objects.filter(content_type__app_label="cases", codename__startswith="view_"))
        group.permissions.set({p.pk for p in perms})


def require_perm(user, codename: str, what: str = "") -> None:
    """Raise PermissionDenied unless ``user`` is an active user holding ``cases.<codename>``."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDenied(f"An active, signed-in user is required to {what or codename}.")
    if not user.has_perm(f"cases.{codename}"):
        raise PermissionDenied(f"{user.get_username()} lacks permission cases.{codename} needed to {what or codename}.")


def post_migrate_roles_sync(sender, **kwargs) -> None:
    if getattr(sender, "name", None) == "cases":
        roles_sync(apps=kwargs.get("apps"))
