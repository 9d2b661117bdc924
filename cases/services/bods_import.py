"""Importing BODS 0.4 files into the ownership graph.

A file is one all-or-nothing unit, read once and streamed so a file of any
size fits in memory. Inside one transaction, each batch of 2,000 statements is
validated completely (``cases.bods``: schema, semantic checks, references to
the database) and only then written with raw bulk writes. The first invalid
statement raises, the transaction rolls back, and nothing from the file is
kept; the ``ImportRun`` row saying why is written outside the transaction so
the rollback cannot take it away. (Validating the whole file first and then
reading it again to apply it gave the same guarantee at twice the parsing.)

Each statement is first *prepared* on its own: parsed, put through the checks
that need nothing but the statement (``cases.bods.precheck``: version, schema,
text, share bounds...) and mapped to column values. That work depends on no
other statement and no database, so for a large file a second process does it
(``_ReaderProcess``, forked, a batch ahead) while this one checks what depends
on earlier statements and the database and writes. Both run the same code in
the same order, and a problem or exception found while preparing is raised
where checking the file in order would raise it.

Statements already stored in ``BodsStatement`` are skipped, so importing the
same file twice changes nothing. Record semantics follow BODS: ``new``
creates a record (or replaces it if the record already exists), ``updated``
replaces its details wholesale, ``closed`` ends it.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import multiprocessing
import os
import pickle
import signal
import traceback
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from django.db import connection, connections, models, transaction
from django.utils import timezone

from cases.bods import BodsError, BodsFile, StatementValidator
from cases.bods.schema import statement_validator
from cases.bods.validation import NO_PROBLEMS, Prechecked, StatementHead, precheck, statement_head
from cases.models import (
    BodsStatement,
    Entity,
    EntityIdentifier,
    EntityType,
    ImportRun,
    Interest,
    InterestType,
    Jurisdiction,
    Person,
    PersonType,
    Relationship,
)
from cases.services.bulk_sql import (
    RawJson,
    TableWriter,
    convert_columns,
    json_text,
    last_value_cached,
    select_pairs,
)

BATCH_SIZE = 2000
LOOKUP_CHUNK = 2000
SHARE_PLACES = Decimal("0.00000001")  # Interest share fields: 8 decimal places.
SQLITE_IMPORT_CACHE_KIB = 65536  # page cache while importing; SQLite's default is 2 MiB
# Files at least this large are prepared by a second process; forking one costs tens of
# milliseconds, about what preparing 2,000 statements costs.
READER_PROCESS_MIN_BYTES = 4 << 20

# The columns a statement's recordDetails set, in the order ``_Preparer.map`` gives them.
# A relationship's parties are resolved to primary keys when the batch is written.
DETAIL_FIELDS = {
    "entity": [
        "name",
        "alternate_names",
        "entity_type",
        "entity_subtype",
        "jurisdiction_id",
        "registered_address_country_id",
        "business_address_countries",
        "addresses",
        "is_listed",
        "listing",
        "founding_date",
        "dissolution_date",
    ],
    "person": ["name", "names", "person_type", "nationalities", "residence_countries", "tax_residencies", "birth_date"],
    "relationship": ["unspecified_reason", "unspecified_description", "is_component", "component_record_ids"],
}
# What every record row carries besides its details: the statement that last set it.
STATEMENT_REF_FIELDS = ["statement_id", "statement_date", "source", "is_closed", "updated_at"]
ENTITY_FIELDS = [*DETAIL_FIELDS["entity"], *STATEMENT_REF_FIELDS]
PERSON_FIELDS = [*DETAIL_FIELDS["person"], *STATEMENT_REF_FIELDS]
RELATIONSHIP_FIELDS = [
    "subject_id",
    "interested_entity_id",
    "interested_person_id",
    *DETAIL_FIELDS["relationship"],
    *STATEMENT_REF_FIELDS,
]
IDENTIFIER_FIELDS = ["scheme", "scheme_name", "value", "uri"]
INTEREST_FIELDS = [
    "interest_type",
    "direct_or_indirect",
    "beneficial_ownership_or_control",
    "share_exact",
    "share_minimum",
    "share_maximum",
    "share_minimum_exclusive",
    "share_maximum_exclusive",
    "start_date",
    "end_date",
    "details",
]
STATEMENT_FIELDS = [
    "statement_id",
    "record_id",
    "record_type",
    "record_status",
    "statement_date",
    "declaration_subject",
    "import_run_id",
    "position",
    "body",
]
RECORD_TYPES = {"entity": "entities", "person": "persons", "relationship": "relationships"}


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
    try:
        with _sqlite_page_cache(SQLITE_IMPORT_CACHE_KIB), _cyclic_gc_paused(), transaction.atomic():
            _import_file(path=path, run=run, summary=summary, stdout=stdout, progress=show_progress)
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


def _import_file(*, path: Path, run: ImportRun, summary: ImportSummary, stdout, progress: bool) -> None:
    """One streaming pass, called inside the import's transaction: validate a batch, then write it.

    A batch's references to records outside the file are checked before the
    batch is written, so the database still shows only records from earlier
    files and earlier batches (which the validator has seen): a reference to a
    record defined later in the file stays a dangling reference.
    """
    # The validator's existence lookups also tell the applier which records exist and their
    # primary keys, so a batch costs no second lookup of the same recordIds.
    records = _KnownRecords()
    validator = StatementValidator(known_record_types=records.lookup)
    applier = _BatchApplier(run=run, summary=summary, records=records)
    reader = _open_reader(path, _Preparer(run.pk))
    try:
        for batch in _progress_batches(reader, stdout=stdout, enabled=progress, desc="importing"):
            _validate_batch(validator, batch)
            applier.apply(batch)
            summary.statements_read += len(batch)
        if summary.statements_read == 0:
            raise BodsError("the file contains no statements")
        summary.sha256 = reader.sha256
    finally:
        reader.close()


def _validate_batch(validator: StatementValidator, batch: list[_Prepared]) -> None:
    for position, head, prechecked, _mapped in batch:
        validator.check_prechecked(position, head, prechecked)
    validator.finish()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a file is imported; reference counting still frees everything.

    Every parsed statement is a few dozen dicts and lists, so the collector ran
    thousands of times per 100,000 statements, each time walking every live
    object of the process: a fifth of the import's time. The import builds no
    reference cycles (its batches are freed as soon as they are written), and
    the collector is switched back on, if it was on, when the import ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _sqlite_page_cache(kib: int) -> Iterator[None]:
    """A larger SQLite page cache for the import's one big transaction, then the connection's own again.

    With the default 2 MiB, index pages of the growing tables are evicted and
    read back for every batch; 64 MiB keeps them (about 15% of the import's time).
    The cache is per connection and bounded, so memory stays bounded too.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


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


RECORD_MODELS = {"entity": Entity, "person": Person, "relationship": Relationship}


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
        """Which record types the database holds for these recordIds (one query per table per chunk)."""
        ids = list(record_ids)
        found: dict[str, set[str]] = defaultdict(set)
        for record_type, model in RECORD_MODELS.items():
            pairs = select_pairs(model, "external_id", "id", ids, chunk=LOOKUP_CHUNK)
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


# -- preparing statements (this process or a reader process) ------------------------------


# A prepared statement is a plain tuple, ``(position, head, prechecked, mapped)``: one crosses
# the pipe from the reader process per statement, and a plain tuple unpickles several times
# faster than a named one.
#
# ``head`` and ``prechecked`` are what ``StatementValidator.check_prechecked`` takes. ``mapped``
# is None for a statement with a problem (its batch fails before it is written), the exception
# mapping raised (raised when the batch is written, where mapping used to happen), or the
# statement's column values, from the statement alone:
# ``(statement_date, source, details, children, refs, row)``: ``details`` holds the
# ``DETAIL_FIELDS`` values (None for a closing statement, whose details are not applied),
# ``children`` the identifier or interest rows without the parent's key, ``refs`` a
# relationship's subject and interested party as published, ``row`` the ``BodsStatement`` row.
# JSON columns hold JSON text and dates the value the database adapter sends.
_Prepared = tuple[int, StatementHead, Prechecked, Any]


class _Preparer:
    """Prepares statements: the same in this process and in a reader process."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        adapt = connection.ops.adapt_datefield_value  # a plain function of the value: safe in a forked child

        def date_param(value: str | None) -> Any:
            return adapt(_date(value)) if value else None

        self.date = lru_cache(maxsize=4096)(date_param)  # a file repeats a few dates many times

    def prepare(self, position: int, statement: dict[str, Any], raw: str | None) -> _Prepared:
        """Everything about one statement that depends on nothing else. Never raises."""
        head = statement_head(statement)
        prechecked = precheck(statement, raw)
        mapped: Any = None
        if prechecked is NO_PROBLEMS:
            try:
                mapped = self.map(position, statement, raw)
            except Exception as exc:  # raised by _BatchApplier._collect, where mapping used to happen
                mapped = exc
        return (position, head, prechecked, mapped)

    def batches(self, statements: Iterator[tuple[int, dict[str, Any], str | None]], size: int):
        """Batches of prepared statements. A batch is read whole first, so a read error stops it unchecked."""
        for batch in _batched(statements, size):
            yield [self.prepare(position, statement, raw) for position, statement, raw in batch]

    def map(self, position: int, statement: dict[str, Any], raw: str | None) -> tuple[Any, ...]:
        """A valid statement's column values: the same steps, in the same order, as applying it took."""
        record_type = statement["recordType"]
        details = children = refs = None
        if statement.get("recordStatus") != "closed":  # a closing statement's details are not applied
            values: dict[str, Any] = {}
            children, refs = _SET_DETAILS[record_type](values, statement["recordDetails"], self.date)
            for name in _JSON_DETAILS[record_type]:
                values[name] = json_text(values[name])
            details = tuple(values[name] for name in DETAIL_FIELDS[record_type])
        statement_date = self.date(statement["statementDate"])
        source = json_text(statement.get("source") or {})
        row = (
            statement["statementId"],
            statement["recordId"],
            record_type,
            statement.get("recordStatus", "new"),
            statement_date,
            statement.get("declarationSubject", "")[:255],
            self.run_id,
            position,
            # The text as published when the reader kept it, else encoded with Decimals as numbers.
            raw if raw is not None else json_text(statement),
        )
        return (statement_date, source, details, children, refs, row)


class _InlineReader:
    """Prepared batches of a file, read in this process."""

    def __init__(self, path: Path, preparer: _Preparer):
        self._file = BodsFile(path)
        self._preparer = preparer

    def __iter__(self) -> Iterator[list[_Prepared]]:
        return self._preparer.batches(self._file.with_raw_text(), BATCH_SIZE)

    @property
    def sha256(self) -> str:
        return self._file.sha256

    def close(self) -> None:
        pass


class _ReaderProcess:
    """Prepared batches of a file, read, parsed, checked and mapped by a forked process.

    The child sends one pickled batch at a time through a pipe and blocks until it
    is taken, so it is never more than a batch ahead and memory stays bounded. It
    never touches the database. A read error travels as the same ``BodsError``, any
    other exception as itself (with the child's traceback as a note); if the child
    dies, the import fails. ``close`` ends the child whatever state it is in.
    """

    def __init__(self, path: Path, preparer: _Preparer):
        statement_validator()  # compiled once here rather than in every child
        _load_country_codes()
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_reader_process_main,
            args=(path, preparer, BATCH_SIZE, send, self._receive, os.getpid()),
            name="bods-import-reader",
            daemon=True,
        )
        self._process.start()
        send.close()  # the child's copy stays open: end of file on the pipe means the child is gone
        self._sha256: str | None = None

    def __iter__(self) -> Iterator[list[_Prepared]]:
        while True:
            try:
                message = self._receive.recv()
            except EOFError:
                self._process.join(5)
                raise RuntimeError(
                    f"the import's reader process ended before the end of the file (exit code {self._process.exitcode})"
                ) from None
            kind = message[0]
            if kind == "batch":
                yield message[1]
            elif kind == "end":
                self._sha256 = message[1]
                return
            elif kind == "bods_error":
                raise BodsError(message[1], position=message[2], statement_id=message[3])
            else:
                raise message[1]

    @property
    def sha256(self) -> str:
        assert self._sha256 is not None, "sha256 is known once every batch has been read"
        return self._sha256

    def close(self) -> None:
        self._receive.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(10)
        if self._process.is_alive():  # pragma: no cover - SIGTERM is not blocked in the child
            self._process.kill()
            self._process.join()
        self._process.close()


