"""``manage.py setup_demo``: load the demo portfolio, create demo users, screen everything.

Safe to run again: the import is idempotent, customers are registered once, and
users keep their accounts (their passwords are reset and printed again).
"""

import csv
import datetime
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cases.models import Entity
from cases.services.bods_import import bods_import_file
from cases.services.customers import customer_register
from cases.services.ftm_import import ftm_import_file
from cases.services.gleif_import import gleif_import_file, gleif_import_order
from cases.services.restricted_lists import restricted_list_import_csv
from cases.services.screening import screen_entities
from cases.services.screening_requests import screening_request_submit

DEMO_DIR = Path(settings.BASE_DIR) / "demo"
DEMO_USERS = (
    # username, group, superuser
    ("admin", None, True),
    ("investigator", "Investigator", False),
    ("investigator2", "Investigator", False),
    ("manager", "Manager", False),
    ("manager2", "Manager", False),
    ("auditor", "Auditor", False),
)
#: The integration account docs/api.md issues its token for: API only, no admin login (not staff).
DEMO_INTEGRATION_USER = ("billing", "Integration")


class Command(BaseCommand):
    help = "Load the demo data set, create demo users and screen every entity."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD"),
            help="Password for every demo user (default: a new random one, printed).",
        )

    def handle(self, *args, password, **options):
        bods_files = sorted(DEMO_DIR.glob("*.bods.json*"))
        if not bods_files:
            raise CommandError(f"No demo BODS file in {DEMO_DIR}")
        for path in bods_files:
            summary = bods_import_file(path=path, stdout=self.stdout, progress=False)
            self.stdout.write(f"Imported {path.name}: {summary.describe()}")
        self._import_sources(DEMO_DIR / "sources")
        registered = self._register_customers(DEMO_DIR / "customers.csv")
        self.stdout.write(f"Customers registered: {registered}")
        summary = screen_entities(trigger="onboarding")
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.counts.items()))
        self.stdout.write(f"Screened {summary.screened} entities in {summary.seconds:.2f} s ({counts}).")
        password = password or secrets.token_urlsafe(12)
        self._create_users(password)
        self._submit_name_only_customer()
        self.stdout.write(
            self.style.SUCCESS(
                "\nDemo ready at http://127.0.0.1:8000/admin/\n"
                + "\n".join(
                    f"  login: {username:<14} password: {password}   ({group or 'superuser'})"
                    for username, group, _ in DEMO_USERS
                )
                + f"\n  API integration user: {DEMO_INTEGRATION_USER[0]} (no admin login); issue its token with\n"
                f"    DEBUG=true .venv/bin/python manage.py create_api_token billing-demo "
                f"--user {DEMO_INTEGRATION_USER[0]} --scopes read,write"
            )
        )

    def _import_sources(self, directory: Path) -> None:
        """The GLEIF + OpenSanctions + Entity List sample: a list-driven block and a name-match case."""
        for path in gleif_import_order(sorted(directory.glob("*gleif-goldencopy*"))):
            self.stdout.write(f"Imported {path.name}: {gleif_import_file(path=path, progress=False).describe()}")
        for path in sorted(directory.glob("*.ftm.json")):
            self.stdout.write(f"Imported {path.name}: {ftm_import_file(path=path, progress=False).describe()}")
        for path in sorted(directory.glob("us-bis-entity-list-*.csv")):
            _, loaded = restricted_list_import_csv(path=path, list_code="us-bis-entity-list", version="demo edition")
            self.stdout.write(f"Loaded {path.name}: {loaded.members_after} members of {loaded.restricted_list}")

    def _submit_name_only_customer(self) -> None:
        """A customer known only by name and country: name screening opens a case with candidates."""
        admin = get_user_model().objects.get(username="admin")
        result = screening_request_submit(
            actor=admin,
            customer_reference="DEMO-NAME-ONLY",
            entity={"external_id": "demo-name-only", "name": "Aero Dynamics Technologies BV", "jurisdiction": "NL"},
        )
        self.stdout.write(f"Name-only customer DEMO-NAME-ONLY: case {result['case']}")

    @transaction.atomic
    def _register_customers(self, path: Path) -> int:
        created = 0
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        entities = Entity.objects.in_bulk([row["entity_record_id"] for row in rows], field_name="external_id")
        for row in rows:
            entity = entities.get(row["entity_record_id"])
            if entity is None:
                raise CommandError(f"customers.csv names unknown entity {row['entity_record_id']!r}")
            _, was_created = customer_register(
                entity=entity,
                customer_reference=row["customer_reference"],
                onboarded_on=datetime.date.fromisoformat(row["onboarded_on"]),
            )
            created += was_created
        return created

    @transaction.atomic
    def _create_users(self, password: str) -> None:
        users = get_user_model()
        accounts = [(username, group, superuser, True) for username, group, superuser in DEMO_USERS]
        accounts.append((*DEMO_INTEGRATION_USER, False, False))
        for username, group_name, superuser, staff in accounts:
            user, _ = users.objects.get_or_create(username=username, defaults={"email": f"{username}@example.test"})
            user.is_staff = staff
            user.is_superuser = superuser
            if staff:
                user.set_password(password)
            else:
                user.set_unusable_password()  # authenticates with its API token only
            user.save()
            if group_name:
                group = Group.objects.filter(name=group_name).first()
                if group is None:
                    raise CommandError(f"Role group {group_name!r} is missing: run migrate first.")
                user.groups.add(group)
