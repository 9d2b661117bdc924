"""Recompute the keyed audit chain and check it against the signed checkpoints; exit 1 at the first break."""

import json

from django.core.management.base import BaseCommand, CommandError

from cases.services.audit_verify import audit_verification


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every row's keyed hash and link, the chain head, and every signed checkpoint "
        "(docs/security.md T14). Exit code 1 naming the first row or checkpoint that disagrees."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, json: bool = False, **options):
        result = audit_verification()
        if json:
            self.stdout.write(_json_text(result))
            if not result.ok:
                raise CommandError(f"Audit chain BROKEN at {result.broken.where}: {result.broken.problem}.")
            return
        if not result.ok:
            raise CommandError(
                f"Audit chain BROKEN at {result.broken.where}: {result.broken.problem}. "
                f"{result.rows} rows verified before it."
            )
        latest = result.latest_checkpoint
        anchored = (
            f" Latest checkpoint: {latest.name} (row #{latest.seq}, signed {latest.created_at}); "
            f"{result.last_seq - latest.seq} rows since."
            if latest
            else " No checkpoints yet: the head is not anchored (manage.py audit_checkpoint)."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain OK: {result.rows} rows verified ({result.keyed_rows} keyed, "
                f"{result.legacy_rows} legacy), {result.checkpoints} checkpoints.{anchored}"
            )
        )


def _json_text(result) -> str:
    broken = result.broken
    latest = result.latest_checkpoint
    return json.dumps(
        {
            "ok": result.ok,
            "rows_verified": result.rows,
            "keyed_rows": result.keyed_rows,
            "legacy_rows": result.legacy_rows,
            "last_seq": result.last_seq,
            "last_hash": result.last_hash,
            "checkpoints": result.checkpoints,
            "latest_checkpoint": latest.as_json() if latest else None,
            "rows_since_checkpoint": result.last_seq - latest.seq if latest else result.last_seq,
            "broken": None
            if broken is None
            else {
                "where": broken.where,
                "seq": broken.seq,
                "event_id": broken.event_id,
                "checkpoint": broken.checkpoint,
                "problem": broken.problem,
            },
        },
        indent=2,
    )
