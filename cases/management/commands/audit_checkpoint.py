"""Sign the audit chain's head into a new checkpoint file now (the scheduler does it every few minutes)."""

from django.core.management.base import BaseCommand, CommandError

from cases.audit_keys import AuditKeyError
from cases.services.audit_anchor import AuditAnchorError, audit_checkpoint_write


class Command(BaseCommand):
    help = "Write a signed checkpoint of the audit chain's head to AUDIT_CHECKPOINT_DIR (docs/security.md T14)."

    def handle(self, *args, **options):
        try:
            checkpoint = audit_checkpoint_write()
        except (AuditAnchorError, AuditKeyError) as exc:
            raise CommandError(str(exc)) from exc
        if checkpoint is None:
            self.stdout.write("Nothing new to checkpoint.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Checkpoint {checkpoint.name}: row #{checkpoint.seq}."))
