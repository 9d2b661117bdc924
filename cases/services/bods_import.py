"""Importing BODS 0.4 files into the ownership graph.

A file is one all-or-nothing unit. It is read twice, streaming both times so
a file of any size fits in memory: first validated completely with no writes
(``cases.bods``), then applied in statement order inside one transaction,
in batches written with ``bulk_create``/``bulk_update``. A failure at any
point leaves the data untouched and an ``ImportRun`` row saying why; that row
is written outside the transaction so the rollback cannot take it away.

Statements already stored in ``BodsStatement`` are skipped, so importing the
same file twice changes nothing. Record semantics follow BODS: ``new``
creates a record (or replaces it if the record already exists), ``updated``
replaces its details wholesale, ``closed`` ends it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from cases.bods import BodsError, BodsFile, StatementValidator
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

BATCH_SIZE = 2000
LOOKUP_CHUNK = 2000
SHARE_PLACES = Decimal("0.00000001")  # Interest share fields: 8 decimal places.

ENTITY_FIELDS = [
    "name",
    "alternate_names",
    "entity_type",
    "entity_subtype",
    "jurisdiction",
    "registered_address_country",
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
    "subject",
    "interested_entity",
    "interested_person",
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
CLOSE_FIELDS = ["statement_id", "statement_date", "source", "is_closed", "updated_at"]
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
    """Validate then apply one BODS file; raise ``BodsImportError`` (and record a failed run) if invalid.

    The progress bar is drawn only when ``progress`` is set and ``stdout`` is a terminal.
    """
    path = Path(path)
    run = ImportRun.objects.create(file_name=str(path))
    summary = ImportSummary(file_name=str(path), import_run_id=run.pk)
    show_progress = bool(progress and stdout is not None and stdout.isatty())
    try:
        summary.statements_read, summary.sha256 = _validate_file(path=path, stdout=stdout, progress=show_progress)
        with transaction.atomic():
            _apply_file(path=path, run=run, summary=summary, stdout=stdout, progress=show_progress)
            _finish_run(run=run, summary=summary)
    except BodsError as exc:
        _fail_run(run=run, error=exc.message)
        raise BodsImportError(exc.reason, position=exc.position, statement_id=exc.statement_id) from exc
    except Exception as exc:
        _fail_run(run=run, error=f"{exc.__class__.__name__}: {exc}")
        raise
    return summary


def _validate_file(*, path: Path, stdout, progress: bool) -> tuple[int, str]:
    """The whole file is checked before anything is written, so a bad file costs no rollback."""
    bods_file = BodsFile(path)
    validator = StatementValidator(known_record_types=db_record_types)
    statements = _progress(validator.validate(bods_file), stdout=stdout, enabled=progress, desc="validating")
    count = 0
    for count, _statement in statements:  # noqa: B007 - the loop drives validation
        pass
    if count == 0:
        raise BodsError("the file contains no statements")
    return count, bods_file.sha256


def _apply_file(*, path: Path, run: ImportRun, summary: ImportSummary, stdout, progress: bool) -> None:
    applier = _BatchApplier(run=run, summary=summary)
    statements = _progress(iter(BodsFile(path)), stdout=stdout, enabled=progress, desc="importing", total=None)
    for batch in _batched(statements, BATCH_SIZE):
        applier.apply(batch)


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
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for record_type, model in (("entity", Entity), ("person", Person), ("relationship", Relationship)):
            for record_id in model.objects.filter(external_id__in=chunk).values_list("external_id", flat=True):
                found[record_id].add(record_type)
    return found


# -- applying a batch ----------------------------------------------------------------------


class _BatchApplier:
    """Applies statements a batch at a time: a few queries per batch, never one per statement."""

    def __init__(self, *, run: ImportRun, summary: ImportSummary):
        self.run = run
        self.summary = summary
        self.jurisdictions = set(Jurisdiction.objects.values_list("code", flat=True))

    def apply(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        already = set(
            BodsStatement.objects.filter(statement_id__in=[s["statementId"] for _, s in batch]).values_list(
                "statement_id", flat=True
            )
        )
        fresh = [(position, s) for position, s in batch if s["statementId"] not in already]
        self.summary.statements_skipped += len(batch) - len(fresh)
        if not fresh:
            return
        by_type: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for position, statement in fresh:
            by_type[statement["recordType"]].append((position, statement))
        now = timezone.now()
        # Parties first: relationships in this batch may point at parties created in it.
        pks = self._apply_entities(by_type["entity"], now)
        pks |= {("person", rid): pk for rid, pk in self._apply_persons(by_type["person"], now).items()}
        self._apply_relationships(by_type["relationship"], pks, now)
        BodsStatement.objects.bulk_create(
            [_statement_row(position, s, self.run) for position, s in fresh], batch_size=BATCH_SIZE
        )
        self.summary.statements_applied += len(fresh)

    # entities ---------------------------------------------------------------------------

    def _apply_entities(self, statements, now) -> dict[tuple[str, str], int]:
        if not statements:
            return {}
        records, created, identifiers = self._collect(Entity, statements, "entity", self._set_entity, now)
        self._ensure_jurisdictions(records.values())
        self._save(Entity, records, created, ENTITY_FIELDS)
        self._replace_identifiers(records, created, identifiers)
        self.summary.affected_entity_ids.update(record.pk for record in records.values())
        return {("entity", rid): record.pk for rid, record in records.items()}

    def _set_entity(self, entity: Entity, details: dict[str, Any]) -> list[EntityIdentifier]:
        entity_type = details["entityType"]
        addresses = details.get("addresses") or []
        listing = details.get("publicListing") or {}
        entity.name = (details.get("name") or EntityType(entity_type["type"]).label)[:500]
        entity.alternate_names = list(details.get("alternateNames") or [])
        entity.entity_type = entity_type["type"]
        entity.entity_subtype = entity_type.get("subtype", "")
        entity.jurisdiction_id = _code((details.get("jurisdiction") or {}).get("code"))
        entity.registered_address_country_id = next(iter(_address_countries(addresses, "registered")), None)
        entity.business_address_countries = _address_countries(addresses, "business")
        entity.addresses = to_json(addresses)
        entity.is_listed = bool(listing.get("hasPublicListing"))
        entity.listing = to_json(listing)
        entity.founding_date = _date(details.get("foundingDate"))
        entity.dissolution_date = _date(details.get("dissolutionDate"))
        return _identifiers(details.get("identifiers") or [])

    def _replace_identifiers(self, records, created: set[str], identifiers: dict[str, list]) -> None:
        """Identifiers belong to the entity's details, so an update replaces them all."""
        replaced = [records[rid].pk for rid in identifiers if rid not in created]
        if replaced:
            EntityIdentifier.objects.filter(entity__in=replaced).delete()
        rows = []
        for rid, items in identifiers.items():
            for identifier in items:
                identifier.entity_id = records[rid].pk
                rows.append(identifier)
        EntityIdentifier.objects.bulk_create(rows, batch_size=BATCH_SIZE)

    def _ensure_jurisdictions(self, entities: Iterable[Entity]) -> None:
        """Valid ISO 3166 codes missing from the table (new subdivisions) are added, not rejected."""
        import pycountry

        wanted = {e.jurisdiction_id for e in entities} | {e.registered_address_country_id for e in entities}
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
        records, created, _ = self._collect(Person, statements, "person", self._set_person, now)
        self._save(Person, records, created, PERSON_FIELDS)
        return {rid: record.pk for rid, record in records.items()}

    @staticmethod
    def _set_person(person: Person, details: dict[str, Any]) -> None:
        names = details.get("names") or []
        person.names = to_json(names)
        person.name = (_primary_name(names) or PersonType(details["personType"]).label)[:500]
        person.person_type = details["personType"]
        person.nationalities = _country_codes(details.get("nationalities") or [])
        person.residence_countries = _address_countries(details.get("addresses") or [], "residence")
        person.tax_residencies = _country_codes(details.get("taxResidencies") or [])
        person.birth_date = (details.get("birthDate") or "")[:10]

    # relationships ----------------------------------------------------------------------

    def _apply_relationships(self, statements, pks: dict[tuple[str, str], int], now) -> None:
        if not statements:
            return
        self._resolve_parties(statements, pks)

        def set_relationship(relationship: Relationship, details: dict[str, Any]) -> list[Interest]:
            return self._set_relationship(relationship, details, pks)

        records, created, interests = self._collect(Relationship, statements, "relationship", set_relationship, now)
        self._save(Relationship, records, created, RELATIONSHIP_FIELDS)
        replaced = [records[rid].pk for rid in interests if rid not in created]
        if replaced:  # an update replaces the relationship's interests wholesale
            Interest.objects.filter(relationship__in=replaced).delete()
        rows = []
        for rid, items in interests.items():
            for interest in items:
                interest.relationship_id = records[rid].pk
                rows.append(interest)
        Interest.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        self.summary.affected_entity_ids.update(record.subject_id for record in records.values())

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
        for rid, pk in Entity.objects.filter(external_id__in=wanted).values_list("external_id", "pk"):
            pks[("entity", rid)] = pk
        for rid, pk in Person.objects.filter(external_id__in=wanted).values_list("external_id", "pk"):
            pks[("person", rid)] = pk

    @staticmethod
    def _set_relationship(relationship: Relationship, details: dict[str, Any], pks) -> list[Interest]:
        party = details["interestedParty"]
        relationship.subject_id = pks[("entity", details["subject"])]
        relationship.interested_entity_id = relationship.interested_person_id = None
        relationship.unspecified_reason = relationship.unspecified_description = ""
        if isinstance(party, str):
            if ("entity", party) in pks:
                relationship.interested_entity_id = pks[("entity", party)]
            else:
                relationship.interested_person_id = pks[("person", party)]
        else:
            relationship.unspecified_reason = party["reason"]
            relationship.unspecified_description = party.get("description", "")
        relationship.is_component = bool(details.get("isComponent"))
        relationship.component_record_ids = list(details.get("componentRecords") or [])
        return [_interest(item) for item in details.get("interests") or []]

    # shared -----------------------------------------------------------------------------

    def _collect(self, model, statements, record_type: str, set_details, now):
        """Apply the batch's statements to in-memory records, in statement order.

        Returns the records by recordId, the recordIds that are new, and each
        record's latest dependent rows (identifiers, interests) where its
        details were (re)set in this batch.
        """
        ids = {s["recordId"] for _, s in statements}
        records: dict[str, Any] = model.objects.in_bulk(ids, field_name="external_id")
        created: set[str] = set()
        dependants: dict[str, Any] = {}
        for _, statement in statements:
            rid, status = statement["recordId"], statement.get("recordStatus")
            record = records.get(rid)
            if record is None:
                record = records[rid] = model(external_id=rid)
                created.add(rid)
                change = "created"
            else:
                change = "closed" if status == "closed" else "updated"
            if status != "closed":
                dependants[rid] = set_details(record, statement["recordDetails"])
            record.is_closed = status == "closed"
            record.statement_id = statement["statementId"]
            record.statement_date = _date(statement["statementDate"][:10])
            record.source = to_json(statement.get("source") or {})
            record.updated_at = now
            self.summary.count(record_type, change)
        return records, created, {rid: rows for rid, rows in dependants.items() if rows is not None}

    @staticmethod
    def _save(model, records: dict[str, Any], created: set[str], fields: list[str]) -> None:
        new = [records[rid] for rid in created]
        old = [record for rid, record in records.items() if rid not in created]
        model.objects.bulk_create(new, batch_size=BATCH_SIZE)
        if old:
            model.objects.bulk_update(old, fields, batch_size=500)


