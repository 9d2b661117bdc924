"""Flag overdue cases and raise their priority (run hourly)."""

from django.core.management.base import BaseCommand

from cases.services.cases import cases_escalate_overdue


class Command(BaseCommand):
    help = "Flag non-closed cases past their SLA as overdue and raise their priority one level."

    def handle(self, *args, **options):
        escalated = cases_escalate_overdue()
        self.stdout.write(f"{len(escalated)} case(s) escalated.")
