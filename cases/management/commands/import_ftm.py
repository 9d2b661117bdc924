"""``manage.py import_ftm PATH [PATH ...]``: import FollowTheMoney JSON lines (OpenSanctions, yente exports).

Entities of a dataset that a restricted list names (e.g. ``us_dod_chinese_milcorps``)
become that list's members. Each file is all-or-nothing.
"""

from pathlib import Path

from django.core.management.base import BaseCommand

from cases.services.ftm_import import ftm_import_file

from ._source_import import import_each


class Command(BaseCommand):
    help = "Import FtM entity JSON lines (plain, gzipped or zipped); each file is all-or-nothing."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--no-screen", action="store_true", help="Leave re-screening to the background worker.")

    def handle(self, *args, paths, no_screen, **options):
        import_each(self, [Path(path) for path in paths], ftm_import_file, screen=not no_screen)
