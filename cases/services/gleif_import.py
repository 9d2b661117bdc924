"""Import GLEIF golden-copy files: LEI-CDF (entities), RR-CDF (consolidation control), reporting exceptions.

One file is one transaction: a bad record (an LEI whose check digits fail, an unknown
code, broken XML) rejects the whole file with its line, record and field, and nothing of
it stays. Re-importing a file changes nothing; a newer (full or delta) file updates
exactly the records that changed, and the entities they touch are queued for
re-screening in the same transaction (``rescreen_request``). A full (golden-copy) Level 2
file also closes the relationships of its kind that it no longer has; a delta closes
nothing it does not mention.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from cases.models import ImportRun
from cases.services.import_runs import (
    BATCH_SIZE,
    SourceImportSummary,
    dated_name,
    file_date,
    finish_run,
    import_run,
    open_prepared,
    with_progress_batches,
)
from cases.services.source_import import SourceWriter
from cases.sources.errors import SourceError
from cases.sources.gleif import (
    ENTITY_FILE,
    EXCEPTION_FILE,
    RELATIONSHIP_FILE,
)
from cases.sources.gleif.prepare import gleif_records
from cases.sources.gleif.reader import detect

#: Files are applied Level 1 first (relationships refer to entities), then by name (golden copies
#: and deltas carry their publication timestamp in the name), so deltas apply in order.
KIND_ORDER = {ENTITY_FILE: 0, RELATIONSHIP_FILE: 1, EXCEPTION_FILE: 2}
#: A full Level 2 file is all of its kind GLEIF publishes: its relationships (external ids with this
#: prefix, see ``cases.sources.gleif.mapping``) that it no longer has are closed.
CLOSING_PREFIX = {RELATIONSHIP_FILE: "gleif-rr:", EXCEPTION_FILE: "gleif-repex:"}


def gleif_import_order(paths: list[str | Path]) -> list[Path]:
    """The order to apply several GLEIF files in. Raises ``SourceError`` for a file that is not GLEIF's."""
    kinds = {}
    for path in map(Path, paths):
        try:
            kinds[path] = detect(path).kind
        except SourceError as exc:
            raise exc.located(file=str(path)) from None
    return sorted(kinds, key=lambda path: (KIND_ORDER[kinds[path]], path.name))


def _later_full_file_applied(kind: str, path: Path) -> bool:
    """Whether a full file of this kind dated after this one was imported already.

    Records a file leaves unchanged are not rewritten, so a stored relationship does not show
    the last file that confirmed it; an old golden copy applied after a newer one would close
    what the newer one still has. It closes nothing instead (its changed records still apply).
    """
    date = file_date(path)
    names = ImportRun.objects.filter(
        status=ImportRun.Status.SUCCEEDED, counts__kind=kind, counts__full=True
    ).values_list("file_name", flat=True)
    return any(dated_name(Path(name)) > date for name in names)


def gleif_import_file(*, path: str | Path, stdout: IO[str] | None = None, progress: bool = True) -> SourceImportSummary:
    """Validate and apply one GLEIF file; raises ``SourceImportError`` (and records a failed run) if invalid.

    The file is read, validated, mapped and encoded in a reader process (``open_prepared``), a
    batch ahead of this process, which resolves, compares and writes.
    """
    path = Path(path)
    with import_run(path) as run:
        source = detect(path)
        summary = SourceImportSummary(file_name=str(path), import_run_id=run.pk, kind=source.kind)
        writer = SourceWriter(run=run, system="gleif", file_label=path.name, file_date=file_date(path))
        closes = source.full and source.kind in CLOSING_PREFIX and not _later_full_file_applied(source.kind, path)
        if closes:
            writer.track_relationships()
        batches = open_prepared(gleif_records(source, writer.encoding(), BATCH_SIZE), path=path)
        try:
            for batch in with_progress_batches(batches, stdout=stdout, enabled=progress, desc=path.name):
                summary.records_read += batch.read
                if source.kind == ENTITY_FILE:
                    writer.write_entities(batch.ready)
                else:
                    summary.records_ignored += batch.read - len(batch.ready)
                    writer.write_relationships(batch.ready)
        finally:
            batches.close()
        writer.finish()
        if summary.records_read == 0:
            raise SourceError("the file contains no records")
        if closes:
            writer.close_missing_relationships(prefix=CLOSING_PREFIX[source.kind], file_date=file_date(path))
        summary.counts = writer.summary.as_dict()
        summary.counts["full"] = source.full
        entity_ids, _persons = writer.request_rescreen()
        summary.set_affected(entity_ids, set())
        finish_run(run, summary)
    return summary
