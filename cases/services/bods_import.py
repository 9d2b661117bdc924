"""Importing BODS 0.4 files into the ownership graph: the orchestration and the writes.

A file is one all-or-nothing unit, read once and streamed so a file of any
size fits in memory. Inside one transaction, each batch of 2,000 statements is
validated completely (``cases.bods``: schema, semantic checks, references to
the database) and only then written with the raw writer
(``bulk_sql.TableWriter``). The first invalid statement raises, the
transaction rolls back, and nothing from the file is kept; the ``ImportRun``
row saying why is written outside the transaction so the rollback cannot take
it away.

Each statement is first *prepared* on its own by ``cases.bods.mapping``
(parsed, put through the checks that need nothing but the statement, mapped to
column values). That work depends on no other statement and no database, so
for a large file ``cases.bods.pipeline`` runs it in a forked reader process a
batch ahead, while this process checks what depends on earlier statements and
the database and writes. A problem or exception found while preparing is
raised where checking the file in order would raise it.

Statements already stored in ``BodsStatement`` are skipped, so importing the
same file twice changes nothing. Record semantics follow BODS: ``new``
creates a record (or replaces it if the record already exists), ``updated``
replaces its details wholesale, ``closed`` ends it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from cases.bods import BodsError, BodsFile, StatementValidator
from cases.bods.mapping import (
    ADAPTED_FIELDS,
    DETAIL_FIELDS,
    IDENTIFIER_FIELDS,
    INTEREST_FIELDS,
    RECORD_FIELDS,
    STATEMENT_FIELDS,
    Prepared,
    PreparedFile,
    StatementMapper,
    batched,
    copy_text_line,
    holds_problem,
)
from cases.bods.pipeline import open_batches, picklable
from cases.bods.schema import statement_validator
from cases.models import (
    BodsStatement,
    Entity,
    EntityIdentifier,
    EntityType,
    ImportRun,
    Interest,
    Jurisdiction,
    Person,
    PersonType,
    Relationship,
)
from cases.services.bulk_sql import TableWriter, select_pairs, select_pairs_in_tables
from cases.services.import_tuning import import_tuned

BATCH_SIZE = 2000
LOOKUP_CHUNK = 2000
# Files at least this large are prepared by a second process; forking one costs tens of
# milliseconds, about what preparing 2,000 statements costs.
READER_PROCESS_MIN_BYTES = 4 << 20
# On PostgreSQL an import in a transaction of its own writes a batch while it checks the next
# (``_OverlappedWrites``); off, every write waits for its turn, as on SQLite.
OVERLAP_WRITES = True
RECORD_TYPES = {"entity": "entities", "person": "persons", "relationship": "relationships"}
RECORD_MODELS = {"entity": Entity, "person": Person, "relationship": Relationship}
TIMESTAMP_FIELDS = ["created_at", "updated_at"]


class BodsImportError(BodsError):
    """A file was rejected; nothing of it was written. Carries the validator's message."""


@dataclass
class ImportSummary:
    file_name: str
    import_run_id: int
    sha256: str = ""
    statements_read: int = 0
    statements_applied: int = 0
    statements_skipped: int = 0
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {plural: {"created": 0, "updated": 0, "closed": 0} for plural in RECORD_TYPES.values()}
    )
    affected_entity_ids: set[int] = field(default_factory=set)

    def count(self, record_type: str, change: str) -> None:
        self.counts[RECORD_TYPES[record_type]][change] += 1

    def describe(self) -> str:
        """One line for a person: statements read, applied and skipped, then created/updated/closed per type."""
        per_type = "; ".join(
            f"{plural} {changes['created']} created, {changes['updated']} updated, {changes['closed']} closed"
            for plural, changes in self.counts.items()
        )
        return (
            f"{self.statements_read} statements ({self.statements_applied} applied, "
            f"{self.statements_skipped} already imported): {per_type}"
        )


# -- entry point --------------------------------------------------------------------------


