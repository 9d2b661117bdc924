"""The audit chain's secrets: the HMAC keyring that keys every row, and the Ed25519 checkpoint keys.

None of them is in the database, which is the point: an attacker with database access alone can
edit rows and recompute public SHA-256 hashes, but cannot produce an HMAC under a key they do not
have, nor sign a checkpoint. Importable before Django is configured (the test settings use
``write_signing_key``); settings are read only inside the functions.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache

LEGACY_KEY_ID = "legacy"  # rows written before the chain was keyed: plain SHA-256 (migration 0008)
DEV_KEY_ID = "dev"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class AuditKeyError(Exception):
    """The audit keys are missing or malformed: a configuration error, reported with what to set."""


@dataclass(frozen=True)
class AuditKeyring:
    keys: dict[str, bytes]
    current_id: str

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_id]


def parse_hmac_keys(text: str, current_id: str = "") -> AuditKeyring:
    """Parse ``AUDIT_HMAC_KEYS`` ("keyid:secret,…"); the current id defaults to the last listed."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, secret = item.partition(":")
        if not sep or not _KEY_ID.match(key_id) or key_id == LEGACY_KEY_ID:
            raise AuditKeyError(
                f"AUDIT_HMAC_KEYS: {key_id!r} is not a valid key id (1-32 of A-Z a-z 0-9 _ . -, not 'legacy')."
            )
        if len(secret) < 32:
            raise AuditKeyError(f"AUDIT_HMAC_KEYS: the secret of key {key_id!r} must be at least 32 characters.")
        if key_id in keys:
            raise AuditKeyError(f"AUDIT_HMAC_KEYS: key id {key_id!r} is listed twice.")
        keys[key_id] = secret.encode("utf-8")
    if not keys:
        raise AuditKeyError("AUDIT_HMAC_KEYS is empty: set it to 'keyid:secret' (docs/security.md, T14).")
    current = current_id or list(keys)[-1]
    if current not in keys:
        raise AuditKeyError(f"AUDIT_HMAC_KEY_ID {current!r} is not one of AUDIT_HMAC_KEYS' ids ({', '.join(keys)}).")
    return AuditKeyring(keys=keys, current_id=current)


def audit_keyring() -> AuditKeyring:
    """The configured keyring; in DEBUG without keys, one derived from SECRET_KEY (development only)."""
    from django.conf import settings

    return _keyring(settings.AUDIT_HMAC_KEYS, settings.AUDIT_HMAC_KEY_ID, settings.DEBUG, settings.SECRET_KEY)


@lru_cache(maxsize=8)
def _keyring(keys_text: str, current_id: str, debug: bool, secret_key: str) -> AuditKeyring:
    if not keys_text.strip() and debug:
        derived = hmac.new(secret_key.encode("utf-8"), b"audit-chain development key", hashlib.sha256).digest()
        return AuditKeyring(keys={DEV_KEY_ID: derived}, current_id=DEV_KEY_ID)
    return parse_hmac_keys(keys_text, current_id)


# --- Ed25519 checkpoint keys -------------------------------------------------------------------


def write_signing_key(path: str | os.PathLike) -> str:
    """Create a new Ed25519 private key file (PEM, mode 0600, never overwritten); returns its public PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return public_pem(key.public_key())


def public_pem(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def key_fingerprint(public_key) -> str:
    """A short, stable id of a public key (stored in each checkpoint: which key signed it)."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def signing_key():
    """The checkpoint signing key; in DEBUG a missing file is generated (development only)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.conf import settings

    path = settings.AUDIT_SIGNING_KEY_FILE
    if not path:
        raise AuditKeyError("AUDIT_SIGNING_KEY_FILE is not set: create one with `manage.py audit_keygen FILE`.")
    if not os.path.exists(path):
        if not settings.DEBUG:
            raise AuditKeyError(f"AUDIT_SIGNING_KEY_FILE {path} does not exist (`manage.py audit_keygen {path}`).")
        write_signing_key(path)
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"AUDIT_SIGNING_KEY_FILE {path} is not an Ed25519 private key.")
    return key


def verify_keys() -> dict:
    """Public keys that may have signed checkpoints, by fingerprint (AUDIT_VERIFY_KEY_FILES, else the signer's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from django.conf import settings

    keys = {}
    for path in settings.AUDIT_VERIFY_KEY_FILES:
        with open(path, "rb") as handle:
            key = serialization.load_pem_public_key(handle.read())
        if not isinstance(key, Ed25519PublicKey):
            raise AuditKeyError(f"AUDIT_VERIFY_KEY_FILES: {path} is not an Ed25519 public key.")
        keys[key_fingerprint(key)] = key
    if not keys and settings.AUDIT_SIGNING_KEY_FILE and os.path.exists(settings.AUDIT_SIGNING_KEY_FILE):
        public = signing_key().public_key()
        keys[key_fingerprint(public)] = public
    return keys
