"""API permissions. Writes are checked again (authoritatively) by the services' ``require_perm``."""

from rest_framework import permissions

from cases.models import ApiToken
from cases.roles import INTEGRATION


class TokenScope(permissions.BasePermission):
    """A token needs the read scope for safe methods and the write scope for everything else."""

    message = "This token's scopes do not allow this request."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        if request.method in permissions.SAFE_METHODS:
            return token.can_read
        self.message = "This token is read-only: it needs the write scope."
        return token.can_write


class ViewPermission(permissions.BasePermission):
    """Reads need the view's ``view_permission`` (e.g. ``cases.view_entity``)."""

    def has_permission(self, request, view) -> bool:
        needed = getattr(view, "view_permission", None)
        if needed is None:
            return True
        return request.user.has_perm(needed)


class ActionPermission(permissions.BasePermission):
    """A write needs, before its input is even validated, the permissions its service will require.

    ``view.action_permissions`` maps a viewset action (``create``, ``partial_update``, ``approve``…) to the
    permissions it needs. The services check again, authoritatively (and what depends on the input, such
    as assigning to someone else, only there); this check is so that someone who may not write at all is
    told 403, not shown validation errors about a request they could never make.
    """

    def has_permission(self, request, view) -> bool:
        needed = getattr(view, "action_permissions", {}).get(getattr(view, "action", None), ())
        missing = [permission for permission in needed if not request.user.has_perm(permission)]
        if missing:
            who = request.user.get_username()
            self.message = f"{who} lacks permission {', '.join(missing)} needed for this request."
        return not missing


class NotIntegration(permissions.BasePermission):
    """Integration accounts may never approve or reject (four-eyes belongs to people)."""

    message = "Integration accounts cannot approve or reject overrides or exemptions."

    def has_permission(self, request, view) -> bool:
        return not request.user.groups.filter(name=INTEGRATION).exists()
