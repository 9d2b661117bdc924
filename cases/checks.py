"""Deployment checks (``manage.py check --deploy``): the audit chain's secrets must be configured.

Without them the chain falls back to nothing: audit writes fail (no HMAC key) or the head is never
anchored (no checkpoint key or directory), so production refuses to pass the deploy check instead.
"""

import os

from django.conf import settings
from django.core.checks import Tags, Warning, register

from cases.audit_keys import AuditKeyError, audit_keyring, signing_key


@register(Tags.security, deploy=True)
def audit_chain_keys(app_configs, **kwargs):
    problems = []
    try:
        if not settings.AUDIT_HMAC_KEYS.strip():
            raise AuditKeyError("AUDIT_HMAC_KEYS is empty: audit events cannot be keyed (DEBUG derives a dev key).")
        audit_keyring()
    except AuditKeyError as exc:
        problems.append(Warning(str(exc), hint="Set AUDIT_HMAC_KEYS=keyid:secret (docs/security.md).", id="cases.W001"))
    try:
        signing_key()
    except (AuditKeyError, OSError, ValueError) as exc:
        problems.append(Warning(str(exc), hint="Create one with `manage.py audit_keygen FILE`.", id="cases.W002"))
    directory = settings.AUDIT_CHECKPOINT_DIR
    if not directory or not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        problems.append(
            Warning(
                f"AUDIT_CHECKPOINT_DIR {directory!r} is not a writable directory: the audit head cannot be anchored.",
                hint="Point it at append-only storage the database's operators cannot write.",
                id="cases.W003",
            )
        )
    return problems
