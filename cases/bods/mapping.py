"""BODS 0.4 statements to column values: pure, so the import's reader process can run it.

Everything here depends on the statement alone (no database, no Django), which
is what lets a forked reader process (``cases.bods.pipeline``) prepare a file's
statements while the importing process checks and writes the previous batch.
``cases.services.bods_import`` writes what this module produces.

A prepared statement is a plain tuple, ``(position, head, prechecked, mapped)``:
one crosses the pipe from the reader process per statement, and a plain tuple
unpickles several times faster than a named one. ``head`` and ``prechecked`` are
what ``StatementValidator.check_prechecked`` takes. ``mapped`` is None for a
statement with a problem (its batch fails before it is written), the exception
mapping raised (raised when the batch is written, where it would have been met
applying statements in order), or the statement's column values:
``(statement_date, source, details, children, refs, row)``: ``details`` holds the
``DETAIL_FIELDS`` values (None for a closing statement, whose details are not
applied), ``children`` the identifier or interest rows without the parent's key,
``refs`` a relationship's subject and interested party as published, ``row`` the
``BodsStatement`` row in ``STATEMENT_FIELDS`` order (a tuple, or what
``encode_statement_row`` makes of it: ``copy_text_line`` for PostgreSQL). JSON
columns hold JSON text and dates the value the database adapter sends
(``adapt_date``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from cases.json_text import json_text

from .reader import BodsFile
from .validation import NO_PROBLEMS, Prechecked, StatementHead, precheck, statement_head

SHARE_PLACES = Decimal("0.00000001")  # Interest share fields: 8 decimal places.
# BODS 0.4 does not require an interest's type; one without it is an interest of unknown nature
# (the interestType codelist's own code).
UNKNOWN_INTEREST = "unknownInterest"

# The columns a statement's recordDetails set, in the order ``StatementMapper.map`` gives them.
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
JSON_DETAIL_FIELDS = {
    "entity": ["alternate_names", "business_address_countries", "addresses", "listing"],
    "person": ["names", "nationalities", "residence_countries", "tax_residencies"],
    "relationship": ["component_record_ids"],
}
# What every record row carries besides its details: the statement that last set it.
STATEMENT_REF_FIELDS = ["statement_id", "statement_date", "source", "is_closed", "updated_at"]
RECORD_FIELDS = {
    "entity": [*DETAIL_FIELDS["entity"], *STATEMENT_REF_FIELDS],
    "person": [*DETAIL_FIELDS["person"], *STATEMENT_REF_FIELDS],
    "relationship": [
        "subject_id",
        "interested_entity_id",
        "interested_person_id",
        *DETAIL_FIELDS["relationship"],
        *STATEMENT_REF_FIELDS,
    ],
}
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
# Columns whose values the mapping gives already in the database adapter's form.
ADAPTED_FIELDS = {
    "entity": [*JSON_DETAIL_FIELDS["entity"], "founding_date", "dissolution_date", "statement_date", "source"],
    "person": [*JSON_DETAIL_FIELDS["person"], "statement_date", "source"],
    "relationship": [*JSON_DETAIL_FIELDS["relationship"], "statement_date", "source"],
    "interest": ["start_date", "end_date"],
    "statement": ["statement_date", "body"],
}

Prepared = tuple[int, StatementHead, Prechecked, Any]
DateParam = Callable[[str | None], Any]


def _identity(value: Any) -> Any:
    return value


class StatementMapper:
    """Prepares statements: the same in the importing process and in a reader process.

    ``adapt_date`` turns a ``date`` into what the database adapter sends (the
    importer passes its connection's ``adapt_datefield_value``, a plain function
    of the value: safe in a forked child). The type labels name a record that
    has no name of its own.
    """

    def __init__(
        self,
        *,
        run_id: int,
        entity_type_labels: Mapping[str, str],
        person_type_labels: Mapping[str, str],
        adapt_date: Callable[[date], Any] = _identity,
        encode_statement_row: Callable[[tuple[Any, ...]], Any] = _identity,
    ):
        self.run_id = run_id
        self.labels = {"entity": entity_type_labels, "person": person_type_labels}
        self.encode_statement_row = encode_statement_row

        def date_param(value: str | None) -> Any:
            return adapt_date(_date(value)) if value else None

        self.date = lru_cache(maxsize=4096)(date_param)  # a file repeats a few dates many times

    def prepare(self, position: int, statement: dict[str, Any], raw: str | None) -> Prepared:
        """Everything about one statement that depends on nothing else. Never raises."""
        head = statement_head(statement)
        prechecked = precheck(statement, raw)
        mapped: Any = None
        if prechecked is NO_PROBLEMS:
            try:
                mapped = self.map(position, statement, raw)
            except Exception as exc:  # raised by the importer when it writes the batch
                mapped = exc
        return (position, head, prechecked, mapped)

    def batches(self, statements: Iterator[tuple[int, dict[str, Any], str | None]], size: int):
        """Batches of prepared statements. A batch is read whole first, so a read error stops it unchecked."""
        for batch in batched(statements, size):
            yield [self.prepare(position, statement, raw) for position, statement, raw in batch]

    def map(self, position: int, statement: dict[str, Any], raw: str | None) -> tuple[Any, ...]:
        """A valid statement's column values (see the module docstring for their shape)."""
        record_type = statement["recordType"]
        details = children = refs = None
        if statement.get("recordStatus") != "closed":  # a closing statement's details are not applied
            values: dict[str, Any] = {}
            children, refs = DETAIL_MAPPERS[record_type](values, statement["recordDetails"], self.date, self.labels)
            for name in JSON_DETAIL_FIELDS[record_type]:
                values[name] = json_text(values[name])
            details = tuple(values[name] for name in DETAIL_FIELDS[record_type])
        statement_date = self.date(statement["statementDate"])
        source = json_text(statement.get("source") or {})
        row = self.encode_statement_row(
            (
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
        )
        return (statement_date, source, details, children, refs, row)


class PreparedFile:
    """A BODS file as a ``cases.bods.pipeline`` source: batches of prepared statements, then its sha256."""

    def __init__(self, path: Path, mapper: StatementMapper, batch_size: int):
        self.path = path
        self.mapper = mapper
        self.batch_size = batch_size
        self._file: BodsFile | None = None

    def batches(self) -> Iterator[list[Prepared]]:
        self._file = BodsFile(self.path)
        return self.mapper.batches(self._file.with_raw_text(), self.batch_size)

    def result(self) -> str:
        assert self._file is not None, "the sha256 is known once every batch has been read"
        return self._file.sha256


def copy_text_line(values: tuple[Any, ...]) -> bytes:
    """One row in PostgreSQL's ``COPY`` text format: tab-separated, ``\\N`` for NULL, backslash escapes.

    A statement's row is the bulk of an import's bytes (its body as published). Encoded in
    the reader process, it crosses the pipe as one bytes object instead of nine values and
    goes to the server as it is, so the importing process neither unpickles nor formats it.
    Values are text, integers or dates (ISO format, which ``COPY`` reads as a date).

    Most rows need no escaping at all, so the joined line is checked once (no NULL, no backslash,
    newline or carriage return, and no tab but the separators) before any value is escaped: a
    statement's row then costs one scan of its text instead of four replacements of each value.
    """
    if None not in values:
        texts = [value if type(value) is str else str(value) for value in values]
        line = "\t".join(texts)
        if not ("\\" in line or "\n" in line or "\r" in line or line.count("\t") != len(texts) - 1):
            return (line + "\n").encode()
    return ("\t".join("\\N" if value is None else _copy_escape(str(value)) for value in values) + "\n").encode()


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def holds_problem(batch: list[Prepared]) -> bool:
    """Whether a prepared batch carries a problem or an exception (it will fail when it is checked)."""
    return any(prechecked is not NO_PROBLEMS or isinstance(mapped, Exception) for _, _, prechecked, mapped in batch)


# -- details -------------------------------------------------------------------------------


def _entity_details(values: dict[str, Any], details: dict[str, Any], date_param: DateParam, labels):
    entity_type = details["entityType"]
    addresses = details.get("addresses") or []
    listing = details.get("publicListing") or {}
    values["name"] = (details.get("name") or labels["entity"][entity_type["type"]])[:500]
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


def _person_details(values: dict[str, Any], details: dict[str, Any], date_param: DateParam, labels):
    names = details.get("names") or []
    values["names"] = names
    values["name"] = (_primary_name(names) or labels["person"][details["personType"]])[:500]
    values["person_type"] = details["personType"]
    values["nationalities"] = _country_codes(details.get("nationalities") or [])
    values["residence_countries"] = _address_countries(details.get("addresses") or [], "residence")
    values["tax_residencies"] = _country_codes(details.get("taxResidencies") or [])
    values["birth_date"] = (details.get("birthDate") or "")[:10]
    return None, None


def _relationship_details(values: dict[str, Any], details: dict[str, Any], date_param: DateParam, labels):
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


# recordType -> fills the DETAIL_FIELDS values, returns (child rows, a relationship's party refs).
DETAIL_MAPPERS = {"entity": _entity_details, "person": _person_details, "relationship": _relationship_details}


def widen_share(value: Any, *, rounding: str) -> tuple[Decimal, bool]:
    """Round a published share to the stored 8 places, outward; True if precision was lost.

    A lower bound is rounded down and an upper bound up, so the stored range
    always contains the published one: screening can only become more
    cautious, never less.
    """
    value = Decimal(value)
    stored = value.quantize(SHARE_PLACES, rounding=rounding)
    return stored, stored != value


def _interest(item: dict[str, Any], date_param: DateParam) -> tuple[Any, ...]:
    """An ``Interest`` row in ``INTEREST_FIELDS`` order."""
    interest = {
        "interest_type": item.get("type", UNKNOWN_INTEREST),
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
def _date(value: str) -> date:
    return date.fromisoformat(value[:10])


def batched(items: Iterator, size: int) -> Iterator[list]:
    """Lists of ``size`` items (the last one shorter); ``itertools.batched`` arrives in Python 3.12."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
