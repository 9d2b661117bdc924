"""API tokens, NetBox v2 style: ``<key>.<secret>``, only an HMAC-SHA256 digest of the secret stored.

The key is a public lookup value (indexed, unique); the secret is checked with
``hmac.compare_digest`` against ``HMAC-SHA256(API_TOKEN_PEPPER, secret)``. The
pepper is ``settings.API_TOKEN_PEPPER`` (default: SECRET_KEY), so a stolen
database alone cannot be used to test guesses offline. The plaintext is returned
once by ``token_create`` and never stored.
"""

import datetime
import hashlib
import hmac
import secrets
import string
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import ApiToken
from cases.roles import require_perm

from .audit import audit_record

KEY_ALPHABET = string.ascii_lowercase + string.digits
KEY_LENGTH = 12
_KEY_CHARS = frozenset(KEY_ALPHABET)
SCOPES = ("read", "write")
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)


class TokenInvalid(Exception):
    """The presented token is malformed, unknown, wrong, expired or revoked."""


def _pepper() -> bytes:
    return str(getattr(settings, "API_TOKEN_PEPPER", None) or settings.SECRET_KEY).encode()


def token_digest(secret: str) -> str:
    return hmac.new(_pepper(), secret.encode(), hashlib.sha256).hexdigest()


def token_snapshot(token: ApiToken) -> dict:
    return {
        "name": token.name,
        "key": token.key,
        "user": token.user.get_username(),
        "scopes": token.scopes,
        "description": token.description,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


def parse_scopes(scopes) -> tuple[bool, bool]:
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",") if s.strip()]
    scopes = set(scopes or ())
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise ValidationError({"scopes": f"Scopes must be a non-empty subset of {', '.join(SCOPES)}."})
    return "read" in scopes, "write" in scopes


@transaction.atomic
def token_create(
    *, user, name: str, scopes=("read",), expires_at: datetime.datetime | None = None, description: str = "", actor=None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns (token, plaintext). The plaintext is shown once and not stored.

    ``actor`` None is the command line (an operator with shell access); a user needs ``auth.change_user``
    unless creating a token for themselves.
    """
    if actor is not None and actor.pk != user.pk and not actor.has_perm("auth.change_user"):
        raise ValidationError("Only administrators may create tokens for other users.")
    can_read, can_write = parse_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    secret = secrets.token_urlsafe(32)
    while True:
        key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))
        if not ApiToken.objects.filter(key=key).exists():
            break
    token = ApiToken(
        user=user,
        name=name,
        key=key,
        digest=token_digest(secret),
        can_read=can_read or can_write,
        can_write=can_write,
        expires_at=expires_at,
        description=description,
    )
    token.full_clean()
    token.save()
    audit_record(actor=actor, action="api_token.created", target=token, after=token_snapshot(token))
    return token, f"{key}.{secret}"


class _TTLCache:
    """Process-local {key: (expires, value)}: no pickling, no network; each web worker has its own."""

    def __init__(self, max_entries: int = 10_000):
        self._data: dict = {}
        self._max = max_entries

    def get(self, key):
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def set(self, key, value, seconds: float) -> None:
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = (time.monotonic() + seconds, value)

    def delete(self, key) -> None:
        self._data.pop(key, None)


_token_cache = _TTLCache()


def token_authenticate(*, raw: str, now: datetime.datetime | None = None, cache_seconds: int = 0) -> ApiToken:
    """The usable token for ``<key>.<secret>``, or raise ``TokenInvalid`` (one message for every reason).

    ``cache_seconds`` > 0 (the API does this for reads only) reuses the token row from the process cache
    for that long: the secret, expiry and revocation are still checked on every call against the cached
    row, so a revocation reaches reads within ``cache_seconds`` and writes at once.
    """
    key, _, secret = (raw or "").partition(".")
    # A key is KEY_ALPHABET only: anything else cannot exist, and NUL would even make PostgreSQL refuse the query.
    if not key or not secret or len(key) > 16 or not set(key) <= _KEY_CHARS:
        raise TokenInvalid("Invalid token.")
    token = _token_cache.get(key) if cache_seconds else None
    if token is None:
        token = next(iter(ApiToken.objects.select_related("user").filter(key=key)[:1]), None)
        if token is not None and cache_seconds:
            _token_cache.set(key, token, cache_seconds)
    # Compare even when the key is unknown, so timing does not tell which keys exist.
    expected = token.digest if token is not None else "0" * 64
    if not hmac.compare_digest(expected, token_digest(secret)) or token is None:
        raise TokenInvalid("Invalid token.")
    if not token.is_usable(now):
        raise TokenInvalid("Token expired or revoked.")
    if not token.user.is_active:
        raise TokenInvalid("User inactive.")
    return token


def token_touch(*, token: ApiToken, now: datetime.datetime | None = None) -> None:
    """Record use, at most once per minute per token and process (a conditional UPDATE, no lock, no audit)."""
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    if not cache.add(
        f"api-token-touched:{token.key}:{int(now.timestamp() // 60)}", 1, int(LAST_USED_RESOLUTION.total_seconds())
    ):
        return
    ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gte=now - LAST_USED_RESOLUTION).update(last_used_at=now)
    token.last_used_at = now


@transaction.atomic
def token_revoke(*, token: ApiToken, actor=None) -> ApiToken:
    """Revoke now (the token's owner, or a user with ``auth.change_user``; ``actor`` None is the command line)."""
    if actor is not None and actor.pk != token.user_id:
        require_perm(actor, "change_apitoken", "revoke other users' tokens")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        before = token_snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        _token_cache.delete(token.key)  # this process at once; other processes within their cache_seconds
        audit_record(actor=actor, action="api_token.revoked", target=token, before=before, after=token_snapshot(token))
    return token


@transaction.atomic
def token_update(*, token: ApiToken, actor, **changes) -> ApiToken:
    """Rename a token, or change its description or expiry (its owner, or ``cases.change_apitoken``).

    The owner and scopes are fixed once issued: a token that needs other rights is revoked and
    re-issued, so the trail shows who held which rights when.
    """
    if actor is None or actor.pk != token.user_id:
        require_perm(actor, "change_apitoken", "change other users' tokens")
    unknown = set(changes) - {"name", "description", "expires_at"}
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Fixed once the token is issued; revoke it and issue a new one."))
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if token.revoked_at is not None:
        raise ValidationError("This token is revoked; issue a new one instead.")
    if (
        changes.get("expires_at")
        and changes["expires_at"] != token.expires_at
        and changes["expires_at"] <= timezone.now()
    ):
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    before = token_snapshot(token)
    for field, value in changes.items():
        setattr(token, field, value)
    token.full_clean()
    if token_snapshot(token) == before:
        return token
    token.save(update_fields=list(changes))
    _token_cache.delete(token.key)
    audit_record(actor=actor, action="api_token.updated", target=token, before=before, after=token_snapshot(token))
    return token
