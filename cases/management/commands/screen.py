"""``manage.py screen``: compute and store decisions, print them as a table or JSON.

``--all`` streams through the portfolio in entity-id chunks (each loads only its
upstream closure, so memory stays bounded), printing each chunk as it is stored,
and commits each chunk of its ``ScreenRun`` atomically: ``--all --resume`` continues the
latest unfinished run of the same date and policy version after it was killed (taking
over its chunks in flight at once). ``--workers N`` lets N−1 background workers share
the run (``PORTFOLIO_WORKERS``; docs/scaling.md).
"""

import datetime
import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from cases.services.rescreen import rescreen_portfolio
from cases.services.screening import decision_row, entity_ids_for_external_ids, screen_entities


class Command(BaseCommand):
    help = "Screen entities (by external id, or --all) and store their decisions."

    def add_arguments(self, parser):
        parser.add_argument("external_ids", nargs="*", metavar="EXTERNAL_ID")
        parser.add_argument("--all", action="store_true", help="Screen every entity.")
        parser.add_argument("--as-of", type=_date, default=None, help="Screening date, YYYY-MM-DD (default today).")
        parser.add_argument("--json", action="store_true", help="Print a JSON array of decision objects.")
        parser.add_argument(
            "--resume", action="store_true", help="With --all: continue the latest unfinished run (same date/policy)."
        )
        parser.add_argument(
            "--chunk-size", type=_positive, default=None, help="With --all: entities per chunk (PORTFOLIO_CHUNK)."
        )
        parser.add_argument(
            "--workers",
            type=_positive,
            default=None,
            help="With --all: workers sharing the run, this process included (PORTFOLIO_WORKERS).",
        )

    def handle(self, *args, external_ids, all, as_of, json: bool, resume: bool, chunk_size, workers, **options):
        if all == bool(external_ids):
            raise CommandError("Give one or more EXTERNAL_IDs, or --all (not both).")
        if (resume or chunk_size or workers) and not all:
            raise CommandError("--resume, --chunk-size and --workers only apply to --all.")
        if all:
            self._screen_all(as_of=as_of, json=json, resume=resume, chunk_size=chunk_size, workers=workers)
            return
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

    def _screen_all(self, *, as_of, json: bool, resume: bool, chunk_size, workers) -> None:
        from collections import Counter

        from cases.models import Entity

        progress = _progress_bar(self.stdout, total=Entity.objects.count()) if not json else None
        counts: Counter = Counter()
        printed = [0]

        def emit(payloads: list[dict]) -> None:
            for payload in payloads:
                counts[payload["outcome"]] += 1
            _print_json_items(self.stdout, payloads, printed)

        def emit_rows(rows) -> None:
            for row in rows:
                counts[row[2]] += 1
            self._print_rows(rows, header=not printed[0])
            printed[0] += len(rows)

        if json:
            self.stdout.write("[", ending="")
        started = time.perf_counter()
        run = rescreen_portfolio(
            kind="manual",
            as_of=as_of,
            resume=resume,
            take_over=resume,
            chunk_size=chunk_size,
            workers=workers,
            progress=progress.update if progress else None,
            on_payloads=emit if json else None,
            on_rows=None if json else emit_rows,
        )
        if progress:
            progress.close()
        if json:
            self.stdout.write("\n]")
            return
        if not printed[0]:
            self._print_rows([], header=True)
        summary_counts = ", ".join(f"{outcome}: {counts.get(outcome, 0)}" for outcome in ("block", "review", "allow"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Screened {run.screened} entities as of {run.as_of} under policy v{run.policy_version} "
                f"(run {run.pk}, {'resumed, ' if resume else ''}{summary_counts}; this invocation printed "
                f"{printed[0]}) in {time.perf_counter() - started:.2f} s; {run.changed} decisions changed."
            )
        )

    def _print_rows(self, rows, *, header: bool) -> None:
        """``rows`` are ``screening.DecisionRow`` tuples, written as one block (100 000 writes cost more)."""
        row = "{:<36} {:<40} {:<7} {:>17} {:>17}"
        lines = [row.format("ENTITY", "NAME", "OUTCOME", "LOOK-THROUGH %", "CONTROL CHAIN %")] if header else []
        lines += [
            row.format(entity[:36], name[:40], outcome, f"{lt_low:.2f}–{lt_high:.2f}", f"{cc_low:.2f}–{cc_high:.2f}")
            for entity, name, outcome, lt_low, lt_high, cc_low, cc_high in rows
        ]
        if lines:
            self.stdout.write("\n".join(lines))

    def _print_table(self, summary) -> None:
        self._print_rows([decision_row(payload) for payload in summary.payloads], header=True)
        counts = ", ".join(f"{outcome}: {summary.counts.get(outcome, 0)}" for outcome in ("block", "review", "allow"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Screened {summary.screened} entities as of {summary.as_of} under policy v{summary.policy_version} "
                f"in {summary.seconds:.2f} s (engine {summary.engine_seconds:.2f} s); {counts}; "
                f"{summary.changed} decisions changed."
            )
        )


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise CommandError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of must be a date YYYY-MM-DD, got {value!r}") from exc


def _print_json(stdout, payloads) -> None:
    """One decision object per line inside a JSON array: valid JSON that still greps well."""
    stdout.write("[", ending="")
    _print_json_items(stdout, payloads, [0])
    stdout.write("\n]")


def _print_json_items(stdout, payloads, printed: list[int]) -> None:
    for payload in payloads:
        stdout.write(("," if printed[0] else "") + "\n" + json.dumps(payload, ensure_ascii=False), ending="")
        printed[0] += 1


def _progress_bar(stdout, total: int | None = None):
    """A tqdm bar on a terminal only; logs and pipes stay clean."""
    if not getattr(stdout, "isatty", lambda: False)() or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit="entities", desc="Screening", file=sys.stderr, total=total)