def bods_import_file(*, path: str | Path, stdout: IO[str] | None = None, progress: bool = True) -> ImportSummary:
    """Validate and apply one BODS file; raise ``BodsImportError`` (and record a failed run) if invalid.

    The progress bar is drawn only when ``progress`` is set and ``stdout`` is a terminal.
    """
    path = Path(path)
    run = ImportRun.objects.create(file_name=str(path))
    summary = ImportSummary(file_name=str(path), import_run_id=run.pk)
    show_progress = bool(progress and stdout is not None and stdout.isatty())
    # Only a transaction of its own can have its checks read from a second connection: one opened
    # by the caller may hold rows that no other connection sees yet.
    overlap = OVERLAP_WRITES and connection.vendor == "postgresql" and not connection.in_atomic_block
    try:
        with import_tuned(), transaction.atomic():
            _import_file(path=path, run=run, summary=summary, stdout=stdout, progress=show_progress, overlap=overlap)
            _finish_run(run=run, summary=summary)
    except BodsError as exc:
        _fail_run(run=run, error=exc.message)
        raise BodsImportError(exc.reason, position=exc.position, statement_id=exc.statement_id) from exc
    except Exception as exc:
        _fail_run(run=run, error=f"{exc.__class__.__name__}: {exc}")
        raise
    return summary


def validate_file(*, path: str | Path, stdout=None, progress: bool = False) -> tuple[int, str]:
    """Check a whole file without writing anything; return (statements, sha256). Raises ``BodsError``."""
    bods_file = BodsFile(path)
    validator = StatementValidator(known_record_types=db_record_types)
    statements = _progress(
        validator.validate_with_raw_text(bods_file.with_raw_text()), stdout=stdout, enabled=progress, desc="validating"
    )
    count = 0
    for count, _statement, _raw in statements:  # noqa: B007 - the loop drives validation
        pass
    if count == 0:
        raise BodsError("the file contains no statements")
    return count, bods_file.sha256


def _import_file(
    *, path: Path, run: ImportRun, summary: ImportSummary, stdout, progress: bool, overlap: bool = False
) -> None:
    """One streaming pass, called inside the import's transaction: validate a batch, then write it.

    A batch's references to records outside the file are checked before the
    batch is written, so the database still shows only records from earlier
    files and earlier batches (which the validator has seen): a reference to a
    record defined later in the file stays a dangling reference.

    With ``overlap`` a batch's writes run in a thread (``_OverlappedWrites``) while
    this thread checks and prepares the next batch.
    """
    # The validator's existence lookups also tell the applier which records exist and their
    # primary keys, so a batch costs no second lookup of the same recordIds.
    records = _KnownRecords()
    validator = StatementValidator(known_record_types=records.lookup)
    applier = _BatchApplier(run=run, summary=summary, records=records)
    reader = _open_reader(path, _mapper(run.pk))
    writes: _InlineWrites | _OverlappedWrites = _InlineWrites()
    try:
        if overlap:
            # Opened after the reader process is forked: the child inherits neither the thread nor the socket.
            writes = _OverlappedWrites(connections[DEFAULT_DB_ALIAS])
            applier.write = writes.write
        with writes.first_error():
            for batch in _progress_batches(reader, stdout=stdout, enabled=progress, desc="importing"):
                with writes.reading():
                    _validate_batch(validator, batch)
                    applier.apply(batch)
                writes.submit()
                summary.statements_read += len(batch)
            if summary.statements_read == 0:
                raise BodsError("the file contains no statements")
            summary.sha256 = reader.result()
            writes.wait()
    finally:
        writes.close()
        reader.close()


def _validate_batch(validator: StatementValidator, batch: list[Prepared]) -> None:
    for position, head, prechecked, _mapped in batch:
        validator.check_prechecked(position, head, prechecked)
    validator.finish()


def _finish_run(*, run: ImportRun, summary: ImportSummary) -> None:
    run.status = ImportRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.file_sha256 = summary.sha256
    run.statements_read = summary.statements_read
    run.statements_applied = summary.statements_applied
    run.counts = {**summary.counts, "statements_skipped": summary.statements_skipped}
    run.save()


