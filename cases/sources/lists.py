"""Restricted-party list members from a plain CSV file (the format an authority's list is easily put in).

Columns (header required; only ``record_id`` and ``name`` must have values):
``record_id, name, aliases, lei, ftm_id, registration_scheme, registration_number, countries, listed_on``.
``aliases`` and ``countries`` hold several values separated by ``;``. A registration number
needs its scheme (an org-id.guide code such as ``GB-COH``): bare numbers are not unique
across registers, so they would match the wrong companies.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SourceError
from .files import open_text
from .lei import is_valid_lei
from .records import FTM_SCHEME, LEI_SCHEME, Key, country_code, date_value

REQUIRED_COLUMNS = ("record_id", "name")
COLUMNS = (
    "record_id",
    "name",
    "aliases",
    "lei",
    "ftm_id",
    "registration_scheme",
    "registration_number",
    "countries",
    "listed_on",
)


@dataclass(slots=True)
class MemberData:
    record_id: str
    name: str
    line: int = 0
    aliases: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    identifiers: list[Key] = field(default_factory=list)
    listed_on: Any = None
    source: dict[str, Any] = field(default_factory=dict)


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def read_list_csv(path: str | Path) -> Iterator[MemberData]:
    with open_text(path) as text:
        reader = csv.DictReader(text)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise SourceError(f"missing column(s) {', '.join(missing)}", line=1, field=missing[0])
        unknown = [column for column in reader.fieldnames or [] if column not in COLUMNS]
        if unknown:
            raise SourceError(f"unknown column(s) {', '.join(unknown)}", line=1, field=unknown[0])
        seen: set[str] = set()
        for row in reader:
            yield _member(reader.line_num, row, seen)


def _member(line: int, row: dict[str, str], seen: set[str]) -> MemberData:
    record_id = (row.get("record_id") or "").strip()
    if not record_id:
        raise SourceError("is required", line=line, field="record_id")
    if record_id in seen:
        raise SourceError(f"{record_id!r} appears twice", line=line, record=record_id, field="record_id")
    seen.add(record_id)
    name = (row.get("name") or "").strip()
    if not name:
        raise SourceError("is required", line=line, record=record_id, field="name")
    identifiers: list[Key] = []
    lei = (row.get("lei") or "").strip().upper()
    if lei:
        if not is_valid_lei(lei):
            raise SourceError(
                f"{lei!r} is not an LEI (20 characters with ISO 17442 check digits)",
                line=line,
                record=record_id,
                field="lei",
            )
        identifiers.append((LEI_SCHEME, lei))
    if (row.get("ftm_id") or "").strip():
        identifiers.append((FTM_SCHEME, row["ftm_id"].strip()))
    number, scheme = (row.get("registration_number") or "").strip(), (row.get("registration_scheme") or "").strip()
    if number and not scheme:
        raise SourceError(
            "a registration number needs its scheme", line=line, record=record_id, field="registration_scheme"
        )
    if number:
        identifiers.append((scheme.upper(), number))
    countries = [
        country_code(code, line=line, record=record_id, field_name="countries", optional=False)
        for code in _split(row.get("countries", ""))
    ]
    return MemberData(
        record_id=record_id,
        name=name,
        line=line,
        aliases=_split(row.get("aliases", "")),
        countries=countries,
        identifiers=identifiers,
        listed_on=date_value(row.get("listed_on"), line=line, record=record_id, field_name="listed_on"),
    )
