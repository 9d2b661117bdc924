"""Idempotency keys for POSTs: a retry with the same key and body gets the first response, never a second effect.

``idempotency_run`` inserts the (owner, key) row FIRST, in the same transaction
as the request's work. The unique constraint does the concurrency control: on
PostgreSQL a concurrent retry's INSERT waits for the first transaction, then
fails (the first committed: replay its stored response) or succeeds (the first
rolled back: run now). So exactly one request has the effect. Responses that a
retry may legitimately change (5xx, 409, 429) are not stored: the whole
transaction, key row included, is rolled back.
"""

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import IdempotencyKey

NOT_STORED = frozenset({409, 429})


class IdempotencyMismatch(Exception):
    """The key was used before with a different request."""


class IdempotencyInProgress(Exception):
    """The first request with this key has not finished (only possible without row-level locking)."""


@dataclass
class IdempotentResult:
    status: int
    body: Any
    replayed: bool


class _Discard(Exception):
    def __init__(self, status: int, body: Any):
        self.status, self.body = status, body


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body or b""):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_run(
    *, owner: str, key: str, method: str, path: str, body: bytes, call: Callable[[], tuple[int, Any]]
) -> IdempotentResult:
    """Run ``call`` once per (owner, key); ``call`` returns (status, JSON-able body)."""
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        owner=owner, key=key, method=method.upper(), path=path[:500], request_hash=fingerprint
                    )
            except IntegrityError:
                record = None
            if record is not None:
                status, data = call()
                if status >= 500 or status in NOT_STORED:
                    raise _Discard(status, data)
                record.response_status = status
                record.response_body = data
                record.save(update_fields=["response_status", "response_body"])
                return IdempotentResult(status, data, replayed=False)
    except _Discard as discarded:
        return IdempotentResult(discarded.status, discarded.body, replayed=False)
    record = IdempotencyKey.objects.get(owner=owner, key=key)
    if record.request_hash != fingerprint:
        raise IdempotencyMismatch("This Idempotency-Key was already used with a different request.")
    if record.response_status is None:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still in progress.")
    return IdempotentResult(record.response_status, record.response_body, replayed=True)


def idempotency_keys_purge(*, now: datetime.datetime | None = None) -> int:
    """Delete keys older than ``IDEMPOTENCY_KEY_TTL``; returns how many.

    A key only has to outlive its client's retries (minutes to hours). Kept for
    ever, the table would grow with every POST. After the TTL a request with an
    old key is a new request, as clients are told in docs/api.md.
    """
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
