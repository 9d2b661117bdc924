"""``manage.py screen``: compute and store decisions, print them as a table or JSON."""

import datetime
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from cases.services.screening import entity_ids_for_external_ids, screen_entities


class Command(BaseCommand):
    help = "Screen entities (by external id, or --all) and store their decisions."

    def add_arguments(self, parser):
        parser.add_argument("external_ids", nargs="*", metavar="EXTERNAL_ID")
        parser.add_argument("--all", action="store_true", help="Screen every entity.")
        parser.add_argument("--as-of", type=_date, default=None, help="Screening date, YYYY-MM-DD (default today).")
        parser.add_argument("--json", action="store_true", help="Print a JSON array of decision objects.")

    def handle(self, *args, external_ids, all, as_of, json: bool, **options):
        if all == bool(external_ids):
            raise CommandError("Give one or more EXTERNAL_IDs, or --all (not both).")
        entity_ids = None
        if external_ids:
            found, missing = entity_ids_for_external_ids(external_ids)
            if missing:
                raise CommandError(f"No entity with external id: {', '.join(missing)}")
            entity_ids = found.values()
        progress = _progress_bar(self.stdout) if not json else None
        summary = screen_entities(
            entity_ids=entity_ids,
            as_of=as_of,
            trigger="manual",
            collect_payloads=True,
            progress=progress.update if progress else None,
        )
        if progress:
            progress.close()
        if json:
            _print_json(self.stdout, summary.payloads)
        else:
            self._print_table(summary)

    def _print_table(self, summary) -> None:
        row = "{:<36} {:<40} {:<7} {:>17} {:>17}"
        self.stdout.write(row.format("ENTITY", "NAME", "OUTCOME", "LOOK-THROUGH %", "CONTROL CHAIN %"))
        for payload in summary.payloads:
            lt, cc = payload["methods"]["look_through"], payload["methods"]["control_chain"]
            self.stdout.write(
                row.format(
                    payload["entity"][:36],
                    payload["entity_name"][:40],
                    payload["outcome"],
                    f"{lt['low']:.2f}–{lt['high']:.2f}",
                    f"{cc['low']:.2f}–{cc['high']:.2f}",
                )
            )
        counts = ", ".join(f"{outcome}: {summary.counts.get(outcome, 0)}" for outcome in ("block", "review", "allow"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Screened {summary.screened} entities as of {summary.as_of} under policy v{summary.policy_version} "
                f"in {summary.seconds:.2f} s (engine {summary.engine_seconds:.2f} s); {counts}; "
                f"{summary.changed} decisions changed."
            )
        )


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of must be a date YYYY-MM-DD, got {value!r}") from exc


def _print_json(stdout, payloads) -> None:
    """One decision object per line inside a JSON array: valid JSON that still greps well."""
    stdout.write("[", ending="")
    for index, payload in enumerate(payloads):
        stdout.write(("," if index else "") + "\n" + json.dumps(payload, ensure_ascii=False), ending="")
    stdout.write("\n]")


def _progress_bar(stdout):
    """A tqdm bar on a terminal only; logs and pipes stay clean."""
    if not getattr(stdout, "isatty", lambda: False)() or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit="entities", desc="Screening", file=sys.stderr)