def _reader_process_main(path: Path, preparer: _Preparer, batch_size: int, send, receive, parent_pid: int) -> None:
    """The reader process: prepared batches into ``send``, then the file's sha256 or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the importing process, which ends this one
    _detach_from_parent(receive, parent_pid)
    try:
        bods_file = BodsFile(path)
        for batch in preparer.batches(bods_file.with_raw_text(), batch_size):
            if any(
                prechecked is not NO_PROBLEMS or isinstance(mapped, Exception) for _, _, prechecked, mapped in batch
            ):
                batch = _picklable(batch)  # noqa: PLW2901 - rare: a batch that will fail
            _send(send, ("batch", batch))
        message: tuple[Any, ...] = ("end", bods_file.sha256)
    except BrokenPipeError:
        return  # the importing process has stopped reading
    except BodsError as exc:
        message = ("bods_error", exc.reason, exc.position, exc.statement_id)
    except Exception as exc:
        exc.add_note(f"(raised in the import's reader process)\n{traceback.format_exc()}")
        message = ("error", _picklable(exc))
    try:
        _send(send, message)
    except BrokenPipeError:
        return
    finally:
        send.close()


def _detach_from_parent(receive, parent_pid: int) -> None:
    """Let go of what the importing process's transaction depends on, and die with that process.

    A forked child inherits the parent's database socket. Were the parent killed, the
    child's copy would keep the connection open, so PostgreSQL would never see the client
    go and the import's transaction would stay open, holding its locks, for as long as the
    child lived. The child therefore points every inherited database socket at /dev/null
    (closing the connection instead would send the server a Terminate and end the parent's
    session), closes its copy of the pipe's reading end (so a send after the parent is gone
    fails with ``BrokenPipeError``), and on Linux asks to be killed when the parent dies.
    """
    receive.close()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in _database_socket_fds():
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    _kill_me_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def _database_socket_fds() -> list[int]:
    fds = []
    for alias in connections:
        wrapper = connections[alias]
        raw = getattr(wrapper, "connection", None)
        pgconn = getattr(raw, "pgconn", None)  # psycopg 3; SQLite holds no server session
        if pgconn is not None and pgconn.status == 0:  # CONNECTION_OK
            fds.append(pgconn.socket)
    return fds


def _kill_me_with_parent() -> None:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` where the C library has it (Linux).

    Elsewhere the broken pipe ends the child at its next send."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _send(send, message: tuple[Any, ...]) -> None:
    send.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _picklable(value: Any) -> Any:
    """``value`` with every exception in it that does not survive pickling replaced by a ``RuntimeError`` naming it."""
    if isinstance(value, Exception):
        try:
            pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes
        except Exception:
            return RuntimeError(f"{value.__class__.__name__}: {value}")
        return value
    if isinstance(value, Prechecked):
        return Prechecked(*(_picklable(item) for item in value))
    if isinstance(value, tuple | list):
        return type(value)(_picklable(item) for item in value)
    return value


def _open_reader(path: Path, preparer: _Preparer) -> _InlineReader | _ReaderProcess:
    try:
        large = path.stat().st_size >= READER_PROCESS_MIN_BYTES
    except OSError:
        large = False  # the reader reports why it cannot open the file
    if large and "fork" in multiprocessing.get_all_start_methods():
        return _ReaderProcess(path, preparer)
    return _InlineReader(path, preparer)


def _load_country_codes() -> None:
    """pycountry loads its tables on first use: once here, not in every reader process."""
    import pycountry

    pycountry.countries.get(alpha_2="GB")
    pycountry.subdivisions.get(code="GB-ENG")


def _progress_batches(batches, *, stdout, enabled: bool, desc: str) -> Iterator[list[_Prepared]]:
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
    and inserted as plain tuples (``_RowInserter``: ``executemany`` on SQLite,
    ``COPY`` on PostgreSQL): building and compiling ORM instances cost five times
    the rest of the import. Which records exist, and their primary keys, come from
    ``_KnownRecords``; new parties and relationships get their primary keys from
    the table's sequence before they are inserted, so nothing is read back.
    """

    def __init__(self, *, run: ImportRun, summary: ImportSummary, records: _KnownRecords | None = None):
        self.run = run
        self.summary = summary
        self.records = records or _KnownRecords()
        self.jurisdictions = set(Jurisdiction.objects.values_list("code", flat=True))
        self.inserters = {
            Entity: _RowInserter(Entity, ["id", "external_id", "created_at", *ENTITY_FIELDS]),
            Person: _RowInserter(Person, ["id", "external_id", "created_at", *PERSON_FIELDS]),
            Relationship: _RowInserter(Relationship, ["id", "external_id", "created_at", *RELATIONSHIP_FIELDS]),
            EntityIdentifier: _RowInserter(EntityIdentifier, ["entity_id", *IDENTIFIER_FIELDS]),
            Interest: _RowInserter(Interest, ["relationship_id", *INTEREST_FIELDS]),
            BodsStatement: _RowInserter(BodsStatement, STATEMENT_FIELDS),
        }

    def apply(self, batch: list[_Prepared]) -> None:
        """``batch`` holds prepared statements, validated, in file order."""
        already = select_pairs(BodsStatement, "statement_id", "id", [head[0] for _, head, _, _ in batch])
        fresh = [item for item in batch if item[1][0] not in already] if already else batch
        self.summary.statements_skipped += len(batch) - len(fresh)
        if not fresh:
            return
        by_type: dict[str, list[_Prepared]] = {"entity": [], "person": [], "relationship": []}
        for item in fresh:
            by_type[item[1][2]].append(item)
        now = timezone.now()
        # Parties first: relationships in this batch may point at parties created in it.
        pks = {("entity", rid): pk for rid, pk in self._apply_entities(by_type["entity"], now).items()}
        pks |= {("person", rid): pk for rid, pk in self._apply_persons(by_type["person"], now).items()}
        self._apply_relationships(by_type["relationship"], pks, now)
        self.inserters[BodsStatement].insert([mapped[5] for _, _, _, mapped in fresh])
        self.summary.statements_applied += len(fresh)

    # entities ---------------------------------------------------------------------------

    def _apply_entities(self, items: list[_Prepared], now) -> dict[str, int]:
        if not items:
            return {}
        batch = self._collect("entity", items, now)
        self._ensure_jurisdictions(batch.values.values())
        pks = self._save(Entity, "entity", batch, ENTITY_FIELDS, now)
        self._replace_children(EntityIdentifier, "entity_id", pks, batch.created, batch.children)
        self.summary.affected_entity_ids.update(pks.values())
        return pks

    def _ensure_jurisdictions(self, entities: Iterable[dict[str, Any]]) -> None:
        """Valid ISO 3166 codes missing from the table (new subdivisions) are added, not rejected."""
        import pycountry

        wanted = {e.get("jurisdiction_id") for e in entities} | {
            e.get("registered_address_country_id") for e in entities
        }
        missing = sorted(code for code in wanted - self.jurisdictions if code)
        rows = []
        for code in missing:
            found = pycountry.subdivisions.get(code=code) if "-" in code else pycountry.countries.get(alpha_2=code)
            if found is None:  # the validator rejects these first; this is the last line of defence
                raise BodsError(f"unknown jurisdiction code {code!r}")
            rows.append(Jurisdiction(code=code, name=found.name))
        Jurisdiction.objects.bulk_create(rows, ignore_conflicts=True)
        self.jurisdictions.update(missing)

    # persons ----------------------------------------------------------------------------

    def _apply_persons(self, items: list[_Prepared], now) -> dict[str, int]:
        if not items:
            return {}
        batch = self._collect("person", items, now)
        return self._save(Person, "person", batch, PERSON_FIELDS, now)

    # relationships ----------------------------------------------------------------------

    def _apply_relationships(self, items: list[_Prepared], pks: dict[tuple[str, str], int], now) -> None:
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
        saved = self._save(Relationship, "relationship", batch, RELATIONSHIP_FIELDS, now)
        # An update replaces the relationship's interests wholesale.
        self._replace_children(Interest, "relationship_id", saved, batch.created, batch.children)
        # A relationship only closed in this batch keeps the subject it has in the database.
        unknown_subject = [rid for rid, values in batch.values.items() if "subject_id" not in values]
        subjects = select_pairs(Relationship, "external_id", "subject", unknown_subject) if unknown_subject else {}
        for rid, values in batch.values.items():
            self.summary.affected_entity_ids.add(values.get("subject_id") or subjects[rid])

    def _resolve_parties(self, items: list[_Prepared], pks: dict[tuple[str, str], int]) -> None:
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

    def _collect(self, record_type: str, items: list[_Prepared], now, resolve=None) -> _RecordBatch:
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
                    values.update(external_id=rid, created_at=now)
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

    def _save(self, model, record_type: str, batch: _RecordBatch, fields: list[str], now) -> dict[str, int]:
        """Insert new rows, update changed ones; return recordId -> pk for every record in the batch."""
        pks = {rid: batch.existing[rid] for rid in batch.values if rid in batch.existing}
        if batch.created:
            inserter = self.inserters[model]
            created = dict(zip(batch.created, inserter.next_ids(len(batch.created)), strict=True))
            columns, values = itemgetter(*fields), batch.values
            inserter.insert([(pk, rid, now, *columns(values[rid])) for rid, pk in created.items()])
            pks.update(created)
            self.records.created(record_type, created)
        updates = [(batch.existing[rid], values) for rid, values in batch.values.items() if rid not in batch.created]
        if updates:
            json_fields = self.inserters[model].json_fields
            TableWriter(model).update(
                (pk, {name: RawJson(value) if name in json_fields else value for name, value in values.items()})
                for pk, values in updates
            )
        return pks

    def _replace_children(self, model, parent_field, pks, created, children) -> None:
        replaced = [pks[rid] for rid in children if rid not in created]
        if replaced:
            model.objects.filter(**{f"{parent_field}__in": replaced}).delete()
        rows = [(pks[rid], *item) for rid, items in children.items() for item in items]
        self.inserters[model].insert(rows)


