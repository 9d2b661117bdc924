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
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

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
# A string parsed from JSON text can hold such a character only if the text holds it literally
# (invalid JSON for NUL; impossible in text decoded as UTF-8 for a surrogate, checked anyway)
# or as a \u escape. Where neither is in a statement's text, no key or value of it has one.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def statement_text_problem(statement: Any, raw: str | None = None) -> str | None:
    """``text_problem(statement)``; when ``raw`` (the JSON text it was parsed from) is given, a scan of the
    text settles the common case where it holds neither a NUL nor a surrogate, in any form.

    Walking every key and value in Python cost more than the schema check; scanning the
    text is about forty times cheaper. A statement whose text holds ``\\u0000`` or a
    ``\\uD800``-``\\uDFFF`` escape (or an escaped backslash before such letters) is
    walked, so the reason reported is exactly ``text_problem``'s.
    """
    if (
        raw is not None
        and _UNSTORABLE_ESCAPE.search(raw) is None
        and "\x00" not in raw
        and (raw.isascii() or _UNSTORABLE_TEXT.search(raw) is None)
    ):
        return None
    return text_problem(statement)


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


# A reference that is not earlier in the file: it must be in the database. A plain tuple,
# ``(position, statement_id, allowed_types, record_id, is_new_record, reason_format, reason_args)``:
# one is made per new record, and the reason is formatted only if the check fails.
_PendingReference = tuple[int, str, frozenset[str], str, bool, str, tuple[Any, ...]]


_TYPE_SETS: dict[frozenset[str], frozenset[str]] = {}
_ONE_TYPE = {t: _TYPE_SETS.setdefault(frozenset({t}), frozenset({t})) for t in ("entity", "person", "relationship")}
_SUBJECT_TYPES = frozenset({"entity"})
_PARTY_TYPES = frozenset({"entity", "person"})
_NO_TYPES: frozenset[str] = frozenset()


def _type_set(types: Iterable[str] | None) -> frozenset[str]:
    """One shared frozenset per combination of record types: a set per recordId would cost 200 bytes each."""
    if not types:
        return _NO_TYPES
    frozen = frozenset(types)
    return _TYPE_SETS.setdefault(frozen, frozen)


# What the checks that depend on earlier statements and the database read of a statement:
# ``(statement_id, record_id, record_type, record_status, subject, interested_party)``, the
# last two a relationship's as published. A plain tuple: one crosses from the reader process
# for every statement, and a plain tuple unpickles several times faster than a named one.
# Taken from a statement that may be invalid, so a field is None when it is missing
# (``record_status`` defaults to ``new``, as BODS says; ``statement_id`` is None unless a string).
StatementHead = tuple[str | None, Any, Any, Any, Any, Any]


def statement_head(statement: dict[str, Any]) -> StatementHead:
    statement_id = statement.get("statementId")
    details = statement.get("recordDetails")
    if not isinstance(details, dict):
        details = {}
    return (
        statement_id if isinstance(statement_id, str) else None,
        statement.get("recordId"),
        statement.get("recordType"),
        statement.get("recordStatus", "new"),
        details.get("subject"),
        details.get("interestedParty"),
    )


# A problem found by ``precheck``: a reason, or the exception checking raised (re-raised where
# the checks in file order would have raised it), or None.
Problem = str | Exception | None


class Prechecked(NamedTuple):
    """The results of the checks that need nothing but the statement itself, in the order they apply.

    ``StatementValidator.check_prechecked`` interleaves them with the checks that
    depend on earlier statements and the database, so the first problem reported is
    the one checking everything in file order would report.
    """

    problem: Problem  # version, schema, text: before the statement's identity is checked
    relationship_problem: Problem  # unspecified subject, self-ownership: before its references
    details_problem: Problem  # jurisdiction codes, dates, share bounds: last


NO_PROBLEMS = Prechecked(None, None, None)


