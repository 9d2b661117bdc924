"""``manage.py import_gleif PATH [PATH ...]``: import GLEIF golden-copy and delta files (CSV or XML, zipped or not).

Files are applied LEI-CDF first, then RR-CDF, then reporting exceptions, each kind in
file-name order (GLEIF names carry the publication time), so deltas apply in order.
Each file is all-or-nothing; the command stops at the first rejected file.
"""

from django.core.management.base import BaseCommand, CommandError

from cases.services.gleif_import import gleif_import_file, gleif_import_order
from cases.sources.errors import SourceError

from ._source_import import import_each


class Command(BaseCommand):
    help = "Import GLEIF LEI-CDF 3.1, RR-CDF 2.1 and Reporting Exceptions files; each file is all-or-nothing."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--no-screen", action="store_true", help="Leave re-screening to the background worker.")

    def handle(self, *args, paths, no_screen, **options):
        try:
            ordered = gleif_import_order(paths)
        except SourceError as exc:
            raise CommandError(f"{exc.message} (nothing was imported)") from exc
        import_each(self, ordered, gleif_import_file, screen=not no_screen)
