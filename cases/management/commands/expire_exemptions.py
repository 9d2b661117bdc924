"""Expire approved exemptions past their last day (run daily)."""

import datetime

from django.core.management.base import BaseCommand

from cases.services.exemptions import exemptions_expire


class Command(BaseCommand):
    help = "Expire exemptions whose expires_on is before today; recompute effective decisions and reopen cases."

    def add_arguments(self, parser):
        parser.add_argument("--today", type=datetime.date.fromisoformat, default=None, help="YYYY-MM-DD")

    def handle(self, *args, **options):
        expired = exemptions_expire(today=options["today"])
        self.stdout.write(f"{len(expired)} exemption(s) expired.")
