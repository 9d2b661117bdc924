"""Verifying the audit chain: every row against its key, the chain head, and the signed checkpoints.

Apart from ``audit`` (which writes and hashes rows) because verification needs the
checkpoints of ``audit_anchor``, which itself builds on ``audit``'s chain walk.
"""

from __future__ import annotations

from dataclasses import dataclass

from cases.models import AuditChainHead

from .audit import GENESIS_HASH, AuditBreak
from .audit_anchor import load_checkpoints
from .audit_spans import chain_walk_spans


@dataclass(frozen=True)
class AuditVerification:
    """What ``verify_audit`` reports: how much was checked, up to where, and the first break (or None)."""

    rows: int
    keyed_rows: int
    legacy_rows: int
    last_seq: int
    last_hash: str
    checkpoints: int
    latest_checkpoint: object  # audit_anchor.Checkpoint | None
    broken: AuditBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def audit_verify(*, chunk_size: int = 5000) -> tuple[int, AuditBreak | None]:
    """Recompute the chain and compare it with the checkpoints. Returns (rows checked, first break or None)."""
    result = audit_verification(chunk_size=chunk_size)
    return result.rows, result.broken


def audit_verification(
    *, chunk_size: int = 5000, workers: int | None = None, span: int | None = None
) -> AuditVerification:
    """Check every row (sequence, link, keyed hash), the chain head, and every signed checkpoint.

    Checkpoints are read first: one that does not verify under the public key is the first break,
    since the rows can only be trusted as far as an intact anchor vouches for them.

    ``workers`` and ``span``: see ``audit_spans.chain_walk_spans`` (a large chain is verified in parallel
    spans; the result, including the first break, is the same as one walk's).
    """
    checkpoints, invalid = load_checkpoints()
    if invalid:
        name, problem = invalid[0]
        return AuditVerification(
            0, 0, 0, 0, GENESIS_HASH, len(checkpoints), None, AuditBreak(None, None, problem, name)
        )
    by_seq = {checkpoint.seq: checkpoint for checkpoint in checkpoints}
    legacy_through = min((c.legacy_through for c in checkpoints), default=None)
    walk = chain_walk_spans(
        legacy_through=legacy_through, checkpoints=by_seq, chunk_size=chunk_size, workers=workers, span=span
    )
    latest = checkpoints[-1] if checkpoints else None
    broken = walk.broken or _head_break(walk) or _checkpoint_ahead(checkpoints, walk.last_seq)
    return AuditVerification(
        walk.rows, walk.keyed_rows, walk.rows - walk.keyed_rows, walk.last_seq, walk.last_hash,
        len(checkpoints), latest, broken,
    )  # fmt: skip


def _head_break(walk) -> AuditBreak | None:
    head = AuditChainHead.objects.filter(id=1).first()
    if head is not None and walk.rows and (head.last_seq != walk.last_seq or head.last_hash != walk.last_hash):
        return AuditBreak(None, None, f"chain head points at #{head.last_seq}, last row is #{walk.last_seq}")
    return None


def _checkpoint_ahead(checkpoints, last_seq: int) -> AuditBreak | None:
    for checkpoint in checkpoints:
        if checkpoint.seq > last_seq:
            return AuditBreak(
                None,
                None,
                f"signed at {checkpoint.created_at} for row #{checkpoint.seq}, but the database ends at #{last_seq}: "
                "rows were deleted or the database was restored from an older backup",
                checkpoint.name,
            )
    return None