def _fail_run(*, run: ImportRun, error: str) -> None:
    """Written outside the rolled-back transaction: the failure must stay on record."""
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.FAILED, finished_at=timezone.now(), error=error[:10000]
    )


def db_record_types(record_ids: Iterable[str]) -> dict[str, set[str]]:
    """Which record types the database already holds for these recordIds (one query per table per chunk)."""
    return _KnownRecords().lookup(record_ids)


class _KnownRecords:
    """recordId -> primary key, per record type, of the records the database holds for one import.

    Filled by ``lookup`` (the validator's ``known_record_types``: it selects the primary
    keys anyway) and by the applier as it inserts. A recordId that has been looked up and
    has no key for a type is known not to exist as that type. Nothing deletes records
    during an import and the import's transaction writes the records it creates, so the
    map stays what the database holds; recordIds never looked up are looked up on demand.
    """

    def __init__(self) -> None:
        self.pks: dict[str, dict[str, int]] = {record_type: {} for record_type in RECORD_MODELS}
        self._looked_up: set[str] = set()

    def lookup(self, record_ids: Iterable[str]) -> dict[str, set[str]]:
        """Which record types the database holds for these recordIds (one round trip per chunk on PostgreSQL)."""
        ids = list(record_ids)
        found: dict[str, set[str]] = defaultdict(set)
        tables = select_pairs_in_tables(list(RECORD_MODELS.values()), "external_id", "id", ids, chunk=LOOKUP_CHUNK)
        for record_type, pairs in zip(RECORD_MODELS, tables, strict=True):
            self.pks[record_type].update(pairs)
            for record_id in pairs:
                found[record_id].add(record_type)
        self._looked_up.update(ids)
        return found

    def existing(self, record_type: str, record_ids: Iterable[str]) -> dict[str, int]:
        """``{recordId: pk}`` for those of ``record_ids`` that exist as ``record_type``."""
        self.ensure(record_ids)
        pks = self.pks[record_type]
        return {record_id: pks[record_id] for record_id in record_ids if record_id in pks}

    def ensure(self, record_ids: Iterable[str]) -> None:
        missing = {record_id for record_id in record_ids if record_id not in self._looked_up}
        if missing:
            self.lookup(missing)

    def created(self, record_type: str, pks: dict[str, int]) -> None:
        """The import inserted these records (recordId -> pk)."""
        self.pks[record_type].update(pks)
        self._looked_up.update(pks)


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    function(*args, **kwargs)


class _InlineWrites:
    """Each write runs when it is asked for, in this thread: SQLite, or an import in its caller's transaction."""

    write = staticmethod(_call)

    @contextmanager
    def reading(self) -> Iterator[None]:
        yield

    @contextmanager
    def first_error(self) -> Iterator[None]:
        yield

    def submit(self) -> None:
        pass

    def wait(self) -> None:
        pass

    def close(self) -> None:
        pass


