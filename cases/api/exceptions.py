"""One JSON error shape for every API error: ``{"type", "errors": [{"code", "detail", "attr"}]}``.

Status codes: 400 malformed input (serializer validation), 401 no/invalid credentials,
403 not allowed, 404 not found, 405, 409 conflict (unique key, concurrent change),
413 body over DATA_UPLOAD_MAX_MEMORY_SIZE,
422 a business rule refused the request (service ``ValidationError``, Idempotency-Key
reused with another body), 429 throttled, 500 unexpected (logged, no details leaked).
"""

import logging
import re

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from cases.services.idempotency import IdempotencyInProgress, IdempotencyMismatch
from cases.services.tokens import TokenInvalid

logger = logging.getLogger("cases.api")


class UnprocessableEntity(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request could not be processed."
    default_code = "unprocessable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _flatten(detail, attr=None) -> list[dict]:
    """DRF error detail (dict/list/ErrorDetail, nested) → [{"code", "detail", "attr"}] with dotted attrs."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", NON_FIELD_ERRORS) else str(key)
            items += _flatten(value, f"{attr}.{name}" if attr and name else (name or attr))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                items += _flatten(value, f"{attr}.{index}" if attr else str(index))
            else:
                items += _flatten(value, attr)
        return items
    return [{"code": getattr(detail, "code", None) or "invalid", "detail": str(detail), "attr": attr}]


def _django_validation_errors(exc: DjangoValidationError) -> list[dict]:
    if hasattr(exc, "error_dict"):
        items = []
        for field, errors in exc.error_dict.items():
            for error in errors:
                message = error.message % error.params if error.params else error.message
                items.append(
                    {
                        "code": error.code or "invalid",
                        "detail": str(message),
                        "attr": None if field == NON_FIELD_ERRORS else field,
                    }
                )
        return items
    return [
        {"code": e.code or "invalid", "detail": str(m), "attr": None}
        for e, m in zip(exc.error_list, exc.messages, strict=False)
    ]


# Error details often quote the input ('"x" is not a valid choice.'). An unpaired surrogate cannot be
# encoded as UTF-8 (rendering the response failed: a 500) and NUL cannot be stored by PostgreSQL (the
# Idempotency-Key record keeps the response): both are shown as their \\uXXXX escape instead.
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _safe(text):
    if not isinstance(text, str) or not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def error_body(type_: str, errors: list[dict]) -> dict:
    errors = [{**error, "detail": _safe(error["detail"]), "attr": _safe(error["attr"])} for error in errors]
    return {"type": type_, "errors": errors}


def api_exception_handler(exc, context):
    """DRF EXCEPTION_HANDLER: map every exception to the one error shape."""
    if isinstance(exc, TokenInvalid):
        exc = exceptions.AuthenticationFailed(str(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc))
    elif isinstance(exc, IdempotencyMismatch):
        exc = UnprocessableEntity(str(exc), code="idempotency_key_reused")
    elif isinstance(exc, IdempotencyInProgress):
        exc = Conflict(str(exc), code="idempotency_in_progress")
    elif isinstance(exc, DjangoValidationError):
        set_rollback()
        return Response(
            error_body("validation_error", _django_validation_errors(exc)), status=status.HTTP_422_UNPROCESSABLE_ENTITY
        )
    elif isinstance(exc, IntegrityError):
        set_rollback()
        return Response(
            error_body("client_error", [{"code": "conflict", "detail": "Conflicts with existing data.", "attr": None}]),
            status=status.HTTP_409_CONFLICT,
        )

    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        set_rollback()
        if isinstance(exc, exceptions.ValidationError):
            body = error_body("validation_error", _flatten(exc.detail))
        else:
            body = error_body("client_error", _flatten(exc.detail))
        return Response(body, status=exc.status_code, headers=headers)

    logger.exception("Unhandled API error", exc_info=exc)
    set_rollback()
    return Response(
        error_body("server_error", [{"code": "error", "detail": "A server error occurred.", "attr": None}]),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def json_404(request, exception=None):
    """handler404: JSON under /api/, Django's page elsewhere."""
    if _wants_json(request):
        return JsonResponse(
            error_body("client_error", [{"code": "not_found", "detail": "Not found.", "attr": None}]), status=404
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_500(request):
    """handler500: JSON under /api/, Django's page elsewhere."""
    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", [{"code": "error", "detail": "A server error occurred.", "attr": None}]),
            status=500,
        )
    from django.views.defaults import server_error

    return server_error(request)