# -- mapping helpers -----------------------------------------------------------------------


def widen_share(value: Any, *, rounding: str) -> tuple[Decimal, bool]:
    """Round a published share to the stored 8 places, outward; True if precision was lost.

    A lower bound is rounded down and an upper bound up, so the stored range
    always contains the published one: screening can only become more
    cautious, never less.
    """
    value = Decimal(value)
    stored = value.quantize(SHARE_PLACES, rounding=rounding)
    return stored, stored != value


def _interest(item: dict[str, Any]) -> Interest:
    interest = Interest(
        interest_type=item["type"],
        direct_or_indirect=item.get("directOrIndirect", "unknown"),
        beneficial_ownership_or_control=item.get("beneficialOwnershipOrControl"),
        start_date=_date(item.get("startDate")),
        end_date=_date(item.get("endDate")),
        details=item.get("details", ""),
    )
    share = item.get("share") or {}
    if "exact" in share:
        low, low_widened = widen_share(share["exact"], rounding=ROUND_FLOOR)
        high, _ = widen_share(share["exact"], rounding=ROUND_CEILING)
        if low_widened:  # too precise to store exactly: keep the narrowest range that contains it
            interest.share_minimum, interest.share_maximum = low, high
        else:
            interest.share_exact = low
    for key, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
        if key in share:
            interest.share_minimum, _ = widen_share(share[key], rounding=ROUND_FLOOR)
            interest.share_minimum_exclusive = exclusive
    for key, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
        if key in share:
            interest.share_maximum, _ = widen_share(share[key], rounding=ROUND_CEILING)
            interest.share_maximum_exclusive = exclusive
    return interest