class _OverlappedWrites:
    """A batch's writes run on the import's connection in a thread while this thread checks the next batch.

    On one connection the importing process and its server backend take turns: the
    server is idle while the next batch is checked and mapped, and this process waits
    while the server stores the batch. The checks need only what the database held
    before the import, plus what the import itself created, which ``_KnownRecords``
    knows in memory (new records' keys are drawn from the sequences, not read back), so
    while a write is in flight this thread reads from a second connection
    (``reading``) and the writer thread has the import's connection, and transaction,
    to itself. One batch's writes are in flight at a time, in file order, so memory
    stays bounded and the database sees the writes a single pass would make.

    Errors: a write's error is raised by the next ``submit`` or ``wait``; an error of
    this thread while a write is in flight gives way to the write's error if it has one
    (``first_error``), because a single pass would have met the write's first. The
    import's transaction ends only after the writer has stopped (``close``).
    """

    def __init__(self, import_connection) -> None:
        self._connection = import_connection
        self._reads = connections.create_connection(import_connection.alias)
        # A write sent here would be committed at once, outside the import's transaction: refused.
        # (Not a read-only session: drawing keys, ``nextval``, is refused in one.)
        self._reads.execute_wrappers.append(_refuse_writes)
        self._queued: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._in_flight: Future | None = None
        import_connection.inc_thread_sharing()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="bods-import-writer", initializer=self._adopt_connection
        )

    def _adopt_connection(self) -> None:
        """The writer thread's ``connection`` is the import's own (Django's connections are per thread)."""
        connections[self._connection.alias] = self._connection

    def write(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._queued.append((function, args, kwargs))

    @contextmanager
    def reading(self) -> Iterator[None]:
        """This thread's queries go to the second connection, outside the import's transaction."""
        connections[self._connection.alias] = self._reads
        try:
            yield
        finally:
            connections[self._connection.alias] = self._connection

    def submit(self) -> None:
        """Wait for the previous batch's writes (raising their error), then start the queued ones."""
        self.wait()
        queued, self._queued = self._queued, []
        if queued:
            self._in_flight = self._executor.submit(_run_writes, queued)

    def wait(self) -> None:
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    @contextmanager
    def first_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.wait()  # the write in flight, if it fails, failed first: its error is raised instead
            raise

    def close(self) -> None:
        """Stop the writer (a write in flight is finished, not abandoned) before the transaction ends."""
        self._queued = []
        in_flight, self._in_flight = self._in_flight, None
        try:
            if in_flight is not None:
                in_flight.exception()  # waits; the error, if any, has been raised or given way already
            self._executor.shutdown(wait=True)
        finally:
            self._connection.dec_thread_sharing()
            self._reads.close()


def _refuse_writes(execute, sql, params, many, context):
    if not sql.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
        raise RuntimeError(f"the import's second connection is for reading only: {sql[:60]!r}")
    return execute(sql, params, many, context)


def _run_writes(queued: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]) -> None:
    for function, args, kwargs in queued:
        function(*args, **kwargs)


def _mapper(run_id: int) -> StatementMapper:
    # On PostgreSQL a statement's row is encoded for COPY where it is prepared (the reader process).
    encoding = {"encode_statement_row": copy_text_line} if connection.vendor == "postgresql" else {}
    return StatementMapper(
        run_id=run_id,
        entity_type_labels=dict(EntityType.choices),
        person_type_labels=dict(PersonType.choices),
        adapt_date=connection.ops.adapt_datefield_value,
        **encoding,
    )


def _open_reader(path: Path, mapper: StatementMapper):
    """The file's prepared batches, from a reader process for a large file (``cases.bods.pipeline``)."""
    try:
        large = path.stat().st_size >= READER_PROCESS_MIN_BYTES
    except OSError:
        large = False  # the reader reports why it cannot open the file
    if large:
        statement_validator()  # compiled once here rather than in every reader process
        _load_country_codes()
    return open_batches(
        PreparedFile(path, mapper, BATCH_SIZE),
        in_reader=large,
        before_sending=_picklable_if_failing,
        name="bods-import-reader",
    )


def _picklable_if_failing(batch: list[Prepared]) -> list[Prepared]:
    """A batch that will fail may hold exceptions that do not survive the pipe: rare, so checked only then."""
    return picklable(batch) if holds_problem(batch) else batch


def _load_country_codes() -> None:
    """pycountry loads its tables on first use: once here, not in every reader process."""
    import pycountry

    pycountry.countries.get(alpha_2="GB")
    pycountry.subdivisions.get(code="GB-ENG")


def _progress_batches(batches, *, stdout, enabled: bool, desc: str) -> Iterator[list[Prepared]]:
    if not enabled:
        yield from batches
        return
    from tqdm import tqdm

    with tqdm(file=stdout, desc=desc, unit=" statements", leave=False) as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch))


# -- applying a batch ----------------------------------------------------------------------


