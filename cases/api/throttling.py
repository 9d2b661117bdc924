"""Throttling per token (per user for session auth); rates in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']."""

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from cases.models import ApiToken


class TokenRateThrottle(UserRateThrottle):
    """Scope ``token``: every token has its own budget; a user's session has another."""

    scope = "token"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # read at call time: settings can change

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ScreeningRequestThrottle(TokenRateThrottle):
    """A tighter budget for the expensive screening requests."""

    scope = "screening"
