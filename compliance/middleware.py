"""Request id and one structured access-log line per request (logger ``compliance.request``)."""

import logging
import re
import time
import uuid

from django.conf import settings

logger = logging.getLogger("compliance.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_ip(request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or with ``TRUSTED_PROXY_COUNT`` = n > 0 the n-th address from
    the right of ``X-Forwarded-For`` (the one the outermost trusted proxy saw). Used by django-axes."""
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if proxies > 0 and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


class RequestLogMiddleware:
    """Gives each request an id (the proxy's ``X-Request-ID`` if well-formed, else a new one), returns it in
    the ``X-Request-ID`` response header, and logs method, path, status, user, duration and client address.

    The query string is not logged (it may carry identifiers or cursors); headers are never logged.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        response["X-Request-ID"] = request.request_id
        if request.path.startswith("/static/"):
            return response
        user = getattr(request, "user", None)
        username = user.get_username() if user is not None and user.is_authenticated else None
        token = getattr(request, "auth", None)
        status = response.status_code
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        logger.log(
            level,
            "%s %s %s %.1fms",
            request.method,
            request.path,
            status,
            duration_ms,
            extra={
                "request_id": request.request_id,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": duration_ms,
                "user": username,
                "token_key": getattr(token, "key", None),
                "client_ip": client_ip(request),
            },
        )
        return response
