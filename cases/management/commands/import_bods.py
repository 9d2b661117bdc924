"""``manage.py import_bods PATH [PATH ...]``: import BODS 0.4 files.

Each file is its own all-or-nothing unit: files before a bad one stay
imported, the bad one leaves nothing behind, and the command stops with the
validator's message (statement position, statementId, reason).
"""

from django.core.management.base import BaseCommand, CommandError

from cases.services.bods_import import BodsImportError, ImportSummary, bods_import_file


class Command(BaseCommand):
    help = "Import BODS 0.4 files (JSON array or JSON Lines, optionally gzipped); each file is all-or-nothing."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")

    def handle(self, *args, paths, **options):
        summaries = []
        for path in paths:
            try:
                summary = bods_import_file(path=path, stdout=self.stdout._out, progress=self.stdout.isatty())
            except BodsImportError as exc:
                self._print_table(summaries)
                raise CommandError(f"{path}: {exc.message} (nothing from this file was imported)") from exc
            summaries.append(summary)
            self._rescreen(summary)
        self._print_table(summaries)

    @staticmethod
    def _rescreen(summary: ImportSummary) -> None:
        """Hand the affected subjects to screening, if that module offers the hook."""
        try:
            from cases.services.screening import screen_after_import
        except ImportError:
            return
        screen_after_import(entity_ids=summary.affected_entity_ids)

    def _print_table(self, summaries: list[ImportSummary]) -> None:
        if not summaries:
            return
        header = ("file", "read", "applied", "skipped", "entities c/u/x", "persons c/u/x", "relationships c/u/x")
        rows = [header]
        for summary in summaries:
            counts = [
                "/".join(str(summary.counts[kind][change]) for change in ("created", "updated", "closed"))
                for kind in ("entities", "persons", "relationships")
            ]
            rows.append(
                (
                    summary.file_name,
                    str(summary.statements_read),
                    str(summary.statements_applied),
                    str(summary.statements_skipped),
                    *counts,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for index, row in enumerate(rows):
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            self.stdout.write(self.style.MIGRATE_HEADING(line) if index == 0 else line)
        self.stdout.write("c/u/x = created/updated/closed")