@dataclass
class _RecordBatch:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    created: dict[str, None] = field(default_factory=dict)  # an ordered set: rows are inserted in file order
    children: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


class _RowInserter:
    """Inserts rows of one model given as tuples in ``attnames`` order: ``COPY`` or ``executemany``.

    JSON columns take JSON text (``_Preparer.map`` encodes with ``bulk_sql.json_text``;
    a statement's body is its published text); dates and datetimes go through the
    backend's adapters, as the ORM would send them.
    """

    def __init__(self, model, attnames: list[str]):
        self.model = model
        self.table = connection.ops.quote_name(model._meta.db_table)
        self.is_postgres = connection.vendor == "postgresql"
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.json_fields = {name for name in attnames if isinstance(fields[name], models.JSONField)}
        self.columns = ", ".join(connection.ops.quote_name(fields[name].column) for name in attnames)
        placeholders = ", ".join(["%s"] * len(attnames))  # SQLite only: PostgreSQL gets COPY
        self.sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({placeholders})"  # noqa: S608 - quoted metadata
        self.conversions = [
            (index, convert)
            for index, convert in enumerate(self._conversion(fields[name]) for name in attnames)
            if convert is not None
        ]
        self._sequence: str | None = None

    @staticmethod
    def _conversion(field):
        if isinstance(field, models.DateTimeField):  # dates come converted (``_Preparer.date``)
            return last_value_cached(connection.ops.adapt_datetimefield_value)
        return None

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        params = convert_columns(rows, self.conversions)
        with connection.cursor() as cursor:
            if self.is_postgres:
                # COPY streams rows without per-row statements or client-side query rewriting.
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN") as copy:
                    write_row = copy.write_row
                    for values in params:
                        write_row(values)
            else:  # in-process SQLite: executemany is the fastest path
                cursor.executemany(self.sql, params)

    def next_ids(self, count: int) -> list[int]:
        """``count`` new primary keys, ascending: the ones inserting the rows one by one would have given them.

        PostgreSQL: drawn from the table's sequence (concurrent writers draw other
        values). SQLite: the import's transaction holds the only write lock from its
        first write on, so the keys are the ones ``AUTOINCREMENT`` would pick next
        (a write by another connection in between makes this transaction's next
        write fail, never a key taken twice).
        """
        with connection.cursor() as cursor:
            if self.is_postgres:
                if self._sequence is None:
                    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [self.model._meta.db_table])
                    (self._sequence,) = cursor.fetchone()
                cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [self._sequence, count])
                return sorted(pk for (pk,) in cursor.fetchall())
            cursor.execute(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {self.table}), 0))",
                [self.model._meta.db_table],
            )
            (last,) = cursor.fetchone()
        return list(range(last + 1, last + 1 + count))


