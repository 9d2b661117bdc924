"""Benchmarks and synthetic data generators (not part of the application)."""

import os
import tempfile

BENCH_AUDIT_HMAC_KEYS = "bench:benchmark-only-audit-key-0123456789abcdefghij"


def set_audit_environment() -> None:
    """The audit chain's key, signing key and checkpoint store for a benchmark process (production settings
    refuse to write audit events without them); a fresh temporary store unless already set."""
    os.environ.setdefault("AUDIT_HMAC_KEYS", BENCH_AUDIT_HMAC_KEYS)
    if "AUDIT_CHECKPOINT_DIR" not in os.environ:
        store = tempfile.mkdtemp(prefix="bench-audit-")
        os.environ["AUDIT_CHECKPOINT_DIR"] = os.path.join(store, "checkpoints")
        os.environ.setdefault("AUDIT_SIGNING_KEY_FILE", os.path.join(store, "signing-key.pem"))
    if not os.path.exists(os.environ.get("AUDIT_SIGNING_KEY_FILE", "")):
        from cases.audit_keys import write_signing_key

        write_signing_key(os.environ["AUDIT_SIGNING_KEY_FILE"])
