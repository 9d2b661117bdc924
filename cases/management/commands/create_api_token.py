"""Create an API token; the plaintext is printed once and never stored."""

import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cases.services.tokens import token_create


class Command(BaseCommand):
    help = (
        "Create an API token for a user: create_api_token NAME --user USERNAME --scopes read,write [--expires-days N]"
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the token is for, e.g. billing-prod.")
        parser.add_argument("--user", required=True, help="Username the token acts as.")
        parser.add_argument("--scopes", default="read", help="Comma-separated: read, write (default read).")
        parser.add_argument("--expires-days", type=int, default=None, help="Expire after N days (default never).")

    def handle(self, *args, name, user, scopes, expires_days, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user {user!r}.")
        expires_at = None
        if expires_days is not None:
            if expires_days < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires_at = timezone.now() + datetime.timedelta(days=expires_days)
        try:
            token, plaintext = token_create(user=account, name=name, scopes=scopes, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"Token {token.name!r} for {user} (scopes {','.join(token.scopes)}"
            f"{', expires ' + token.expires_at.isoformat() if token.expires_at else ''}). "
            "Store it now: it is not shown again."
        )
        self.stdout.write(plaintext)