# -- mapping helpers -----------------------------------------------------------------------


def _set_entity(values: dict[str, Any], details: dict[str, Any], date_param) -> tuple[list[tuple[Any, ...]], None]:
    entity_type = details["entityType"]
    addresses = details.get("addresses") or []
    listing = details.get("publicListing") or {}
    values["name"] = (details.get("name") or EntityType(entity_type["type"]).label)[:500]
    values["alternate_names"] = list(details.get("alternateNames") or [])
    values["entity_type"] = entity_type["type"]
    values["entity_subtype"] = entity_type.get("subtype", "")
    values["jurisdiction_id"] = _code((details.get("jurisdiction") or {}).get("code"))
    values["registered_address_country_id"] = next(iter(_address_countries(addresses, "registered")), None)
    values["business_address_countries"] = _address_countries(addresses, "business")
    values["addresses"] = addresses
    values["is_listed"] = bool(listing.get("hasPublicListing"))
    values["listing"] = listing
    values["founding_date"] = date_param(details.get("foundingDate"))
    values["dissolution_date"] = date_param(details.get("dissolutionDate"))
    return _identifiers(details.get("identifiers") or []), None


def _set_person(values: dict[str, Any], details: dict[str, Any], date_param) -> tuple[None, None]:
    names = details.get("names") or []
    values["names"] = names
    values["name"] = (_primary_name(names) or PersonType(details["personType"]).label)[:500]
    values["person_type"] = details["personType"]
    values["nationalities"] = _country_codes(details.get("nationalities") or [])
    values["residence_countries"] = _address_countries(details.get("addresses") or [], "residence")
    values["tax_residencies"] = _country_codes(details.get("taxResidencies") or [])
    values["birth_date"] = (details.get("birthDate") or "")[:10]
    return None, None


