"""Throttling per token (per user for session auth); rates in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'].

A fixed-window counter (``cache.add`` + ``cache.incr``: O(1) per request) instead of DRF's
sliding log, which stores and re-pickles every request time of the window (1200 floats at
1200/minute). A client can burst up to twice the rate across a window boundary. With the
default local-memory cache the budget is per web process; configure a shared cache
(``CACHE_URL=redis://...``) for one budget across processes.
"""

import time

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from cases.models import ApiToken


class TokenRateThrottle(UserRateThrottle):
    """Scope ``token``: every token has its own budget; a user's session has another."""

    scope = "token"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # read at call time: settings can change

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        counter = f"{key}:{window}"
        self.cache.add(counter, 0, self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # evicted between add and incr
            self.cache.set(counter, 1, self.duration + 1)
            count = 1
        if count > self.num_requests:
            self.wait_seconds = max(1, int((window + 1) * self.duration - now) + 1)
            return False
        return True

    def wait(self):
        return getattr(self, "wait_seconds", None)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.key}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ScreeningRequestThrottle(TokenRateThrottle):
    """A tighter budget for the expensive screening requests."""

    scope = "screening"
