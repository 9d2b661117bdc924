"""Signed checkpoints: the audit chain's head, anchored outside the database.

A keyed chain stops anyone without the HMAC key from rewriting rows, but not from removing the newest
ones (and lowering the head) or restoring an older backup: a shorter chain is still a valid chain.
So every few minutes the scheduler (``cases.tasks.periodic.audit_checkpoint``) signs the head, as
``{seq, head_hash, head_key_id, legacy_through, created_at, signing_key}``, with an Ed25519 key and
writes it as a new file in ``AUDIT_CHECKPOINT_DIR``, created exclusively and read-only, never
rewritten. ``verify_audit`` then requires the database to contain every signed head: a checkpoint
ahead of the database, or one whose row has a different hash, is reported by name.

Before signing, the rows since the previous checkpoint are verified, so a checkpoint never vouches
for a chain that was already broken. The directory should be storage the database's operators
cannot write (another host's append-only mount, an object store with retention lock).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from cases.audit_keys import LEGACY_KEY_ID, AuditKeyError, key_fingerprint, signing_key, verify_keys
from cases.models import AuditEvent
from cases.services.audit import GENESIS_HASH
from cases.services.audit_spans import chain_walk_spans

FORMAT = "audit-checkpoint/1"


class AuditAnchorError(Exception):
    """A checkpoint cannot be written: the chain since the last one is broken, or the store is not configured."""


@dataclass(frozen=True)
class Checkpoint:
    name: str
    seq: int
    head_hash: str
    head_key_id: str
    legacy_through: int
    created_at: str
    signing_key: str
    signature: str

    def signed_content(self) -> dict:
        content = asdict(self)
        del content["name"], content["signature"]
        return {"format": FORMAT, **content}

    def as_json(self) -> dict:
        return {"file": self.name, **self.signed_content(), "signature": self.signature}


def _canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def checkpoint_dir() -> Path:
    if not settings.AUDIT_CHECKPOINT_DIR:
        raise AuditKeyError("AUDIT_CHECKPOINT_DIR is not set: the audit chain's head has nowhere to be anchored.")
    return Path(settings.AUDIT_CHECKPOINT_DIR)


def load_checkpoints() -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    """Every checkpoint file, in sequence order, and the (file, problem) of each that does not verify."""
    directory = Path(settings.AUDIT_CHECKPOINT_DIR) if settings.AUDIT_CHECKPOINT_DIR else None
    if directory is None or not directory.is_dir():
        return [], []
    public_keys = verify_keys()
    valid, invalid = [], []
    for path in sorted(directory.glob("*.json")):
        checkpoint, problem = _read_checkpoint(path, public_keys)
        if problem:
            invalid.append((path.name, problem))
        else:
            valid.append(checkpoint)
    valid.sort(key=lambda checkpoint: (checkpoint.seq, checkpoint.created_at))
    return valid, invalid


def _read_checkpoint(path: Path, public_keys: dict) -> tuple[Checkpoint | None, str]:
    from cryptography.exceptions import InvalidSignature

    try:
        data = json.loads(path.read_text(encoding="ascii"))
        fields = {name: data[name] for name in Checkpoint.__dataclass_fields__ if name != "name"}
        checkpoint = Checkpoint(name=path.name, **fields)
        if data.get("format") != FORMAT or not isinstance(checkpoint.seq, int):
            raise ValueError("unknown format")
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable checkpoint file ({exc.__class__.__name__}: {exc})"
    public_key = public_keys.get(checkpoint.signing_key)
    if public_key is None:
        return None, f"signed by {checkpoint.signing_key}, which is not a configured verify key"
    try:
        public_key.verify(signature, _canonical(checkpoint.signed_content()))
    except InvalidSignature:
        return None, "signature does not verify: the checkpoint was altered or forged"
    return checkpoint, ""


def audit_checkpoint_write(*, now: datetime.datetime | None = None) -> Checkpoint | None:
    """Sign the current head into a new checkpoint file; None when there is nothing new to anchor."""
    directory = checkpoint_dir()
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash", "key_id").first()
    if last is None:
        return None
    seq, head_hash, head_key_id = last
    checkpoints, invalid = load_checkpoints()
    if invalid:
        raise AuditAnchorError(f"refusing to checkpoint: {invalid[0][0]}: {invalid[0][1]}")
    previous = checkpoints[-1] if checkpoints else None
    if previous is not None and previous.seq == seq and previous.head_hash == head_hash:
        return None
    legacy_through = _verified_legacy_through(previous, seq)
    key = signing_key()
    created_at = (now or timezone.now()).astimezone(datetime.UTC)
    unsigned = Checkpoint(
        name=f"{seq:012d}-{created_at:%Y%m%dT%H%M%S%fZ}.json",
        seq=seq,
        head_hash=head_hash,
        head_key_id=head_key_id,
        legacy_through=legacy_through,
        created_at=created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        signing_key=key_fingerprint(key.public_key()),
        signature="",
    )
    signature = base64.b64encode(key.sign(_canonical(unsigned.signed_content()))).decode("ascii")
    checkpoint = Checkpoint(**{**asdict(unsigned), "signature": signature})
    _write_once(directory / checkpoint.name, json.dumps(checkpoint.as_json(), indent=2, sort_keys=True) + "\n")
    return checkpoint


def _verified_legacy_through(previous: Checkpoint | None, seq: int) -> int:
    """Verify the rows the new checkpoint will vouch for (those after the previous one); the legacy prefix."""
    if previous is not None and previous.seq > seq:
        raise AuditAnchorError(
            f"refusing to checkpoint: {previous.name} anchors row #{previous.seq}, the database ends at #{seq}"
        )
    if previous is None:
        legacy = AuditEvent.objects.filter(key_id=LEGACY_KEY_ID).aggregate(last=Max("seq"))["last"] or 0
        start_seq, start_hash = 0, GENESIS_HASH
    else:
        legacy, start_seq, start_hash = previous.legacy_through, previous.seq, previous.head_hash
    # One process: this runs inside the task worker, whose threads and connection forked workers must not share.
    walk = chain_walk_spans(after_seq=start_seq, after_hash=start_hash, legacy_through=legacy, workers=1)
    if walk.broken is not None:
        raise AuditAnchorError(f"refusing to checkpoint: {walk.broken.where}: {walk.broken.problem}")
    return legacy


def _write_once(path: Path, text: str) -> None:
    """Create ``path`` exclusively (never replacing a file), read-only, and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    directory_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
