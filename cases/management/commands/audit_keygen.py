"""Create the Ed25519 key that signs audit checkpoints; prints the public key for the verifiers."""

from django.core.management.base import BaseCommand, CommandError

from cases.audit_keys import write_signing_key


class Command(BaseCommand):
    help = "Create an Ed25519 private key file for AUDIT_SIGNING_KEY_FILE (never overwrites); print its public key."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Where to write the private key (PEM, mode 0600).")

    def handle(self, *args, path: str, **options):
        try:
            public = write_signing_key(path)
        except FileExistsError as exc:
            raise CommandError(f"{path} exists; a signing key is never overwritten.") from exc
        self.stdout.write(public)
