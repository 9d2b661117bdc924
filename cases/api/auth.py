"""``Authorization: Token <key>.<secret>`` (or ``Bearer``) authentication backed by ``ApiToken``."""

from rest_framework import authentication, exceptions

from cases.services.tokens import TokenInvalid, token_authenticate, token_touch

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``request.user`` is the token's user, ``request.auth`` the ``ApiToken``."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: expected 'Token <key>.<secret>'.")
        try:
            token = token_authenticate(raw=parts[1].decode(errors="replace"))
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'