class _BatchApplier:
    """Applies prepared statements a batch at a time: a few queries per batch, never one per statement.

    Records are handled as dicts of column values rather than model instances,
    and inserted as plain tuples (``TableWriter``: ``COPY`` on PostgreSQL,
    ``executemany`` or multi-row ``INSERT`` on SQLite): building and compiling ORM
    instances cost five times the rest of the import. Which records exist, and
    their primary keys, come from ``_KnownRecords``; new records' keys come back
    from the insert itself, so nothing is read back.
    """

    def __init__(self, *, run: ImportRun, summary: ImportSummary, records: _KnownRecords | None = None):
        self.run = run
        self.summary = summary
        self.records = records or _KnownRecords()
        # Every write goes through ``write(function, *args)``: run at once, or queued for the batch's
        # write in a thread (``_OverlappedWrites``). What the checks of later batches need is known
        # before then: new records' keys are drawn, not read back.
        self.write: Callable[..., None] = _call
        self.jurisdictions = set(Jurisdiction.objects.values_list("code", flat=True))
        # The mapping gives JSON columns as text and dates as the adapter sends them.
        # The timestamps are the batch's one ``now``, adapted once (``apply``).
        self.writers = {
            Entity: TableWriter(Entity, adapted=[*ADAPTED_FIELDS["entity"], *TIMESTAMP_FIELDS]),
            Person: TableWriter(Person, adapted=[*ADAPTED_FIELDS["person"], *TIMESTAMP_FIELDS]),
            Relationship: TableWriter(Relationship, adapted=[*ADAPTED_FIELDS["relationship"], *TIMESTAMP_FIELDS]),
            EntityIdentifier: TableWriter(EntityIdentifier),
            Interest: TableWriter(Interest, adapted=ADAPTED_FIELDS["interest"]),
            BodsStatement: TableWriter(BodsStatement, adapted=ADAPTED_FIELDS["statement"]),
        }

    def apply(self, batch: list[Prepared]) -> None:
        """``batch`` holds prepared statements, validated, in file order."""
        already = select_pairs(BodsStatement, "statement_id", "id", [head[0] for _, head, _, _ in batch])
        fresh = [item for item in batch if item[1][0] not in already] if already else batch
        self.summary.statements_skipped += len(batch) - len(fresh)
        if not fresh:
            return
        by_type: dict[str, list[Prepared]] = {"entity": [], "person": [], "relationship": []}
        for item in fresh:
            by_type[item[1][2]].append(item)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        # Parties first: relationships in this batch may point at parties created in it.
        pks = {("entity", rid): pk for rid, pk in self._apply_entities(by_type["entity"], now).items()}
        pks |= {("person", rid): pk for rid, pk in self._apply_persons(by_type["person"], now).items()}
        self._apply_relationships(by_type["relationship"], pks, now)
        statement_rows = [mapped[5] for _, _, _, mapped in fresh]
        if connection.vendor == "postgresql":  # rows come as COPY text lines (``_mapper``)
            self.write(self.writers[BodsStatement].insert_copy_text, STATEMENT_FIELDS, statement_rows)
        else:
            self.write(self.writers[BodsStatement].insert_rows, STATEMENT_FIELDS, statement_rows)
        self.summary.statements_applied += len(fresh)

    # entities ---------------------------------------------------------------------------

    def _apply_entities(self, items: list[Prepared], now) -> dict[str, int]:
        if not items:
            return {}
        batch = self._collect("entity", items, now)
        self._ensure_jurisdictions(batch.values.values())
        pks = self._save(Entity, "entity", batch, now)
        self._replace_children(EntityIdentifier, ["entity_id", *IDENTIFIER_FIELDS], pks, batch)
        self.summary.affected_entity_ids.update(pks.values())
        return pks

    def _ensure_jurisdictions(self, entities: Iterable[dict[str, Any]]) -> None:
        """Valid ISO 3166 codes missing from the table (new subdivisions) are added, not rejected."""
        import pycountry

        wanted = {e.get("jurisdiction_id") for e in entities} | {
            e.get("registered_address_country_id") for e in entities
        }
        missing = sorted(code for code in wanted - self.jurisdictions if code)
        if not missing:
            return
        rows = []
        for code in missing:
            found = pycountry.subdivisions.get(code=code) if "-" in code else pycountry.countries.get(alpha_2=code)
            if found is None:  # the validator rejects these first; this is the last line of defence
                raise BodsError(f"unknown jurisdiction code {code!r}")
            rows.append(Jurisdiction(code=code, name=found.name))
        self.write(Jurisdiction.objects.bulk_create, rows, ignore_conflicts=True)
        self.jurisdictions.update(missing)

    # persons ----------------------------------------------------------------------------

    def _apply_persons(self, items: list[Prepared], now) -> dict[str, int]:
        if not items:
            return {}
        batch = self._collect("person", items, now)
        return self._save(Person, "person", batch, now)

    # relationships ----------------------------------------------------------------------

    def _apply_relationships(self, items: list[Prepared], pks: dict[tuple[str, str], int], now) -> None:
        if not items:
            return
        self._resolve_parties(items, pks)

        def resolve(values: dict[str, Any], refs: tuple[Any, Any]) -> None:
            subject, party = refs
            values["subject_id"] = pks[("entity", subject)]
            values["interested_entity_id"] = values["interested_person_id"] = None
            if isinstance(party, str):
                if ("entity", party) in pks:
                    values["interested_entity_id"] = pks[("entity", party)]
                else:
                    values["interested_person_id"] = pks[("person", party)]

        batch = self._collect("relationship", items, now, resolve)
        saved = self._save(Relationship, "relationship", batch, now)
        # An update replaces the relationship's interests wholesale.
        self._replace_children(Interest, ["relationship_id", *INTEREST_FIELDS], saved, batch)
        # A relationship only closed in this batch keeps the subject it has in the database, which may
        # be a row this import wrote: read with the writes, on the import's connection.
        unknown_subject = [rid for rid, values in batch.values.items() if "subject_id" not in values]
        self.summary.affected_entity_ids.update(
            values["subject_id"] for values in batch.values.values() if "subject_id" in values
        )
        if unknown_subject:
            self.write(self._add_subjects_of, unknown_subject)

    def _add_subjects_of(self, relationship_ids: list[str]) -> None:
        subjects = select_pairs(Relationship, "external_id", "subject", relationship_ids)
        self.summary.affected_entity_ids.update(subjects[rid] for rid in relationship_ids)

    def _resolve_parties(self, items: list[Prepared], pks: dict[tuple[str, str], int]) -> None:
        """Add the parties not written in this batch to the recordId -> pk map, from the known records."""
        wanted = set()
        for _position, head, _prechecked, _mapped in items:
            for ref in head[4:]:  # subject, interested party
                if isinstance(ref, str) and ("entity", ref) not in pks and ("person", ref) not in pks:
                    wanted.add(ref)
        if not wanted:
            return
        self.records.ensure(wanted)
        for record_type in ("entity", "person"):
            known = self.records.pks[record_type]
            for rid in wanted:
                pk = known.get(rid)
                if pk is not None:
                    pks[(record_type, rid)] = pk

    # shared -----------------------------------------------------------------------------

    def _collect(self, record_type: str, items: list[Prepared], now, resolve=None) -> _RecordBatch:
        """Apply the batch's statements to in-memory rows, in statement order.

        A record named several times in one batch ends with its last state; its
        dependent rows (identifiers, interests) are those of its last details.
        """
        batch = _RecordBatch()
        batch.existing = self.records.existing(record_type, {head[1] for _, head, _, _ in items})
        count = self.summary.counts[RECORD_TYPES[record_type]]
        detail_fields = DETAIL_FIELDS[record_type]
        for _position, head, _prechecked, mapped in items:
            if isinstance(mapped, Exception):
                raise mapped
            statement_id, rid, _record_type, status, _subject, _party = head
            statement_date, source, details, children, refs, _row = mapped
            values = batch.values.get(rid)
            if values is None:
                values = batch.values[rid] = {}
                if rid not in batch.existing:
                    batch.created[rid] = None
            if rid in batch.created and values.get("statement_id") is None:
                change = "created"
            else:
                change = "closed" if status == "closed" else "updated"
            if status != "closed":
                if resolve is not None:
                    resolve(values, refs)
                values.update(zip(detail_fields, details, strict=True))
                if children is not None:
                    batch.children[rid] = children
            values["is_closed"] = status == "closed"
            values["statement_id"] = statement_id
            values["statement_date"] = statement_date
            values["source"] = source
            values["updated_at"] = now
            count[change] += 1
        return batch

    def _save(self, model, record_type: str, batch: _RecordBatch, now) -> dict[str, int]:
        """Insert new rows, update changed ones; return recordId -> pk for every record in the batch."""
        fields = RECORD_FIELDS[record_type]
        writer = self.writers[model]
        pks = {rid: batch.existing[rid] for rid in batch.values if rid in batch.existing}
        if batch.created:
            columns, values = itemgetter(*fields), batch.values
            attnames = ["external_id", "created_at", *fields]
            rows = [(rid, now, *columns(values[rid])) for rid in batch.created]
            if connection.vendor == "postgresql":
                # Keys drawn from the sequence first (what ``insert_returning_ids`` does), so the rows can
                # be written later, with the batch's other writes.
                ids = writer.draw_ids(len(rows))
                self.write(
                    writer.insert_rows, ["id", *attnames], [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
                )
            else:
                ids = writer.insert_returning_ids(attnames, rows, key="external_id")
            created = dict(zip(batch.created, ids, strict=True))
            pks.update(created)
            self.records.created(record_type, created)
        updates = [(batch.existing[rid], values) for rid, values in batch.values.items() if rid not in batch.created]
        if updates:
            self.write(writer.update, updates)
        return pks

    def _replace_children(self, model, attnames: list[str], pks: dict[str, int], batch: _RecordBatch) -> None:
        """Delete the updated records' rows of ``model`` and insert every record's new ones (parent key first)."""
        parent_field = attnames[0]
        replaced = [pks[rid] for rid in batch.children if rid not in batch.created]
        if replaced:
            self.write(_delete_where_in, model, parent_field, replaced)
        rows = [(pks[rid], *item) for rid, items in batch.children.items() for item in items]
        if rows:
            self.write(self.writers[model].insert_rows, attnames, rows)


def _delete_where_in(model, field_name: str, values: list[Any]) -> None:
    model.objects.filter(**{f"{field_name}__in": values}).delete()


@dataclass
class _RecordBatch:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    created: dict[str, None] = field(default_factory=dict)  # an ordered set: rows are inserted in file order
    children: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def _progress(iterable, *, stdout, enabled: bool, desc: str, total: int | None = None):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, file=stdout, desc=desc, unit=" statements", total=total, leave=False)


