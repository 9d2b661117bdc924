"""Checks a BODS 0.4 stream statement by statement, without writing anything.

The JSON schema catches shape errors. What a schema cannot see is checked
here, because each of these would otherwise corrupt the ownership graph or
fail half-way through an import:

* ``publicationDetails.bodsVersion`` must be 0.4 (a 0.3 statement has another shape);
* statementIds are unique within the file;
* a relationship's subject and interested party are records that exist, either in
  the database or earlier in the file (BODS requires referenced records first);
* a recordId keeps one record type; ``updated``/``closed`` name a known record;
* share bounds are consistent, dates are ordered, jurisdiction codes are ISO 3166.

Database lookups are injected (``known_record_types``) and batched, so this
module stays free of the ORM and costs one query per few thousand references.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .errors import BodsError
from .schema import schema_problem

RecordTypesLookup = Callable[[Iterable[str]], dict[str, set[str]]]

MAX_RECORD_ID_LENGTH = 255
PENDING_FLUSH_SIZE = 2000
LOWER_BOUNDS = ("minimum", "exclusiveMinimum")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum")


# NUL cannot be stored by PostgreSQL and an unpaired surrogate cannot be encoded as UTF-8;
# both are valid JSON escapes, so the schema lets them through.
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: Any, path: str = "") -> str | None:
    """The first string (key or value) holding a character no database can store faithfully."""
    if isinstance(value, str):
        match = _UNSTORABLE_TEXT.search(value)
        if match is None:
            return None
        kind = "a NUL character" if match.group() == "\x00" else "an unpaired UTF-16 surrogate"
        return f"{path or 'statement'}: text contains {kind} (U+{ord(match.group()):04X}), which cannot be stored"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key, path) or text_problem(item, f"{path}.{key}" if path else key)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = text_problem(item, f"{path}[{index}]")
            if problem:
                return problem
    return None


@lru_cache(maxsize=4096)
def jurisdiction_code_problem(code: str) -> str | None:
    """None if ``code`` is an ISO 3166-1 alpha-2 or ISO 3166-2 code, else why not."""
    import pycountry

    normalised = code.strip().upper()
    if "-" in normalised:
        if pycountry.subdivisions.get(code=normalised) is None:
            return f"{code!r} is not an ISO 3166-2 subdivision code"
        return None
    if len(normalised) != 2 or pycountry.countries.get(alpha_2=normalised) is None:
        return f"{code!r} is not an ISO 3166-1 alpha-2 country code"
    return None


def is_bods_04(version: Any) -> bool:
    return isinstance(version, str) and (version == "0.4" or version.startswith("0.4."))


@dataclass
class _PendingReference:
    """A reference that is not earlier in the file: it must be in the database."""

    position: int
    statement_id: str
    allowed_types: frozenset[str]
    reason: str


class StatementValidator:
    """Validates statements in file order; call ``finish()`` after the last one.

    Memory grows with the number of distinct statementIds and recordIds (one
    dict entry each), not with the size of the statements.
    """

    def __init__(self, *, known_record_types: RecordTypesLookup | None = None):
        self._lookup = known_record_types or (lambda ids: {})
        self._statement_positions: dict[str, int] = {}
        self._record_types: dict[str, str] = {}
        self._pending: dict[str, _PendingReference] = {}
        self._db_types: dict[str, set[str]] = {}
        self.count = 0

    # -- public -------------------------------------------------------------------------

    def check(self, position: int, statement: dict[str, Any]) -> None:
        """Raise ``BodsError`` for the first problem of this statement (or an earlier pending one)."""
        statement_id = statement.get("statementId") if isinstance(statement.get("statementId"), str) else None
        problem = self._problem(position, statement)
        if problem is not None:
            self._flush_pending()  # an earlier dangling reference is the first error
            raise BodsError(problem, position=position, statement_id=statement_id)
        self.count = position
        if len(self._pending) >= PENDING_FLUSH_SIZE:
            self._flush_pending()

    def finish(self) -> None:
        self._flush_pending()

    def validate(self, statements: Iterable[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Check and pass through each statement; runs ``finish()`` at the end."""
        for position, statement in statements:
            self.check(position, statement)
            yield position, statement
        self.finish()

    # -- checks -------------------------------------------------------------------------

    def _problem(self, position: int, statement: dict[str, Any]) -> str | None:
        return (
            self._version_problem(statement)
            or schema_problem(statement)
            or text_problem(statement)
            or self._identity_problem(position, statement)
            or self._details_problem(position, statement)
        )

    @staticmethod
    def _version_problem(statement: dict[str, Any]) -> str | None:
        details = statement.get("publicationDetails")
        if not isinstance(details, dict) or "bodsVersion" not in details:
            return "publicationDetails.bodsVersion is missing: only BODS 0.4 statements can be imported"
        version = details["bodsVersion"]
        if not is_bods_04(version):
            return f"publicationDetails.bodsVersion is {version!r}: only BODS 0.4 statements can be imported"
        return None

    def _identity_problem(self, position: int, statement: dict[str, Any]) -> str | None:
        statement_id = statement["statementId"]
        earlier = self._statement_positions.get(statement_id)
        if earlier is not None:
            return f"duplicate statementId: statement {earlier} has the same statementId"
        self._statement_positions[statement_id] = position

        record_id, record_type = statement["recordId"], statement["recordType"]
        if not record_id.strip():
            return "recordId is empty"
        if len(record_id) > MAX_RECORD_ID_LENGTH:
            return f"recordId is longer than {MAX_RECORD_ID_LENGTH} characters"
        known_type = self._record_types.get(record_id)
        if known_type is not None and known_type != record_type:
            return f"recordId {record_id!r} is a {record_type} here but an earlier statement made it a {known_type}"
        status = statement.get("recordStatus", "new")
        if known_type is None:
            if status in ("updated", "closed"):
                self._expect_in_db(
                    record_id,
                    position,
                    statement_id,
                    {record_type},
                    f"recordStatus {status!r} for unknown {record_type} record {record_id!r} "
                    "(not in the database and no earlier statement in the file)",
                )
            else:
                self._expect_type_if_in_db(record_id, position, statement_id, record_type)
            self._record_types[record_id] = record_type
        return None

    def _details_problem(self, position: int, statement: dict[str, Any]) -> str | None:
        details = statement["recordDetails"]
        record_type = statement["recordType"]
        if record_type == "entity":
            return _entity_problem(details)
        if record_type == "relationship":
            return self._relationship_problem(position, statement, details)
        return None

    def _relationship_problem(self, position: int, statement: dict[str, Any], details: dict[str, Any]) -> str | None:
        subject, party = details["subject"], details["interestedParty"]
        if not isinstance(subject, str):
            return (
                "recordDetails.subject: an unspecified subject cannot be imported "
                "(screening needs the subject to be an entity record)"
            )
        if isinstance(party, str) and party == subject:
            return f"recordDetails.interestedParty: {party!r} is also the subject (an entity cannot own itself)"
        problem = self._reference_problem(position, statement, "subject", subject, frozenset({"entity"}))
        if problem is None and isinstance(party, str):
            problem = self._reference_problem(
                position, statement, "interestedParty", party, frozenset({"entity", "person"})
            )
        if problem is not None:
            return problem
        for index, interest in enumerate(details.get("interests") or []):
            problem = _interest_problem(interest)
            if problem is not None:
                return f"recordDetails.interests[{index}].{problem}"
        return None

    def _reference_problem(
        self, position: int, statement: dict[str, Any], field: str, record_id: str, allowed: frozenset[str]
    ) -> str | None:
        known_type = self._record_types.get(record_id)
        if known_type is None:
            self._expect_in_db(
                record_id,
                position,
                statement["statementId"],
                allowed,
                f"recordDetails.{field}: dangling reference to {record_id!r}: "
                "no such record in the database or earlier in the file (BODS requires referenced records first)",
            )
            return None
        if known_type not in allowed:
            expected = " or ".join(sorted(allowed))
            return f"recordDetails.{field}: {record_id!r} is a {known_type} record, expected {expected}"
        return None

    # -- references to the database, checked in batches ---------------------------------

    def _expect_in_db(self, record_id, position, statement_id, allowed, reason) -> None:
        if record_id not in self._pending:
            self._pending[record_id] = _PendingReference(position, statement_id, frozenset(allowed), reason)

    def _expect_type_if_in_db(self, record_id, position, statement_id, record_type) -> None:
        """A new record must not clash with a database record of another type."""
        key = "\0new\0" + record_id
        if key not in self._pending:
            reason = f"recordId {record_id!r} is a {record_type} here but the database holds it as a "
            self._pending[key] = _PendingReference(position, statement_id, frozenset({record_type}), reason)

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        ids = {key.rsplit("\0", 1)[-1] for key in pending}
        unknown = [record_id for record_id in ids if record_id not in self._db_types]
        if unknown:
            found = self._lookup(unknown)
            for record_id in unknown:
                self._db_types[record_id] = found.get(record_id, set())
        failures = []
        for key, ref in pending.items():
            is_new_record = key.startswith("\0new\0")
            record_id = key.rsplit("\0", 1)[-1]
            db_types = self._db_types[record_id]
            if is_new_record:
                clash = db_types - ref.allowed_types
                if clash and not (db_types & ref.allowed_types):
                    failures.append((ref.position, ref, ref.reason + " or ".join(sorted(clash))))
            elif not (db_types & ref.allowed_types):
                failures.append((ref.position, ref, ref.reason))
        if failures:
            position, ref, reason = min(failures, key=lambda failure: failure[0])
            raise BodsError(reason, position=position, statement_id=ref.statement_id)