def precheck(statement: dict[str, Any], raw: str | None = None) -> Prechecked:
    """The checks of one statement that depend on nothing else; safe to run in another process.

    ``raw``, the JSON text the statement was parsed from, only makes the check cheaper.
    Never raises: an exception is returned in place of the problem.
    """
    problem = _attempt(lambda: _version_problem(statement) or schema_problem(statement))
    problem = problem or _attempt(lambda: statement_text_problem(statement, raw))
    if problem is not None:
        return Prechecked(problem, None, None)
    record_type = statement.get("recordType")
    if record_type == "relationship":
        shape = _attempt(lambda: _relationship_shape_problem(statement["recordDetails"]))
        if shape is not None:
            return Prechecked(None, shape, None)
        details = _attempt(lambda: _interests_problem(statement["recordDetails"]))
    elif record_type == "entity":
        details = _attempt(lambda: _entity_problem(statement["recordDetails"]))
    else:
        return NO_PROBLEMS
    return NO_PROBLEMS if details is None else Prechecked(None, None, details)


def _attempt(check: Callable[[], str | None]) -> Problem:
    try:
        return check()
    except Exception as exc:  # re-raised by check_prechecked where checking in file order raises it
        return exc


def _reason(problem: str | Exception) -> str:
    if isinstance(problem, Exception):
        raise problem
    return problem


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
        self._db_types: dict[str, frozenset[str]] = {}
        self.count = 0

    # -- public -------------------------------------------------------------------------

    def check(self, position: int, statement: dict[str, Any], raw: str | None = None) -> None:
        """Raise ``BodsError`` for the first problem of this statement (or an earlier pending one).

        ``raw``, the JSON text the statement was parsed from, only makes the check cheaper.
        """
        self.check_prechecked(position, statement_head(statement), precheck(statement, raw))

    def check_prechecked(self, position: int, head: StatementHead, prechecked: Prechecked) -> None:
        """``check`` for a statement whose own checks ``precheck`` has run (perhaps in another process)."""
        problem = self._problem(position, head, prechecked)
        if problem is not None:
            self._flush_pending()  # an earlier dangling reference is the first error
            raise BodsError(problem, position=position, statement_id=head[0])
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

    def validate_with_raw_text(
        self, statements: Iterable[tuple[int, dict[str, Any], str | None]]
    ) -> Iterator[tuple[int, dict[str, Any], str | None]]:
        """``validate`` for ``(position, statement, raw JSON text or None)`` triples."""
        for position, statement, raw in statements:
            self.check(position, statement, raw)
            yield position, statement, raw
        self.finish()

    # -- checks -------------------------------------------------------------------------

    def _problem(self, position: int, head: StatementHead, prechecked: Prechecked) -> str | None:
        """The first problem, in this order: the statement's own shape, its identity, its references, its details."""
        if prechecked.problem is not None:
            return _reason(prechecked.problem)
        problem = self._identity_problem(position, head)
        if problem is not None:
            return problem
        if head[2] == "relationship":
            if prechecked.relationship_problem is not None:
                return _reason(prechecked.relationship_problem)
            problem = self._references_problem(position, head)
            if problem is not None:
                return problem
        if prechecked.details_problem is not None:
            return _reason(prechecked.details_problem)
        return None

    def _identity_problem(self, position: int, head: StatementHead) -> str | None:
        statement_id, record_id, record_type, status, _subject, _party = head
        earlier = self._statement_positions.get(statement_id)
        if earlier is not None:
            return f"duplicate statementId: statement {earlier} has the same statementId"
        self._statement_positions[statement_id] = position

        if not record_id.strip():
            return "recordId is empty"
        if len(record_id) > MAX_RECORD_ID_LENGTH:
            return f"recordId is longer than {MAX_RECORD_ID_LENGTH} characters"
        known_type = self._record_types.get(record_id)
        if known_type is not None and known_type != record_type:
            return f"recordId {record_id!r} is a {record_type} here but an earlier statement made it a {known_type}"
        if known_type is None:
            if status in ("updated", "closed"):
                self._expect_in_db(
                    record_id,
                    position,
                    statement_id,
                    _ONE_TYPE.get(record_type) or _type_set((record_type,)),
                    "recordStatus {!r} for unknown {} record {!r} "
                    "(not in the database and no earlier statement in the file)",
                    (status, record_type, record_id),
                )
            else:
                self._expect_type_if_in_db(record_id, position, statement_id, record_type)
            self._record_types[record_id] = record_type
        return None

    def _references_problem(self, position: int, head: StatementHead) -> str | None:
        """A relationship's subject (a string: ``precheck`` rejects any other) and interested party."""
        statement_id, _record_id, _record_type, _status, subject, party = head
        problem = self._reference_problem(position, statement_id, "subject", subject, _SUBJECT_TYPES)
        if problem is None and isinstance(party, str):
            problem = self._reference_problem(position, statement_id, "interestedParty", party, _PARTY_TYPES)
        return problem

    def _reference_problem(
        self, position: int, statement_id: str, field: str, record_id: str, allowed: frozenset[str]
    ) -> str | None:
        known_type = self._record_types.get(record_id)
        if known_type is None:
            self._expect_in_db(
                record_id,
                position,
                statement_id,
                allowed,
                "recordDetails.{}: dangling reference to {!r}: "
                "no such record in the database or earlier in the file (BODS requires referenced records first)",
                (field, record_id),
            )
            return None
        if known_type not in allowed:
            expected = " or ".join(sorted(allowed))
            return f"recordDetails.{field}: {record_id!r} is a {known_type} record, expected {expected}"
        return None

    # -- references to the database, checked in batches ---------------------------------

    def _expect_in_db(self, record_id, position, statement_id, allowed, reason_format, reason_args) -> None:
        if record_id not in self._pending:
            self._pending[record_id] = (position, statement_id, allowed, record_id, False, reason_format, reason_args)

    def _expect_type_if_in_db(self, record_id, position, statement_id, record_type) -> None:
        """A new record must not clash with a database record of another type."""
        key = "\0new\0" + record_id
        if key not in self._pending:
            self._pending[key] = (
                position,
                statement_id,
                _ONE_TYPE.get(record_type) or _type_set((record_type,)),
                record_id,
                True,
                "recordId {!r} is a {} here but the database holds it as a ",
                (record_id, record_type),
            )

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        db_types = self._db_types
        unknown = list({ref[3] for ref in pending.values() if ref[3] not in db_types})
        if unknown:
            found = self._lookup(unknown)
            for record_id in unknown:
                db_types[record_id] = _type_set(found.get(record_id))
        failures = []
        for position, statement_id, allowed, record_id, is_new_record, reason_format, reason_args in pending.values():
            types = db_types[record_id]
            if types & allowed:
                continue
            if not is_new_record:
                failures.append((position, statement_id, reason_format.format(*reason_args)))
            elif types:  # a new record that the database holds only as another type
                reason = reason_format.format(*reason_args) + " or ".join(sorted(types))
                failures.append((position, statement_id, reason))
        if failures:
            position, statement_id, reason = min(failures, key=lambda failure: failure[0])
            raise BodsError(reason, position=position, statement_id=statement_id)


def _version_problem(statement: dict[str, Any]) -> str | None:
    details = statement.get("publicationDetails")
    if not isinstance(details, dict) or "bodsVersion" not in details:
        return "publicationDetails.bodsVersion is missing: only BODS 0.4 statements can be imported"
    version = details["bodsVersion"]
    if not is_bods_04(version):
        return f"publicationDetails.bodsVersion is {version!r}: only BODS 0.4 statements can be imported"
    return None


def _relationship_shape_problem(details: dict[str, Any]) -> str | None:
    subject, party = details["subject"], details["interestedParty"]
    if not isinstance(subject, str):
        return (
            "recordDetails.subject: an unspecified subject cannot be imported "
            "(screening needs the subject to be an entity record)"
        )
    if isinstance(party, str) and party == subject:
        return f"recordDetails.interestedParty: {party!r} is also the subject (an entity cannot own itself)"
    return None


def _interests_problem(details: dict[str, Any]) -> str | None:
    for index, interest in enumerate(details.get("interests") or []):
        problem = _interest_problem(interest)
        if problem is not None:
            return f"recordDetails.interests[{index}].{problem}"
    return None


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