def bods_import_statements(*, statements: list[dict[str, Any]], label: str = "api") -> ImportSummary:
    """Validate then apply in-memory BODS 0.4 statements (e.g. an API request body), all or nothing.

    The same validator and applier as ``bods_import_file``; raises ``BodsImportError``
    (and records a failed run) if any statement is invalid. Runs in the caller's transaction.
    """
    run = ImportRun.objects.create(file_name=label[:255])
    summary = ImportSummary(file_name=label, import_run_id=run.pk, statements_read=len(statements))
    try:
        if not statements:
            raise BodsError("no statements")
        for position, statement in enumerate(statements, start=1):
            if not isinstance(statement, dict):
                raise BodsError(f"a statement must be a JSON object, not {type(statement).__name__}", position=position)
        mapper = _mapper(run.pk)
        prepared = [mapper.prepare(position, statement, None) for position, statement in enumerate(statements, 1)]
        _validate_batch(StatementValidator(known_record_types=db_record_types), prepared)
        with transaction.atomic():
            applier = _BatchApplier(run=run, summary=summary)
            for batch in batched(iter(prepared), BATCH_SIZE):
                applier.apply(batch)
            _finish_run(run=run, summary=summary)
    except BodsError as exc:
        _fail_run(run=run, error=exc.message)
        raise BodsImportError(exc.reason, position=exc.position, statement_id=exc.statement_id) from exc
    return summary