def _set_relationship(
    values: dict[str, Any], details: dict[str, Any], date_param
) -> tuple[list[tuple[Any, ...]], tuple[Any, Any]]:
    """The parties are left as recordIds (``refs``): their primary keys are known when the batch is written."""
    party = details["interestedParty"]
    refs = (details["subject"], party)
    values["unspecified_reason"] = values["unspecified_description"] = ""
    if not isinstance(party, str):
        values["unspecified_reason"] = party["reason"]
        values["unspecified_description"] = party.get("description", "")
    values["is_component"] = bool(details.get("isComponent"))
    values["component_record_ids"] = list(details.get("componentRecords") or [])
    return [_interest(item, date_param) for item in details.get("interests") or []], refs


_SET_DETAILS = {"entity": _set_entity, "person": _set_person, "relationship": _set_relationship}
_JSON_DETAILS = {
    "entity": ["alternate_names", "business_address_countries", "addresses", "listing"],
    "person": ["names", "nationalities", "residence_countries", "tax_residencies"],
    "relationship": ["component_record_ids"],
}


def widen_share(value: Any, *, rounding: str) -> tuple[Decimal, bool]:
    """Round a published share to the stored 8 places, outward; True if precision was lost.

    A lower bound is rounded down and an upper bound up, so the stored range
    always contains the published one: screening can only become more
    cautious, never less.
    """
    value = Decimal(value)
    stored = value.quantize(SHARE_PLACES, rounding=rounding)
    return stored, stored != value


