"""One file's import run, shared by the GLEIF, FtM and restricted-list importers.

The ``ImportRun`` row is written before the file's transaction and updated after it, so a
rejected file leaves its failed run (with the error naming file, line and field) and
nothing else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import IO, Any

import pycountry
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from cases.bods.pipeline import open_batches
from cases.models import ImportRun
from cases.services.import_tuning import import_tuned
from cases.sources.errors import SourceError
from cases.sources.files import sha256_of
from cases.sources.prepared import PreparedBatch, PreparedRecords

BATCH_SIZE = 5000
#: Files from this size on are read in a reader process (``cases.bods.pipeline``); a smaller one
#: is not worth the fork.
READER_PROCESS_MIN_BYTES = 1 << 20
#: Reader processes sharing a file whose source can be split (a GLEIF CSV: ``PreparedRecords.share``). Two on
#: two cores: reading and mapping a record costs more than writing it, so one reader would leave the
#: importing process waiting; the three processes keep both cores busy.
READER_PROCESSES = max(1, min(2, os.cpu_count() or 1))
_FILE_DATE = re.compile(r"(20\d{2})-?(\d{2})-?(\d{2})")


class SourceImportError(Exception):
    """A file was rejected; nothing of it was written. ``message`` names file, line/record and field."""

    def __init__(self, error: SourceError):
        self.error = error
        self.message = error.message
        super().__init__(self.message)


@dataclass
class SourceImportSummary:
    file_name: str
    import_run_id: int
    kind: str = ""
    records_read: int = 0
    records_ignored: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    affected_entity_ids: set[int] = field(default_factory=set)
    affected_person_ids: set[int] = field(default_factory=set)
    #: The changed ids were too many to keep (``source_import.ChangedIds``): the re-screen request
    #: row holds them, the two sets above are empty, and the worker re-screens them.
    affected_spilled: bool = False

    def set_affected(self, entity_ids: set[int] | None, person_ids: set[int] | None) -> None:
        self.affected_spilled = entity_ids is None or person_ids is None
        self.affected_entity_ids = set() if self.affected_spilled else entity_ids
        self.affected_person_ids = set() if self.affected_spilled else person_ids

    def describe(self) -> str:
        parts = [
            f"{kind} {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"
            for kind, c in self.counts.items()
            if isinstance(c, dict) and {"created", "updated", "unchanged"} <= set(c)
        ]
        return f"{self.records_read} records ({self.records_ignored} not mapped): " + "; ".join(parts)


def dated_name(path: Path) -> str:
    """The publication date in a file's name (ISO), or "" if it has none."""
    match = _FILE_DATE.search(path.name)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            pass
    return ""


def file_date(path: Path) -> str:
    """The publication date in the file name (golden copies and OpenSanctions exports carry one), else its mtime."""
    return dated_name(path) or date.fromtimestamp(path.stat().st_mtime).isoformat()


@contextmanager
def import_run(path: Path) -> Iterator[ImportRun]:
    """The run of one file: the body runs in one transaction; a ``SourceError`` fails the run and is re-raised."""
    run = ImportRun.objects.create(file_name=str(path), file_sha256=sha256_of(path))
    try:
        # The BODS importer's two speed settings for one big transaction (see their docstrings).
        with import_tuned(), transaction.atomic():
            yield run
    except SourceError as exc:
        exc.located(file=str(path))
        _fail(run, exc.message)
        raise SourceImportError(exc) from exc
    except Exception as exc:
        _fail(run, f"{exc.__class__.__name__}: {exc}")
        raise


def finish_run(run: ImportRun, summary: SourceImportSummary) -> None:
    run.status = ImportRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.statements_read = summary.records_read
    run.statements_applied = summary.records_read - summary.records_ignored
    run.counts = {"kind": summary.kind, **summary.counts}
    run.save(update_fields=["status", "finished_at", "statements_read", "statements_applied", "counts"])


def _fail(run: ImportRun, error: str) -> None:
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.FAILED, finished_at=timezone.now(), error=error)


def batched(items: Iterable, size: int = BATCH_SIZE) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def with_progress(items: Iterable, *, stdout: IO[str] | None, enabled: bool, desc: str) -> Iterable:
    """A tqdm bar on a terminal; the items unchanged otherwise."""
    if not enabled or stdout is None or not stdout.isatty():
        return items
    return tqdm(items, desc=desc, unit=" records", file=stdout, mininterval=0.5)


def open_prepared(records: PreparedRecords, *, path: Path):
    """``records``' batches, from a reader process when the file is large enough to pay for one."""
    try:
        large = path.stat().st_size >= READER_PROCESS_MIN_BYTES
    except OSError:
        large = False  # the reader reports why it cannot open the file
    if large:
        _load_country_codes()
    return open_batches(records, in_reader=large, name="source-import-reader", readers=READER_PROCESSES)


def _load_country_codes() -> None:
    """pycountry loads its tables on first use: once here, not in every reader process."""
    pycountry.countries.get(alpha_2="GB")
    pycountry.subdivisions.get(code="GB-ENG")


def with_progress_batches(
    batches: Iterable[PreparedBatch], *, stdout: IO[str] | None, enabled: bool, desc: str
) -> Iterator[PreparedBatch]:
    """The batches, with a tqdm bar counting records on a terminal."""
    if not enabled or stdout is None or not stdout.isatty():
        yield from batches
        return
    with tqdm(desc=desc, unit=" records", file=stdout, mininterval=0.5) as bar:
        for batch in batches:
            yield batch
            bar.update(batch.read)
