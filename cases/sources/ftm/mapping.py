"""Read FtM JSON lines and map Company/Organization/LegalEntity/PublicBody, Person, Ownership, Directorship.

Each line is one entity: ``{"id", "schema", "properties": {name: [values]}, "datasets",
"referents", "first_seen", "last_seen"}``. Only the schemata that carry ownership and
control are mapped; the others (Sanction, Address, Identification, Position, vessels …)
are counted and skipped: their facts reach the product through list membership
(``datasets``) instead. Country properties are ISO codes in lower case, plus a few FtM
territory codes that ISO lacks (``xk``, ``suhh`` …), which are kept in provenance only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from cases.sources.errors import SourceError
from cases.sources.files import open_binary
from cases.sources.lei import is_valid_lei
from cases.sources.records import (
    FTM_SCHEME,
    LEI_SCHEME,
    EntityRecord,
    PersonRecord,
    RelationshipRecord,
    _country,
    date_value,
    interest,
    percentage,
)

ENTITY_SCHEMAS = frozenset({"Company", "Organization", "LegalEntity", "PublicBody"})
PERSON_SCHEMAS = frozenset({"Person"})
LINK_SCHEMAS = frozenset({"Ownership", "Directorship"})
#: FtM territory codes outside ISO 3166 (historic states, Kosovo, "global"): not jurisdictions.
NON_ISO_TERRITORIES = frozenset({"xk", "zz", "suhh", "csxx", "cshh", "yucs", "ddde", "eu", "un", "ge-ab", "x-so"})
_CHAIR_ROLES = ("chair", "president")


@dataclass(slots=True)
class FtmEntity:
    """One parsed line: what the importer needs beyond the mapped record (list membership)."""

    line: int
    id: str
    schema: str
    properties: dict[str, list[str]]
    datasets: list[str]
    referents: list[str]
    first_seen: str
    last_seen: str


def read_entities(path: str | Path) -> Iterator[FtmEntity]:
    """Every line of the file, parsed and checked for the FtM entity shape, in file order."""
    with open_binary(path) as stream:
        for line_number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SourceError(f"broken JSON: {exc}", line=line_number) from exc
            yield _entity(line_number, data)


def _entity(line: int, data: Any) -> FtmEntity:
    if not isinstance(data, dict):
        raise SourceError("a line must be one JSON object (an FtM entity)", line=line)
    entity_id = data.get("id")
    if not isinstance(entity_id, str) or not entity_id.strip():
        raise SourceError("is required (a non-empty string)", line=line, field="id")
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema:
        raise SourceError("is required", line=line, record=entity_id, field="schema")
    properties = data.get("properties") or {}
    if not isinstance(properties, dict) or not all(
        isinstance(values, list) and all(isinstance(value, str) for value in values) for values in properties.values()
    ):
        raise SourceError(
            "must map property names to lists of strings", line=line, record=entity_id, field="properties"
        )
    return FtmEntity(
        line=line,
        id=entity_id,
        schema=schema,
        properties=properties,
        datasets=[str(name) for name in data.get("datasets") or []],
        referents=[str(ref) for ref in data.get("referents") or []],
        first_seen=str(data.get("first_seen") or ""),
        last_seen=str(data.get("last_seen") or data.get("last_change") or ""),
    )


def _countries(entity: FtmEntity, prop: str) -> list[str]:
    codes = []
    for value in entity.properties.get(prop, []):
        lowered = value.strip().lower()
        if lowered in NON_ISO_TERRITORIES:
            continue
        code = _country(lowered)
        if code is None:
            raise SourceError(
                f"{value!r} is not an ISO 3166 country code",
                line=entity.line,
                record=entity.id,
                field=f"properties.{prop}",
            )
        if code not in codes:
            codes.append(code)
    return codes


def lei_codes(entity: FtmEntity) -> list[str]:
    codes = []
    for value in entity.properties.get("leiCode", []):
        code = value.strip().upper()
        if not is_valid_lei(code):
            raise SourceError(
                f"{value!r} is not an LEI (20 characters with ISO 17442 check digits)",
                line=entity.line,
                record=entity.id,
                field="properties.leiCode",
            )
        codes.append(code)
    return codes


def entity_keys(entity: FtmEntity) -> list[tuple[str, str]]:
    """The FtM id first (and its referents: ids merged into it), then its LEIs."""
    return [(FTM_SCHEME, entity.id), *((FTM_SCHEME, ref) for ref in entity.referents)] + [
        (LEI_SCHEME, code) for code in lei_codes(entity)
    ]


def _provenance(entity: FtmEntity) -> dict[str, Any]:
    return {
        "type": ["thirdParty"],
        "description": "OpenSanctions / FollowTheMoney",
        "url": f"https://www.opensanctions.org/entities/{entity.id}/",
        "recordId": entity.id,
        "schema": entity.schema,
        "datasets": entity.datasets,
        "topics": entity.properties.get("topics", []),
        "firstSeen": entity.first_seen,
        "lastSeen": entity.last_seen,
    }


def _date(entity: FtmEntity, prop: str, *, end: bool = False):
    values = entity.properties.get(prop) or [""]
    return date_value(values[0], line=entity.line, record=entity.id, field_name=f"properties.{prop}", end_of_period=end)


def map_entity(entity: FtmEntity) -> EntityRecord | PersonRecord | RelationshipRecord | None:
    """The neutral record of one FtM entity, or None for a schema that is not mapped."""
    if entity.schema in ENTITY_SCHEMAS:
        return _organisation(entity)
    if entity.schema in PERSON_SCHEMAS:
        return _person(entity)
    if entity.schema == "Ownership":
        return _link(entity, "owner", "asset")
    if entity.schema == "Directorship":
        return _link(entity, "director", "organization")
    return None


def _names(entity: FtmEntity) -> tuple[str, list[str]]:
    names = [name.strip() for name in entity.properties.get("name", []) if name.strip()]
    if not names:
        raise SourceError("is required", line=entity.line, record=entity.id, field="properties.name")
    others = []
    for prop in ("alias", "previousName", "weakAlias"):
        others += [name.strip() for name in entity.properties.get(prop, []) if name.strip()]
    return names[0], [name for name in dict.fromkeys(names[1:] + others) if name != names[0]]


def _organisation(entity: FtmEntity) -> EntityRecord:
    name, others = _names(entity)
    jurisdictions = _countries(entity, "jurisdiction")
    # FtM's country/mainCountry are the countries an entity is linked with: counted as business
    # countries (conservative: a company FtM places in a restricted country is a restricted root).
    business = list(dict.fromkeys(_countries(entity, "mainCountry") + _countries(entity, "country")))
    is_state = entity.schema == "PublicBody"
    jurisdiction = jurisdictions[0] if jurisdictions else (business[0] if is_state and business else None)
    identifiers = [
        (FTM_SCHEME, "FollowTheMoney entity id", entity.id, f"https://www.opensanctions.org/entities/{entity.id}/")
    ]
    identifiers += [(LEI_SCHEME, "Global Legal Entity Identifier Index", code, "") for code in lei_codes(entity)]
    values = {
        "name": name[:500],
        "alternate_names": others,
        "entity_type": "stateBody" if is_state else "registeredEntity",
        "entity_subtype": "",
        "jurisdiction_id": jurisdiction,
        "registered_address_country_id": None,
        "business_address_countries": business,
        "addresses": [],
        "founding_date": _date(entity, "incorporationDate"),
        "is_closed": False,
    }
    return EntityRecord(
        record_id=entity.id,
        line=entity.line,
        keys=entity_keys(entity),
        values=values,
        identifiers=identifiers,
        source=_provenance(entity),
        updated=entity.last_seen,
    )


def _person(entity: FtmEntity) -> PersonRecord:
    name, others = _names(entity)
    nationalities = list(dict.fromkeys(_countries(entity, "nationality") + _countries(entity, "citizenship")))
    births = entity.properties.get("birthDate") or [""]
    values = {
        "name": name[:500],
        "names": [{"type": "individual", "fullName": name}] + [{"type": "alternative", "fullName": o} for o in others],
        "person_type": "knownPerson",
        "nationalities": nationalities,
        "residence_countries": _countries(entity, "country"),
        "tax_residencies": [],
        "birth_date": births[0][:10],
        "is_closed": False,
    }
    return PersonRecord(
        record_id=entity.id, line=entity.line, keys=[(FTM_SCHEME, entity.id)], values=values, source=_provenance(entity)
    )


def _one(entity: FtmEntity, prop: str) -> str:
    values = entity.properties.get(prop) or []
    if len(values) != 1 or not values[0]:
        raise SourceError(
            f"needs exactly one entity id, has {len(values)}",
            line=entity.line,
            record=entity.id,
            field=f"properties.{prop}",
        )
    return values[0]


def _share(entity: FtmEntity) -> Decimal | None:
    values = entity.properties.get("percentage") or []
    shares = [percentage(v, line=entity.line, record=entity.id, field_name="properties.percentage") for v in values]
    return max(shares) if shares else None


def _link(entity: FtmEntity, owner_prop: str, subject_prop: str) -> RelationshipRecord:
    owner, subject = _one(entity, owner_prop), _one(entity, subject_prop)
    start = _date(entity, "startDate")
    end = _date(entity, "endDate", end=True)
    if start and end and end < start:
        raise SourceError("ends before it starts", line=entity.line, record=entity.id, field="properties.endDate")
    if entity.schema == "Ownership":
        kind = " ".join(entity.properties.get("ownershipType", []))
        interests = [
            interest(
                "votingRights" if "vot" in kind.lower() else "shareholding",
                share=_share(entity),
                start=start,
                end=end,
                details=kind,
            )
        ]
    else:
        role = " ".join(entity.properties.get("role", []))
        board = "boardChair" if any(word in role.lower() for word in _CHAIR_ROLES) else "boardMember"
        interests = [interest(board, start=start, end=end, details=role)]
    return RelationshipRecord(
        record_id=entity.id,
        line=entity.line,
        subject=(FTM_SCHEME, subject),
        owner=(FTM_SCHEME, owner),
        values={"is_closed": False, "unspecified_reason": "", "unspecified_description": ""},
        interests=interests,
        source=_provenance(entity),
        updated=entity.last_seen,
    )
