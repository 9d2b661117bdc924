"""Recompute the audit hash chain; exit non-zero at the first broken row."""

from django.core.management.base import BaseCommand, CommandError

from cases.services.audit import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (append-only, untampered). Exit code 1 on the first broken row."

    def handle(self, *args, **options):
        checked, broken = audit_verify()
        if broken is not None:
            where = f"row #{broken.seq} (id {broken.event_id})" if broken.seq is not None else "chain head"
            raise CommandError(f"Audit chain BROKEN at {where}: {broken.problem}. {checked} rows verified before it.")
        self.stdout.write(self.style.SUCCESS(f"Audit chain OK: {checked} rows verified."))
