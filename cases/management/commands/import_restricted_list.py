"""``manage.py import_restricted_list --list CODE [--edition E] [--published-on DATE] PATH``: load one list edition.

The file is a plain CSV (``cases/sources/lists.py`` documents the columns); it replaces the
list's members. ``--list`` names a seeded list (``us-dod-1260h``, ``us-bis-entity-list``,
``us-ofac-sdn``, ``us-ofac-ns-cmic``) or one added in the admin.
"""

import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.services.import_runs import SourceImportError
from cases.services.restricted_lists import restricted_list_import_csv

from ._source_import import rescreen_now


class Command(BaseCommand):
    help = "Load one edition of a restricted-party list from a plain CSV (replaces its members)."

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH")
        parser.add_argument("--list", required=True, dest="list_code", help="The list's code, e.g. us-bis-entity-list.")
        parser.add_argument("--edition", default="", help="Edition name shown in reasons (default: the date).")
        parser.add_argument("--published-on", type=datetime.date.fromisoformat, help="Edition date (YYYY-MM-DD).")
        parser.add_argument("--no-screen", action="store_true", help="Leave re-screening to the background worker.")

    def handle(self, *args, path, list_code, edition, published_on, no_screen, **options):
        try:
            summary, loaded = restricted_list_import_csv(
                path=path, list_code=list_code, version=edition, published_on=published_on
            )
        except SourceImportError as exc:
            raise CommandError(f"{exc.message} (nothing from this file was imported)") from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"{path}: {loaded.restricted_list}: {loaded.members_before} -> {loaded.members_after} members, "
            f"{len(loaded.affected_entity_ids)} entities to re-screen"
        )
        if not no_screen:
            rescreen_now(loaded.affected_entity_ids, loaded.affected_person_ids)
