"""``Authorization: Token <key>.<secret>`` (or ``Bearer``) authentication backed by ``ApiToken``."""

from rest_framework import authentication, exceptions, permissions

from cases.services.tokens import TokenInvalid, _TTLCache, token_authenticate, token_touch

KEYWORDS = ("token", "bearer")
#: Reads reuse a user's permission set for this long (two queries saved per request); writes always
#: re-read permissions from the database, and the token and the user's active flag are checked every time.
READ_PERMISSION_CACHE_SECONDS = 30
#: Reads reuse the token row for this long (its secret, expiry and revocation are still checked).
READ_TOKEN_CACHE_SECONDS = 10


_permission_cache = _TTLCache()


def _cache_read_permissions(user) -> None:
    """Prime Django's per-user permission cache (``_perm_cache``) from a short-lived process cache."""
    perms = _permission_cache.get(user.pk)
    if perms is None:
        perms = user.get_all_permissions()  # fills user._perm_cache
        _permission_cache.set(user.pk, perms, READ_PERMISSION_CACHE_SECONDS)
    else:
        user._perm_cache = perms


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``request.user`` is the token's user, ``request.auth`` the ``ApiToken``."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: expected 'Token <key>.<secret>'.")
        try:
            safe = request.method in permissions.SAFE_METHODS
            token = token_authenticate(
                raw=parts[1].decode(errors="replace"), cache_seconds=READ_TOKEN_CACHE_SECONDS if safe else 0
            )
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        token_touch(token=token)
        if request.method in permissions.SAFE_METHODS and not token.user.is_superuser:
            _cache_read_permissions(token.user)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'