def _interest(item: dict[str, Any], date_param) -> tuple[Any, ...]:
    """An ``Interest`` row in ``INTEREST_FIELDS`` order."""
    interest = {
        # BODS 0.4 does not require an interest's type; one without it is an interest of unknown nature.
        "interest_type": item.get("type", InterestType.UNKNOWN_INTEREST),
        "direct_or_indirect": item.get("directOrIndirect", "unknown"),
        "beneficial_ownership_or_control": item.get("beneficialOwnershipOrControl"),
        "share_exact": None,
        "share_minimum": None,
        "share_maximum": None,
        "share_minimum_exclusive": False,
        "share_maximum_exclusive": False,
        "start_date": date_param(item.get("startDate")),
        "end_date": date_param(item.get("endDate")),
        "details": item.get("details", ""),
    }
    share = item.get("share") or {}
    if "exact" in share:
        low, low_widened = widen_share(share["exact"], rounding=ROUND_FLOOR)
        high, _ = widen_share(share["exact"], rounding=ROUND_CEILING)
        if low_widened:  # too precise to store exactly: keep the narrowest range that contains it
            interest["share_minimum"], interest["share_maximum"] = low, high
        else:
            interest["share_exact"] = low
    for key, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
        if key in share:
            interest["share_minimum"], _ = widen_share(share[key], rounding=ROUND_FLOOR)
            interest["share_minimum_exclusive"] = exclusive
    for key, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
        if key in share:
            interest["share_maximum"], _ = widen_share(share[key], rounding=ROUND_CEILING)
            interest["share_maximum_exclusive"] = exclusive
    return tuple(interest.values())