def _identifiers(items: list[dict[str, Any]]) -> list[EntityIdentifier]:
    seen, rows = set(), []
    for item in items:
        value = item.get("id") or ""
        key = (item.get("scheme", ""), value)
        if not value or key in seen:
            continue
        seen.add(key)
        rows.append(
            EntityIdentifier(
                scheme=item.get("scheme", "")[:100],
                scheme_name=item.get("schemeName", "")[:200],
                value=value[:255],
                uri=item.get("uri", "")[:500],
            )
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


def to_json(value: Any) -> Any:
    """Parsed JSON with Decimals turned into floats, for JSONField (the exact values live in Interest)."""
    kind = type(value)
    if kind is dict:
        return {key: to_json(item) for key, item in value.items()}
    if kind is list:
        return [to_json(item) for item in value]
    if kind is Decimal:
        return float(value)
    return value


def _statement_row(position: int, statement: dict[str, Any], run: ImportRun) -> BodsStatement:
    return BodsStatement(
        statement_id=statement["statementId"],
        record_id=statement["recordId"],
        record_type=statement["recordType"],
        record_status=statement.get("recordStatus", "new"),
        statement_date=_date(statement["statementDate"]),
        declaration_subject=statement.get("declarationSubject", "")[:255],
        import_run=run,
        position=position,
        body=to_json(statement),
    )


def _batched(items: Iterator, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _progress(iterable, *, stdout, enabled: bool, desc: str, total: int | None = None):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, file=stdout, desc=desc, unit=" statements", total=total, leave=False)
