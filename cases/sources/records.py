"""The neutral records every source mapper produces and the import services write.

A party is referred to by a key ``(scheme, value)`` (``("XI-LEI", lei)``, ``("FTM", id)``),
never by a database id: the writer resolves keys to rows, so the same LEI published by
GLEIF, OpenSanctions and a BODS register lands on one entity.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pycountry

from .errors import SourceError

LEI_SCHEME = "XI-LEI"
FTM_SCHEME = "FTM"
Key = tuple[str, str]


@dataclass(slots=True)
class EntityRecord:
    record_id: str
    line: int
    keys: list[Key]
    values: dict[str, Any]
    identifiers: list[tuple[str, str, str, str]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    updated: str = ""  # the source's own last-update stamp: an older one never overwrites a newer


@dataclass(slots=True)
class PersonRecord:
    record_id: str
    line: int
    keys: list[Key]
    values: dict[str, Any]
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RelationshipRecord:
    record_id: str
    line: int
    subject: Key
    owner: Key | None  # None: an unspecified owner (unspecified_reason in values)
    values: dict[str, Any]
    interests: list[dict[str, Any]]
    source: dict[str, Any] = field(default_factory=dict)
    updated: str = ""


def interest(
    interest_type: str,
    *,
    direct_or_indirect: str = "direct",
    share: Decimal | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    details: str = "",
    beneficial: bool | None = None,
) -> dict[str, Any]:
    """An ``Interest`` row's values; ``share`` None is the spec's missing share (0–100 %)."""
    return {
        "interest_type": interest_type,
        "direct_or_indirect": direct_or_indirect,
        "beneficial_ownership_or_control": beneficial,
        "share_exact": share,
        "share_minimum": None,
        "share_maximum": None,
        "share_minimum_exclusive": False,
        "share_maximum_exclusive": False,
        "start_date": start,
        "end_date": end,
        "details": details,
    }


# --------------------------------------------------------------------------- validation helpers

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")


@lru_cache(maxsize=8192)
def _country(code: str) -> str | None:
    code = code.strip().upper()
    if not code:
        return None
    if "-" in code:
        return code if pycountry.subdivisions.get(code=code) is not None else None
    return code if pycountry.countries.get(alpha_2=code) is not None else None


#: The code ``country_code`` gives for a non-empty value, or None where it raises (without the error): for a
#: mapper that checks a million values and hands a bad one to ``country_code`` for its message.
known_country = _country


def country_code(value: str | None, *, line: int, record: str, field_name: str, optional: bool = True) -> str | None:
    """An ISO 3166-1 alpha-2 or 3166-2 code, upper case; anything else is an error naming the field."""
    if not value:
        if optional:
            return None
        raise SourceError("is required", line=line, record=record, field=field_name)
    code = _country(value)
    if code is None:
        raise SourceError(
            f"{value!r} is not an ISO 3166 country or subdivision code", line=line, record=record, field=field_name
        )
    return code


@lru_cache(maxsize=8192)
def _parse_date(text: str, end_of_period: bool) -> datetime.date | None:
    match = _DATE.match(text)
    if match is None:
        return None
    part = match.group(0)
    try:
        if len(part) == 10:
            return datetime.date.fromisoformat(part)
        if len(part) == 7:
            year, month = int(part[:4]), int(part[5:7])
            if not end_of_period:
                return datetime.date(year, month, 1)
            following = datetime.date(year + month // 12, month % 12 + 1, 1)
            return following - datetime.timedelta(days=1)
        return datetime.date(int(part), 12, 31) if end_of_period else datetime.date(int(part), 1, 1)
    except ValueError:
        return None


#: The date ``date_value`` gives for a non-empty stripped text, or None where it raises (without the error).
parsed_date = _parse_date


def date_value(
    value: str | None, *, line: int, record: str, field_name: str, end_of_period: bool = False
) -> datetime.date | None:
    """A date from an ISO date or timestamp (``2012-06-06T15:52:00+02:00``) or a partial date (``2020``, ``2020-05``).

    A partial start date is the period's first day, a partial end date its last: an interest
    stated for "2020" is in force all year.
    """
    if not value:
        return None
    parsed = _parse_date(value.strip(), end_of_period)
    if parsed is None:
        raise SourceError(f"{value!r} is not a date", line=line, record=record, field=field_name)
    return parsed


def percentage(value: str, *, line: int, record: str, field_name: str) -> Decimal:
    """A share in percent, 0–100 (``50``, ``50.5``, ``50 %``); anything else is an error naming the field."""
    text = value.strip().rstrip("%").strip().replace(",", ".")
    try:
        share = Decimal(text)
    except InvalidOperation:
        raise SourceError(f"{value!r} is not a percentage", line=line, record=record, field=field_name) from None
    if not share.is_finite() or share < 0 or share > 100:
        raise SourceError(f"{value!r} is outside 0–100 %", line=line, record=record, field=field_name)
    return share.quantize(Decimal("0.00000001"))
