"""Deliver due webhooks now (the worker does this in the background: ``cases.tasks.webhooks``)."""

import json

from django.core.management.base import BaseCommand

from cases.services.webhooks import webhooks_deliver_due


class Command(BaseCommand):
    help = "POST every due webhook delivery from the outbox (signed, with retries and backoff); idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="At most this many deliveries per batch.")
        parser.add_argument("--all", action="store_true", help="Repeat batches until nothing is due.")

    def handle(self, *args, limit, all, **options):
        total = {"claimed": 0, "delivered": 0, "retrying": 0, "gave_up": 0}
        while True:
            counts = webhooks_deliver_due(limit=limit)
            for key, value in counts.items():
                total[key] += value
            if not all or counts["claimed"] < limit:
                break
        self.stdout.write(json.dumps(total))
