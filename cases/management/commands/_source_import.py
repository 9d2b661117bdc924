"""What ``import_gleif``, ``import_ftm`` and ``import_restricted_list`` share: per-file runs and the re-screen."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from django.core.management.base import CommandError

from cases.services.import_runs import SourceImportError, SourceImportSummary


def import_each(
    command, paths: Iterable[Path], import_file: Callable[..., SourceImportSummary], *, screen: bool
) -> list[SourceImportSummary]:
    """Each file all-or-nothing, in the given order; stop at the first rejected file (earlier ones stay)."""
    summaries = []
    for path in paths:
        try:
            summary = import_file(path=path, stdout=command.stdout._out, progress=command.stdout.isatty())
        except SourceImportError as exc:
            raise CommandError(f"{exc.message} (nothing from this file was imported)") from exc
        command.stdout.write(f"{path}: {summary.describe()}")
        summaries.append(summary)
        if screen and summary.affected_spilled:
            # Too many changed ids to hold here: the queued request has them, and the worker decides them.
            command.stdout.write(f"{path}: the re-screen of what it changed is left to the worker (run_worker)")
        elif screen:
            rescreen_now(summary.affected_entity_ids, summary.affected_person_ids)
    return summaries


def rescreen_now(entity_ids: set[int], person_ids: set[int]) -> None:
    """Re-decide what the file changed now (the queued re-screen request finds nothing left to change)."""
    if not entity_ids and not person_ids:
        return
    from cases.services.screening import screen_after_import

    screen_after_import(entity_ids=entity_ids, person_ids=person_ids)