def _identifiers(items: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """``EntityIdentifier`` rows in ``IDENTIFIER_FIELDS`` order."""
    seen, rows = set(), []
    for item in items:
        value = item.get("id") or ""
        key = (item.get("scheme", ""), value)
        if not value or key in seen:
            continue
        seen.add(key)
        rows.append(
            (item.get("scheme", "")[:100], item.get("schemeName", "")[:200], value[:255], item.get("uri", "")[:500])
        )
    return rows


def _primary_name(names: list[dict[str, Any]]) -> str:
    """The legal name's fullName if there is one, else the first name given."""
    ordered = sorted(names, key=lambda name: name.get("type") != "legal")
    for name in ordered:
        full = name.get("fullName") or " ".join(
            part for part in (name.get("givenName"), name.get("patronymicName"), name.get("familyName")) if part
        )
        if full:
            return full
    return ""


def _address_countries(addresses: list[dict[str, Any]], address_type: str) -> list[str]:
    codes = []
    for address in addresses:
        code = _code((address.get("country") or {}).get("code"))
        if address.get("type") == address_type and code and code not in codes:
            codes.append(code)
    return codes


def _country_codes(countries: list[dict[str, Any]]) -> list[str]:
    codes = []
    for country in countries:
        code = _code(country.get("code"))
        if code and code not in codes:
            codes.append(code)
    return codes


def _code(code: str | None) -> str | None:
    return code.strip().upper() if code else None


@lru_cache(maxsize=4096)  # a file repeats a few dates many times
def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _batched(items: Iterator, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


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
        preparer = _Preparer(run.pk)
        prepared = [preparer.prepare(position, statement, None) for position, statement in enumerate(statements, 1)]
        _validate_batch(StatementValidator(known_record_types=db_record_types), prepared)
        with transaction.atomic():
            applier = _BatchApplier(run=run, summary=summary)
            for batch in _batched(iter(prepared), BATCH_SIZE):
                applier.apply(batch)
            _finish_run(run=run, summary=summary)
    except BodsError as exc:
        _fail_run(run=run, error=exc.message)
        raise BodsImportError(exc.reason, position=exc.position, statement_id=exc.statement_id) from exc
    return summary
