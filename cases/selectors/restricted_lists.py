"""Which entities and persons are members of an active restricted-party list.

Members are matched on identifiers only (LEI, FtM id, registration number with its
scheme), never on names: an identifier match is a fact, a name match is a candidate
for a person to review (``cases.services.name_screening``). Lists are small (thousands
of members) next to the graph (millions of entities), so the lookup goes from the
list's identifiers to the indexed ``EntityIdentifier.value``, one query per chunk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from cases.models import EntityIdentifier, Person, RestrictedListIdentifier

_CHUNK = 2000


@dataclass(frozen=True)
class Membership:
    list_code: str
    list_label: str
    member_record_id: str
    member_name: str
    source_file: str

    @property
    def reason(self) -> str:
        """How the explanation names the list, with the member's provenance."""
        where = f", file {self.source_file}" if self.source_file else ""
        return f"Listed on {self.list_label} as {self.member_name!r} (record {self.member_record_id}{where})"


def _active_identifiers(list_ids: Iterable[int] | None = None):
    rows = RestrictedListIdentifier.objects.filter(member__restricted_list__is_active=True)
    if list_ids is not None:
        rows = rows.filter(member__restricted_list_id__in=list(list_ids))
    by_key: dict[tuple[str, str], list[Membership]] = defaultdict(list)
    for scheme, value, code, name, version, published, record_id, member_name, source in rows.values_list(
        "scheme",
        "value",
        "member__restricted_list__code",
        "member__restricted_list__name",
        "member__restricted_list__version",
        "member__restricted_list__published_on",
        "member__record_id",
        "member__name",
        "member__source",
    ):
        edition = version or (published.isoformat() if published else "")
        label = f"{name} ({edition})" if edition else name
        by_key[(scheme, value)].append(Membership(code, label, record_id, member_name, (source or {}).get("file", "")))
    return by_key


def entity_memberships(*, list_ids: Iterable[int] | None = None) -> dict[int, list[Membership]]:
    """``{entity pk: memberships}`` for every entity an active list's identifiers name."""
    by_key = _active_identifiers(list_ids)
    values = sorted({value for _scheme, value in by_key})
    out: dict[int, list[Membership]] = defaultdict(list)
    for start in range(0, len(values), _CHUNK):
        for entity_id, scheme, value in EntityIdentifier.objects.filter(
            value__in=values[start : start + _CHUNK]
        ).values_list("entity_id", "scheme", "value"):
            for membership in by_key.get((scheme, value), ()):
                if membership not in out[entity_id]:
                    out[entity_id].append(membership)
    return dict(out)


def person_memberships(*, list_ids: Iterable[int] | None = None) -> dict[int, list[Membership]]:
    """``{person pk: memberships}``: persons are matched on their FtM id (their external id)."""
    by_key = _active_identifiers(list_ids)
    ids = sorted(value for scheme, value in by_key if scheme == "FTM")
    out: dict[int, list[Membership]] = {}
    for start in range(0, len(ids), _CHUNK):
        for pk, external_id in Person.objects.filter(external_id__in=ids[start : start + _CHUNK]).values_list(
            "pk", "external_id"
        ):
            out[pk] = list(by_key[("FTM", external_id)])
    return out