def _entity_problem(details: dict[str, Any]) -> str | None:
    jurisdiction = details.get("jurisdiction") or {}
    code = jurisdiction.get("code")
    if code:
        problem = jurisdiction_code_problem(code)
        if problem:
            return f"recordDetails.jurisdiction.code: {problem}"
    for index, address in enumerate(details.get("addresses") or []):
        code = (address.get("country") or {}).get("code")
        if code and address.get("type") == "registered":
            problem = jurisdiction_code_problem(code)
            if problem:
                return f"recordDetails.addresses[{index}].country.code: {problem}"
    founded, dissolved = details.get("foundingDate"), details.get("dissolutionDate")
    if founded and dissolved and dissolved < founded:
        return f"recordDetails.dissolutionDate {dissolved} is before foundingDate {founded}"
    return None


def _interest_problem(interest: dict[str, Any]) -> str | None:
    start, end = interest.get("startDate"), interest.get("endDate")
    if start and end and end < start:
        return f"endDate {end} is before startDate {start}"
    share = interest.get("share")
    if not share:
        return None
    return _share_problem(share)


def _share_problem(share: dict[str, Any]) -> str | None:
    if len(share) == 1 and "exact" in share:  # the common case: nothing to combine
        return None
    lows = [key for key in LOWER_BOUNDS if key in share]
    highs = [key for key in UPPER_BOUNDS if key in share]
    if "exact" in share and (lows or highs):
        return f"share: exact cannot be combined with a range ({', '.join(lows + highs)})"
    if len(lows) > 1:
        return "share: give minimum or exclusiveMinimum, not both"
    if len(highs) > 1:
        return "share: give maximum or exclusiveMaximum, not both"
    if lows and highs:
        low_key, high_key = lows[0], highs[0]
        low, high = Decimal(share[low_key]), Decimal(share[high_key])
        if low > high:
            return f"share: {low_key} {low} is greater than {high_key} {high}"
        if low == high and (low_key != "minimum" or high_key != "maximum"):
            return f"share: {low_key} {low} and {high_key} {high} leave no possible share"
    return None
