"""Importing BODS 0.4 files into the ownership graph.

A file is one all-or-nothing unit, read once and streamed so a file of any
size fits in memory. Inside one transaction, each batch of 2,000 statements is
validated completely (``cases.bods``: schema, semantic checks, references to
the database) and only then written with raw bulk writes. The first invalid
statement raises, the transaction rolls back, and nothing from the file is
kept; the ``ImportRun`` row saying why is written outside the transaction so
the rollback cannot take it away. (Validating the whole file first and then
reading it again to apply it gave the same guarantee at twice the parsing.)

Statements already stored in ``BodsStatement`` are skipped, so importing the
same file twice changes nothing. Record semantics follow BODS: ``new``
creates a record (or replaces it if the record already exists), ``updated``
replaces its details wholesale, ``closed`` ends it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone

from cases.bods import BodsError, BodsFile, StatementValidator
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
from cases.services.bulk_sql import RawJson, TableWriter, select_pairs

BATCH_SIZE = 2000
LOOKUP_CHUNK = 2000
SHARE_PLACES = Decimal("0.00000001")  # Interest share fields: 8 decimal places.
SQLITE_IMPORT_CACHE_KIB = 65536  # page cache while importing; SQLite's default is 2 MiB

ENTITY_FIELDS = [
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
    "statement_id",
    "statement_date",
    "source",
    "is_closed",
    "updated_at",
]
PERSON_FIELDS = [
    "name",
    "names",
    "person_type",
    "nationalities",
    "residence_countries",
    "tax_residencies",
    "birth_date",
    "statement_id",
    "statement_date",
    "source",
    "is_closed",
    "updated_at",
]
RELATIONSHIP_FIELDS = [
    "subject_id",
    "interested_entity_id",
    "interested_person_id",
    "unspecified_reason",
    "unspecified_description",
    "is_component",
    "component_record_ids",
    "statement_id",
    "statement_date",
    "source",
    "is_closed",
    "updated_at",
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
        with _sqlite_page_cache(SQLITE_IMPORT_CACHE_KIB), transaction.atomic():
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
    statements = _progress(validator.validate(bods_file), stdout=stdout, enabled=progress, desc="validating")
    count = 0
    for count, _statement in statements:  # noqa: B007 - the loop drives validation
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
    bods_file = BodsFile(path)
    validator = StatementValidator(known_record_types=db_record_types)
    applier = _BatchApplier(run=run, summary=summary)
    statements = _progress(bods_file.with_raw_text(), stdout=stdout, enabled=progress, desc="importing")
    for batch in _batched(statements, BATCH_SIZE):
        _validate_batch(validator, batch)
        applier.apply(batch)
        summary.statements_read += len(batch)
    if summary.statements_read == 0:
        raise BodsError("the file contains no statements")
    summary.sha256 = bods_file.sha256


def _validate_batch(validator: StatementValidator, batch: list[tuple[int, dict[str, Any], str | None]]) -> None:
    for position, statement, _raw in batch:
        validator.check(position, statement)
    validator.finish()


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
    found: dict[str, set[str]] = defaultdict(set)
    ids = list(record_ids)
    for record_type, model in (("entity", Entity), ("person", Person), ("relationship", Relationship)):
        for record_id in select_pairs(model, "external_id", "id", ids, chunk=LOOKUP_CHUNK):
            found[record_id].add(record_type)
    return found


# -- applying a batch ----------------------------------------------------------------------


class _BatchApplier:
    """Applies statements a batch at a time: a few queries per batch, never one per statement.

    Records are handled as dicts of column values rather than model instances,
    and written with ``TableWriter`` (raw ``executemany``): building and
    compiling ORM instances cost five times the rest of the import.
    """

    def __init__(self, *, run: ImportRun, summary: ImportSummary):
        self.run = run
        self.summary = summary
        self.jurisdictions = set(Jurisdiction.objects.values_list("code", flat=True))
        self.writers = {
            model: TableWriter(model)
            for model in (Entity, Person, Relationship, EntityIdentifier, Interest, BodsStatement)
        }

    def apply(self, batch: list[tuple[int, dict[str, Any], str | None]]) -> None:
        """``batch`` holds ``(position, statement, raw JSON text or None)``, validated, in file order."""
        already = select_pairs(BodsStatement, "statement_id", "id", [s["statementId"] for _, s, _ in batch])
        fresh = [item for item in batch if item[1]["statementId"] not in already]
        self.summary.statements_skipped += len(batch) - len(fresh)
        if not fresh:
            return
        by_type: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for position, statement, _raw in fresh:
            by_type[statement["recordType"]].append((position, statement))
        now = timezone.now()
        # Parties first: relationships in this batch may point at parties created in it.
        pks = {("entity", rid): pk for rid, pk in self._apply_entities(by_type["entity"], now).items()}
        pks |= {("person", rid): pk for rid, pk in self._apply_persons(by_type["person"], now).items()}
        self._apply_relationships(by_type["relationship"], pks, now)
        rows = [_statement_row(position, s, raw, self.run.pk) for position, s, raw in fresh]
        self.writers[BodsStatement].insert(STATEMENT_FIELDS, rows)
        self.summary.statements_applied += len(fresh)

    # entities ---------------------------------------------------------------------------

    def _apply_entities(self, statements, now) -> dict[str, int]:
        if not statements:
            return {}
        batch = self._collect(Entity, statements, "entity", _set_entity, now)
        self._ensure_jurisdictions(batch.values.values())
        pks = self._save(Entity, batch, ENTITY_FIELDS)
        self._replace_children(EntityIdentifier, "entity_id", IDENTIFIER_FIELDS, pks, batch.created, batch.children)
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

    def _apply_persons(self, statements, now) -> dict[str, int]:
        if not statements:
            return {}
        batch = self._collect(Person, statements, "person", _set_person, now)
        return self._save(Person, batch, PERSON_FIELDS)

    # relationships ----------------------------------------------------------------------

    def _apply_relationships(self, statements, pks: dict[tuple[str, str], int], now) -> None:
        if not statements:
            return
        self._resolve_parties(statements, pks)

        def set_relationship(values: dict[str, Any], details: dict[str, Any]) -> list[dict[str, Any]]:
            return _set_relationship(values, details, pks)

        batch = self._collect(Relationship, statements, "relationship", set_relationship, now)
        saved = self._save(Relationship, batch, RELATIONSHIP_FIELDS)
        # An update replaces the relationship's interests wholesale.
        self._replace_children(Interest, "relationship_id", INTEREST_FIELDS, saved, batch.created, batch.children)
        for rid, values in batch.values.items():
            self.summary.affected_entity_ids.add(values.get("subject_id") or batch.subjects[rid])

    def _resolve_parties(self, statements, pks: dict[tuple[str, str], int]) -> None:
        """Fill the recordId -> pk map for parties not written in this batch: two queries, not one per row."""
        wanted = set()
        for _, statement in statements:
            details = statement["recordDetails"]
            for ref in (details["subject"], details["interestedParty"]):
                if isinstance(ref, str) and ("entity", ref) not in pks and ("person", ref) not in pks:
                    wanted.add(ref)
        if not wanted:
            return
        for rid, pk in select_pairs(Entity, "external_id", "id", wanted).items():
            pks[("entity", rid)] = pk
        for rid, pk in select_pairs(Person, "external_id", "id", wanted).items():
            pks[("person", rid)] = pk

    # shared -----------------------------------------------------------------------------

    def _collect(self, model, statements, record_type: str, set_details, now) -> _RecordBatch:
        """Apply the batch's statements to in-memory rows, in statement order.

        A record named several times in one batch ends with its last state; its
        dependent rows (identifiers, interests) are those of its last details.
        """
        batch = _RecordBatch()
        ids = {s["recordId"] for _, s in statements}
        batch.existing = select_pairs(model, "external_id", "id", ids)
        if model is Relationship and batch.existing:
            batch.subjects = select_pairs(model, "external_id", "subject", batch.existing)
        for _, statement in statements:
            rid, status = statement["recordId"], statement.get("recordStatus")
            values = batch.values.get(rid)
            if values is None:
                values = batch.values[rid] = {}
                if rid not in batch.existing:
                    batch.created.add(rid)
                    values.update(external_id=rid, created_at=now)
            if rid in batch.created and values.get("statement_id") is None:
                change = "created"
            else:
                change = "closed" if status == "closed" else "updated"
            if status != "closed":
                children = set_details(values, statement["recordDetails"])
                if children is not None:
                    batch.children[rid] = children
            values["is_closed"] = status == "closed"
            values["statement_id"] = statement["statementId"]
            values["statement_date"] = _date(statement["statementDate"])
            values["source"] = statement.get("source") or {}
            values["updated_at"] = now
            self.summary.count(record_type, change)
        return batch

    def _save(self, model, batch: _RecordBatch, fields: list[str]) -> dict[str, int]:
        """Insert new rows, update changed ones; return recordId -> pk for every record in the batch."""
        writer = self.writers[model]
        writer.insert(["external_id", "created_at", *fields], [batch.values[rid] for rid in batch.created])
        writer.update((batch.existing[rid], values) for rid, values in batch.values.items() if rid not in batch.created)
        pks = {rid: batch.existing[rid] for rid in batch.values if rid in batch.existing}
        if batch.created:
            pks.update(select_pairs(model, "external_id", "id", batch.created))
        return pks

    def _replace_children(self, model, parent_field, fields, pks, created, children) -> None:
        replaced = [pks[rid] for rid in children if rid not in created]
        if replaced:
            model.objects.filter(**{f"{parent_field}__in": replaced}).delete()
        rows = []
        for rid, items in children.items():
            for item in items:
                item[parent_field] = pks[rid]
                rows.append(item)
        self.writers[model].insert([parent_field, *fields], rows)


@dataclass
class _RecordBatch:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    subjects: dict[str, int] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


# -- mapping helpers -----------------------------------------------------------------------


def _set_entity(values: dict[str, Any], details: dict[str, Any]) -> list[dict[str, Any]]:
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
    values["founding_date"] = _date(details.get("foundingDate"))
    values["dissolution_date"] = _date(details.get("dissolutionDate"))
    return _identifiers(details.get("identifiers") or [])


def _set_person(values: dict[str, Any], details: dict[str, Any]) -> None:
    names = details.get("names") or []
    values["names"] = names
    values["name"] = (_primary_name(names) or PersonType(details["personType"]).label)[:500]
    values["person_type"] = details["personType"]
    values["nationalities"] = _country_codes(details.get("nationalities") or [])
    values["residence_countries"] = _address_countries(details.get("addresses") or [], "residence")
    values["tax_residencies"] = _country_codes(details.get("taxResidencies") or [])
    values["birth_date"] = (details.get("birthDate") or "")[:10]


def _set_relationship(values: dict[str, Any], details: dict[str, Any], pks) -> list[dict[str, Any]]:
    party = details["interestedParty"]
    values["subject_id"] = pks[("entity", details["subject"])]
    values["interested_entity_id"] = values["interested_person_id"] = None
    values["unspecified_reason"] = values["unspecified_description"] = ""
    if isinstance(party, str):
        if ("entity", party) in pks:
            values["interested_entity_id"] = pks[("entity", party)]
        else:
            values["interested_person_id"] = pks[("person", party)]
    else:
        values["unspecified_reason"] = party["reason"]
        values["unspecified_description"] = party.get("description", "")
    values["is_component"] = bool(details.get("isComponent"))
    values["component_record_ids"] = list(details.get("componentRecords") or [])
    return [_interest(item) for item in details.get("interests") or []]


def widen_share(value: Any, *, rounding: str) -> tuple[Decimal, bool]:
    """Round a published share to the stored 8 places, outward; True if precision was lost.

    A lower bound is rounded down and an upper bound up, so the stored range
    always contains the published one: screening can only become more
    cautious, never less.
    """
    value = Decimal(value)
    stored = value.quantize(SHARE_PLACES, rounding=rounding)
    return stored, stored != value


def _interest(item: dict[str, Any]) -> dict[str, Any]:
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
        "start_date": _date(item.get("startDate")),
        "end_date": _date(item.get("endDate")),
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
    return interest


def _identifiers(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, rows = set(), []
    for item in items:
        value = item.get("id") or ""
        key = (item.get("scheme", ""), value)
        if not value or key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "scheme": item.get("scheme", "")[:100],
                "scheme_name": item.get("schemeName", "")[:200],
                "value": value[:255],
                "uri": item.get("uri", "")[:500],
            }
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


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _statement_row(position: int, statement: dict[str, Any], raw: str | None, run_id: int) -> dict[str, Any]:
    return {
        "statement_id": statement["statementId"],
        "record_id": statement["recordId"],
        "record_type": statement["recordType"],
        "record_status": statement.get("recordStatus", "new"),
        "statement_date": _date(statement["statementDate"]),
        "declaration_subject": statement.get("declarationSubject", "")[:255],
        "import_run_id": run_id,
        "position": position,
        # The text as published when the reader kept it, else encoded with Decimals as numbers.
        "body": statement if raw is None else RawJson(raw),
    }


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
    numbered = [(position, statement, None) for position, statement in enumerate(statements, start=1)]
    run = ImportRun.objects.create(file_name=label[:255])
    summary = ImportSummary(file_name=label, import_run_id=run.pk, statements_read=len(numbered))
    try:
        if not numbered:
            raise BodsError("no statements")
        for position, statement, _raw in numbered:
            if not isinstance(statement, dict):
                raise BodsError(f"a statement must be a JSON object, not {type(statement).__name__}", position=position)
        _validate_batch(StatementValidator(known_record_types=db_record_types), numbered)
        with transaction.atomic():
            applier = _BatchApplier(run=run, summary=summary)
            for batch in _batched(iter(numbered), BATCH_SIZE):
                applier.apply(batch)
            _finish_run(run=run, summary=summary)
    except BodsError as exc:
        _fail_run(run=run, error=exc.message)
        raise BodsImportError(exc.reason, position=exc.position, statement_id=exc.statement_id) from exc
    return summary
