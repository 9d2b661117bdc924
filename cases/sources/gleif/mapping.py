"""Map flat GLEIF records (golden-copy column names) to the neutral records, validating as it goes.

What is mapped and why (docs/data-sources.md has the full table):

* LEI-CDF: legal name, other and transliterated names, legal jurisdiction, legal and
  headquarters address countries (the spec's registered and business addresses), the
  registration authority's id as an identifier; status, category, legal form and the
  registration block are kept as provenance (they do not change a screening decision).
* RR-CDF: ``IS_DIRECTLY_CONSOLIDATED_BY`` / ``IS_ULTIMATELY_CONSOLIDATED_BY`` (and
  ``IS_INTERNATIONAL_BRANCH_OF``) become a *control* interest of the parent in the child,
  not a share: accounting consolidation means the parent controls the child (IFRS 10 /
  ASC 810), and GLEIF publishes no percentage. Fund relationships are ignored.
* Reporting exceptions: a parent that is not reported becomes an unspecified (unknown)
  owner with a share of unknown size (0–100 %), the spec's undisclosed-owner rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from orjson import dumps

from cases.sources.errors import SourceError
from cases.sources.lei import is_valid_lei
from cases.sources.prepared import Encoding, staged_entity
from cases.sources.records import (
    LEI_SCHEME,
    EntityRecord,
    RelationshipRecord,
    country_code,
    date_value,
    interest,
    known_country,
    parsed_date,
)

ENTITY_FILE = "LEIData"
RELATIONSHIP_FILE = "RelationshipData"
EXCEPTION_FILE = "ReportingExceptionData"

CONTROL_INTEREST = "controlViaCompanyRulesOrArticles"
SHAREHOLDING = "shareholding"

#: RR-CDF 2.1 relationship types mapped as control (parent -> child); the others are ignored.
CONTROL_RELATIONSHIPS = {
    "IS_DIRECTLY_CONSOLIDATED_BY": "direct",
    "IS_ULTIMATELY_CONSOLIDATED_BY": "indirect",
    "IS_INTERNATIONAL_BRANCH_OF": "direct",
}
IGNORED_RELATIONSHIPS = frozenset({"IS_FUND-MANAGED_BY", "IS_SUBFUND_OF", "IS_FEEDER_TO"})
#: A relationship in one of these states no longer holds.
ENDED_STATUSES = frozenset({"INACTIVE"})
ENDED_REGISTRATIONS = frozenset({"RETIRED", "ANNULLED", "DUPLICATE"})

EXCEPTION_CATEGORIES = {
    "DIRECT_ACCOUNTING_CONSOLIDATION_PARENT": "direct",
    "ULTIMATE_ACCOUNTING_CONSOLIDATION_PARENT": "indirect",
}
#: Reporting-exception reasons and the BODS unspecified-owner reason each is kept as.
EXCEPTION_REASONS = {
    "NATURAL_PERSONS": "interestedPartyHasNotProvidedInformation",
    "NON_CONSOLIDATING": "informationUnknownToPublisher",
    "NO_KNOWN_PERSON": "subjectUnableToConfirmOrIdentifyBeneficialOwner",
    "NON_PUBLIC": "subjectExemptFromDisclosure",
    "NO_LEI": "interestedPartyHasNotProvidedInformation",
    "BINDING_LEGAL_COMMITMENTS": "subjectExemptFromDisclosure",
    "LEGAL_OBSTACLES": "subjectExemptFromDisclosure",
    "DISCLOSURE_DETRIMENTAL": "subjectExemptFromDisclosure",
    "DETRIMENT_NOT_EXCLUDED": "subjectExemptFromDisclosure",
    "CONSENT_NOT_OBTAINED": "subjectExemptFromDisclosure",
}

_GLEIF_RECORD_URL = "https://search.gleif.org/#/record/"


def lei_value(flat: dict[str, str], column: str, *, line: int, record: str = "") -> str:
    value = flat.get(column, "").strip().upper()
    if not value:
        raise SourceError("is required", line=line, record=record, field=column)
    if not is_valid_lei(value):
        raise SourceError(
            f"{value!r} is not an LEI (20 characters with ISO 17442 check digits)",
            line=line,
            record=record,
            field=column,
        )
    return value


def repeated(flat: dict[str, str], column: str) -> list[str]:
    """A column that may repeat: ``X`` or ``X.1``, ``X.2`` … in order."""
    values = [flat[column]] if column in flat else []
    index = 1
    while f"{column}.{index}" in flat:
        values.append(flat[f"{column}.{index}"])
        index += 1
    return values


def _address_columns(prefix: str) -> tuple[str, ...]:
    names = ("FirstAddressLine", "City", "Region", "PostalCode", "AdditionalAddressLine", "AdditionalAddressLine.1")
    return tuple(f"{prefix}.{name}" for name in names)


_ADDRESS_COLUMNS = {
    prefix: _address_columns(prefix) for prefix in ("Entity.LegalAddress", "Entity.HeadquartersAddress")
}
_LEGAL, _HEADQUARTERS = _ADDRESS_COLUMNS["Entity.LegalAddress"], _ADDRESS_COLUMNS["Entity.HeadquartersAddress"]


def _address_of(
    flat: dict[str, str], columns: tuple[str, ...], address_type: str, country: str | None
) -> dict[str, Any] | None:
    first, city, region, postal, additional, additional_1 = columns
    get = flat.get
    if additional_1 in flat or additional in flat:
        lines = [get(first, ""), *repeated(flat, additional), get(city, ""), get(region, "")]
    else:
        lines = [get(first, ""), get(city, ""), get(region, "")]
    text = ", ".join([part for part in lines if part])
    if not text and not country:
        return None
    address: dict[str, Any] = {"type": address_type, "address": text}
    if postal in flat:
        address["postCode"] = flat[postal]
    if country:
        address["country"] = {"code": country}
    return address


_OTHER_NAMES = "Entity.OtherEntityNames.OtherEntityName"
_TRANSLITERATED_NAMES = "Entity.TransliteratedOtherEntityNames.TransliteratedOtherEntityName"


def map_entity(line: int, flat: dict[str, str]) -> EntityRecord:
    lei = lei_value(flat, "LEI", line=line)
    get = flat.get
    name = get("Entity.LegalName", "").strip()
    if not name:
        raise SourceError("is required", line=line, record=lei, field="Entity.LegalName")
    jurisdiction = country_code(
        get("Entity.LegalJurisdiction"), line=line, record=lei, field_name="Entity.LegalJurisdiction"
    )
    legal_country = country_code(
        get("Entity.LegalAddress.Country"), line=line, record=lei, field_name="Entity.LegalAddress.Country"
    )
    hq_country = country_code(
        get("Entity.HeadquartersAddress.Country"),
        line=line,
        record=lei,
        field_name="Entity.HeadquartersAddress.Country",
    )
    others = repeated(flat, _OTHER_NAMES) + repeated(flat, _TRANSLITERATED_NAMES)
    addresses = []
    legal = _address_of(flat, _LEGAL, "registered", legal_country)
    if legal:
        addresses.append(legal)
    headquarters = _address_of(flat, _HEADQUARTERS, "business", hq_country)
    if headquarters:
        addresses.append(headquarters)
    url = _GLEIF_RECORD_URL + lei
    identifiers = [(LEI_SCHEME, "Global Legal Entity Identifier Index", lei, url)]
    authority = get("Entity.RegistrationAuthority.RegistrationAuthorityID", "")
    authority_entity = get("Entity.RegistrationAuthority.RegistrationAuthorityEntityID", "")
    if authority and authority_entity:
        identifiers.append((f"GLEIF-RA-{authority}"[:100], "GLEIF registration authority", authority_entity, ""))
    founded = date_value(
        get("Entity.EntityCreationDate"), line=line, record=lei, field_name="Entity.EntityCreationDate"
    )
    last_update = get("Registration.LastUpdateDate", "")
    date_value(last_update, line=line, record=lei, field_name="Registration.LastUpdateDate")
    alternate_names = [other for other in others if other and other != name] if others else []
    values_of = (lei, name[:500], alternate_names, jurisdiction, legal_country, hq_country, addresses, founded)
    provenance = (
        url,
        last_update,
        get("Entity.EntityStatus", ""),
        get("Entity.EntityCategory", ""),
        get("Entity.LegalForm.EntityLegalFormCode", ""),
        get("Registration.RegistrationStatus", ""),
        get("Registration.ValidationSources", ""),
    )
    return lei_record(line, values_of, provenance, identifiers)


def lei_record(line: int, values_of: tuple, provenance: tuple, identifiers: list) -> EntityRecord:
    """The ``EntityRecord`` of an LEI-CDF entity from its checked values: (LEI, name, alternate names,
    jurisdiction, legal and headquarters countries, addresses, founding date) and provenance (record URL,
    last update, entity status, category, legal form, registration status, validation sources)."""
    lei, name, alternate_names, jurisdiction, legal_country, hq_country, addresses, founded = values_of
    last_update = provenance[1]
    values = {
        "name": name,
        "alternate_names": alternate_names,
        "entity_type": "registeredEntity",
        "entity_subtype": "",
        "jurisdiction_id": jurisdiction,
        "registered_address_country_id": legal_country,
        "business_address_countries": [hq_country] if hq_country else [],
        "addresses": addresses,
        "founding_date": founded,
        "is_closed": False,
    }
    return EntityRecord(lei, line, [(LEI_SCHEME, lei)], values, identifiers, lei_source(lei, provenance), last_update)


def lei_source(lei: str, provenance: tuple) -> dict:
    """The BODS source object of an LEI-CDF entity (see ``lei_record`` for ``provenance``)."""
    url, last_update, status, category, legal_form, registration, validation = provenance
    return {
        "type": list(_LEI_SOURCE_TYPE),
        "description": _LEI_DESCRIPTION,
        "url": url,
        "recordId": lei,
        "lastUpdate": last_update,
        "entityStatus": status,
        "entityCategory": category,
        "legalForm": legal_form,
        "registrationStatus": registration,
        "validationSources": validation,
    }


#: The single-valued LEI-CDF columns ``map_entity`` reads, in the order ``EntityColumns`` reads them.
_ENTITY_FIELDS = (
    "LEI",
    "Entity.LegalName",
    "Entity.LegalJurisdiction",
    "Entity.LegalAddress.Country",
    "Entity.HeadquartersAddress.Country",
    "Entity.RegistrationAuthority.RegistrationAuthorityID",
    "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
    "Entity.EntityCreationDate",
    "Registration.LastUpdateDate",
    "Entity.EntityStatus",
    "Entity.EntityCategory",
    "Entity.LegalForm.EntityLegalFormCode",
    "Registration.RegistrationStatus",
    "Registration.ValidationSources",
    *(column for column in _LEGAL if "Additional" not in column),
    *(column for column in _HEADQUARTERS if "Additional" not in column),
)
_LEI_SOURCE_TYPE = ["officialRegister"]
_LEI_DESCRIPTION = "GLEIF LEI-CDF golden copy"
_LEI_SCHEME_NAME = "Global Legal Entity Identifier Index"
_RA_SCHEME_NAME = "GLEIF registration authority"


class EntityColumns:
    """``map_entity`` compiled for one CSV header: a record's fields read from its row by position.

    A golden copy has one header, so the positions of the columns the mapping reads are found
    once, and a row (``csv.reader``'s list) is mapped without the dict ``map_entity`` takes:
    building that dict and looking every field up by name cost about as much as the mapping.
    ``record(line, row)`` is ``map_entity(line, flat)`` of the row's dict (``_csv_records``: empty
    values left out). A row with anything the quick checks here do not accept is handed to
    ``map_entity`` itself, so a bad record fails with exactly its error (field, message, and which
    field is reported first); ``tests/sources/test_gleif_columns.py`` pins records and errors to it.
    """

    def __init__(self, header: Sequence[str]):
        if len(set(header)) != len(header):
            raise ValueError("a header with a repeated column name: map its rows as dicts")
        self.header = list(header)
        self.width = len(header)
        position = {name: index for index, name in enumerate(header)}
        absent = self.width  # rows are read padded with one empty value, for the columns the header lacks
        self._fields = itemgetter(*(position.get(name, absent) for name in _ENTITY_FIELDS))

        def repeated_at(column: str) -> tuple[int, int, tuple[int, ...]]:
            numbered, index = [], 1
            while f"{column}.{index}" in position:
                numbered.append(position[f"{column}.{index}"])
                index += 1
            return position.get(column, absent), numbered[0] if numbered else absent, tuple(numbered)

        self._others = repeated_at(_OTHER_NAMES)
        self._transliterated = repeated_at(_TRANSLITERATED_NAMES)
        self._legal_additional = repeated_at("Entity.LegalAddress.AdditionalAddressLine")
        self._headquarters_additional = repeated_at("Entity.HeadquartersAddress.AdditionalAddressLine")
        self._encoding: Encoding | None = None
        self._adapted_dates: dict[Any, Any] = {}
        self._country_json: dict[str, str] = {}

    @classmethod
    def of(cls, header: Sequence[str]) -> EntityColumns | None:
        """The compiled mapping, or None for a header whose rows must go through dicts (a repeated name)."""
        return cls(header) if len(set(header)) == len(header) else None

    def flat(self, row: list[str]) -> dict[str, str]:
        """The row as ``_csv_records`` gives it to ``map_entity``."""
        return {key: value for key, value in zip(self.header, row, strict=False) if value}

    def _read(self, line: int, row: list[str]) -> tuple | None:
        """The record's mapped parts, or None when a value needs ``map_entity``'s own checks (to fail there)."""
        if len(row) != self.width:  # a short row: the missing columns are empty, as absent keys of the dict
            row = [*row, *[""] * (self.width - len(row))]
        row.append("")
        (
            lei,
            name,
            jurisdiction,
            legal_country,
            hq_country,
            authority,
            authority_entity,
            created,
            last_update,
            status,
            category,
            legal_form,
            registration,
            validation,
            legal_first,
            legal_city,
            legal_region,
            legal_postal,
            hq_first,
            hq_city,
            hq_region,
            hq_postal,
        ) = self._fields(row)
        lei = lei.strip().upper()
        name = name.strip()
        if not name or not is_valid_lei(lei):
            return None
        if jurisdiction:
            jurisdiction = known_country(jurisdiction)
            if jurisdiction is None:
                return None
        else:
            jurisdiction = None
        if legal_country:
            legal_country = known_country(legal_country)
            if legal_country is None:
                return None
        else:
            legal_country = None
        if hq_country:
            hq_country = known_country(hq_country)
            if hq_country is None:
                return None
        else:
            hq_country = None
        if created:
            founded = parsed_date(created.strip(), False)
            if founded is None:
                return None
        else:
            founded = None
        if last_update and parsed_date(last_update.strip(), False) is None:
            return None
        others = _repeated_in(row, self._others) + _repeated_in(row, self._transliterated)
        addresses = []
        more = _repeated_in(row, self._legal_additional)
        legal = _address_in(legal_first, legal_city, legal_region, legal_postal, more, "registered", legal_country)
        if legal:
            addresses.append(legal)
        more = _repeated_in(row, self._headquarters_additional)
        headquarters = _address_in(hq_first, hq_city, hq_region, hq_postal, more, "business", hq_country)
        if headquarters:
            addresses.append(headquarters)
        url = _GLEIF_RECORD_URL + lei
        identifiers = [(LEI_SCHEME, _LEI_SCHEME_NAME, lei, url)]
        if authority and authority_entity:
            identifiers.append((f"GLEIF-RA-{authority}"[:100], _RA_SCHEME_NAME, authority_entity, ""))
        alternate_names = [other for other in others if other and other != name] if others else []
        return (
            (lei, name[:500], alternate_names, jurisdiction, legal_country, hq_country, addresses, founded),
            (url, last_update, status, category, legal_form, registration, validation),
            identifiers,
        )

    def record(self, line: int, row: list[str]) -> EntityRecord:
        """``map_entity(line, self.flat(row))``."""
        parts = self._read(line, row)
        if parts is None:
            return map_entity(line, self.flat(row))
        values_of, provenance, ids = parts
        return lei_record(line, values_of, provenance, ids)

    def staged(self, line: int, row: list[str], encoding: Encoding) -> tuple[tuple, list | None, list]:
        """What ``StagedEntityBatch.of_staged`` takes of ``record(line, row)``, without the record in between (its
        dicts cost more than the encoding): the staged row, and the identifiers marked with their key (keys
        None) — or ``staged_entity`` of the record, for a row ``map_entity`` itself maps."""
        parts = self._read(line, row)
        if parts is None:
            return staged_entity(map_entity(line, self.flat(row)), encoding)
        values_of, provenance, ids = parts
        lei, name, alternate_names, jurisdiction, legal_country, hq_country, addresses, founded = values_of
        last_update = provenance[1]
        try:
            source = dumps({**lei_source(lei, provenance), **encoding.provenance, "line": line}).decode()
        except TypeError:  # what orjson refuses goes the general way (``json_text``)
            return staged_entity(self.record(line, row), encoding)
        if encoding is not self._encoding:  # the caches below hold what this encoding made
            self._encoding, self._adapted_dates = encoding, {}
        if founded is not None:
            adapted = self._adapted_dates.get(founded)
            if adapted is None:
                adapted = self._adapted_dates[founded] = encoding.adapt_date(founded)
            founded = adapted
        if hq_country:
            countries = self._country_json.get(hq_country)
            if countries is None:
                countries = self._country_json[hq_country] = dumps([hq_country]).decode()
        else:
            countries = "[]"
        identifiers = [(*ids[0], 0)]  # the LEI is the record's one key
        if len(ids) > 1:  # the registration authority's scheme is never the LEI's: distinct
            identifiers.append((*ids[1], None))
        staged_row = (
            lei,
            last_update,
            lei,
            source,
            name,
            dumps(alternate_names).decode() if alternate_names else "[]",
            "registeredEntity",
            "",
            jurisdiction,
            legal_country,
            countries,
            dumps(addresses).decode(),
            founded,
            False,
        )
        return staged_row, None, identifiers


def _repeated_in(row: list[str], columns: tuple[int, int, tuple[int, ...]]) -> list[str]:
    """``repeated`` of a row: the column's value if any, then ``.1``, ``.2``, … up to the first empty one.

    ``columns`` is ``(X, X.1, (X.1, X.2, …))``, positions (the row's padding for one the header lacks).
    """
    first, second, numbered = columns
    if not row[first] and not row[second]:  # most records: nothing, found without a loop
        return []
    value = row[first]
    values = [value] if value else []
    for index in numbered:
        value = row[index]
        if not value:
            break
        values.append(value)
    return values


def _address_in(
    first: str, city: str, region: str, postal: str, more: list[str], address_type: str, country: str | None
) -> dict[str, Any] | None:
    """``_address_of`` of a row's values (``more``: its additional address lines)."""
    text = ", ".join(filter(None, [first, *more, city, region] if more else (first, city, region)))
    if not text and not country:
        return None
    if postal:
        if country:
            return {"type": address_type, "address": text, "postCode": postal, "country": {"code": country}}
        return {"type": address_type, "address": text, "postCode": postal}
    if country:
        return {"type": address_type, "address": text, "country": {"code": country}}
    return {"type": address_type, "address": text}


def _periods(flat: dict[str, str]) -> list[dict[str, str]]:
    """Relationship periods: CSV ``Relationship.Period.1.startDate`` or XML ``…RelationshipPeriod.StartDate``."""
    periods: dict[str, dict[str, str]] = {}
    for key, value in flat.items():
        if key.startswith("Relationship.Period."):
            _, _, index, name = key.split(".", 3)
            periods.setdefault(index, {})[name[0].lower() + name[1:]] = value
        elif key.startswith("Relationship.RelationshipPeriods.RelationshipPeriod"):
            rest = key[len("Relationship.RelationshipPeriods.RelationshipPeriod") :].lstrip(".")
            index, _, name = rest.rpartition(".")
            periods.setdefault(index or "1", {})[name[0].lower() + name[1:]] = value
    return [periods[index] for index in sorted(periods)]


def map_relationship(line: int, flat: dict[str, str]) -> RelationshipRecord | None:
    """A control relationship, or None for a relationship type that is not mapped (fund links)."""
    child = lei_value(flat, "Relationship.StartNode.NodeID", line=line)
    kind = flat.get("Relationship.RelationshipType", "")
    if kind in IGNORED_RELATIONSHIPS:
        return None
    if kind not in CONTROL_RELATIONSHIPS:
        raise SourceError(
            f"unknown relationship type {kind!r}", line=line, record=child, field="Relationship.RelationshipType"
        )
    for node in ("StartNode", "EndNode"):
        node_type = flat.get(f"Relationship.{node}.NodeIDType", "LEI")
        if node_type != "LEI":
            raise SourceError(
                f"node id type {node_type!r} (only LEI nodes are relationships)",
                line=line,
                record=child,
                field=f"Relationship.{node}.NodeIDType",
            )
    parent = lei_value(flat, "Relationship.EndNode.NodeID", line=line, record=child)
    if parent == child:
        raise SourceError(
            "an entity cannot be its own parent", line=line, record=child, field="Relationship.EndNode.NodeID"
        )
    record_id = f"gleif-rr:{child}:{kind}:{parent}"
    start = end = None
    for period in _periods(flat):
        if period.get("periodType") == "RELATIONSHIP_PERIOD":
            start = date_value(
                period.get("startDate"), line=line, record=record_id, field_name="Relationship.Period.startDate"
            )
            end = date_value(
                period.get("endDate"), line=line, record=record_id, field_name="Relationship.Period.endDate"
            )
    if start and end and end < start:
        raise SourceError("ends before it starts", line=line, record=record_id, field="Relationship.Period.endDate")
    status = flat.get("Relationship.RelationshipStatus", "ACTIVE")
    registration = flat.get("Registration.RegistrationStatus", "")
    validation = flat.get("Registration.ValidationSources", "")
    details = f"GLEIF {kind}: accounting consolidation (control)"
    if validation:
        details += f"; validation {validation}"
    return RelationshipRecord(
        record_id=record_id,
        line=line,
        subject=(LEI_SCHEME, child),
        owner=(LEI_SCHEME, parent),
        values={
            "is_closed": status in ENDED_STATUSES or registration in ENDED_REGISTRATIONS,
            "unspecified_reason": "",
            "unspecified_description": "",
        },
        interests=[
            interest(
                CONTROL_INTEREST,
                direct_or_indirect=CONTROL_RELATIONSHIPS[kind],
                start=start,
                end=end,
                details=details,
                beneficial=False,
            )
        ],
        source={
            "type": ["officialRegister"],
            "description": "GLEIF RR-CDF golden copy",
            "url": _GLEIF_RECORD_URL + child,
            "recordId": record_id,
            "relationshipType": kind,
            "relationshipStatus": status,
            "registrationStatus": registration,
            "validationSources": validation,
            "lastUpdate": flat.get("Registration.LastUpdateDate", ""),
        },
        updated=flat.get("Registration.LastUpdateDate", ""),
    )


def map_exception(line: int, flat: dict[str, str]) -> RelationshipRecord:
    lei = lei_value(flat, "LEI", line=line)
    category = flat.get("ExceptionCategory", "")
    if category not in EXCEPTION_CATEGORIES:
        raise SourceError(f"unknown exception category {category!r}", line=line, record=lei, field="ExceptionCategory")
    reasons = repeated(flat, "ExceptionReason")
    if not reasons:
        raise SourceError("is required", line=line, record=lei, field="ExceptionReason")
    for reason in reasons:
        if reason not in EXCEPTION_REASONS:
            raise SourceError(f"unknown exception reason {reason!r}", line=line, record=lei, field="ExceptionReason")
    record_id = f"gleif-repex:{lei}:{category}"
    description = f"GLEIF reporting exception: {category} not reported ({', '.join(reasons)})"
    return RelationshipRecord(
        record_id=record_id,
        line=line,
        subject=(LEI_SCHEME, lei),
        owner=None,
        values={
            "is_closed": False,
            "unspecified_reason": EXCEPTION_REASONS[reasons[0]],
            "unspecified_description": description,
        },
        interests=[
            interest(SHAREHOLDING, direct_or_indirect=EXCEPTION_CATEGORIES[category], details=description),
        ],
        source={
            "type": ["officialRegister"],
            "description": "GLEIF Reporting Exceptions golden copy",
            "url": _GLEIF_RECORD_URL + lei,
            "recordId": record_id,
            "exceptionCategory": category,
            "exceptionReasons": reasons,
            "exceptionReferences": repeated(flat, "ExceptionReference"),
        },
    )
