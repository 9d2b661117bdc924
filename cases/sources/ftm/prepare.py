"""An FtM file's entities read, validated, mapped and encoded, with what they say about list membership.

Runs in the import's reader process. Which lists an entity belongs to depends on the
lists' FtM datasets and on who is on them now; both are read before the reader starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..lists import MemberData
from ..prepared import (
    Encoding,
    PreparedBatch,
    PreparedRecords,
    ready_entity,
    ready_person,
    ready_relationship,
)
from ..records import EntityRecord, PersonRecord
from .mapping import ENTITY_SCHEMAS, PERSON_SCHEMAS, FtmEntity, entity_keys, map_entity, read_entities

#: ``PreparedBatch.extra`` items: a member of a list (``"member"``, list id, ``MemberData``) or an
#: entity the file shows outside a list's datasets (``"left"``, list id, entity id).
MEMBER, LEFT = "member", "left"


def ftm_records(
    path,
    encoding: Encoding,
    batch_size: int,
    *,
    lists_by_dataset: Mapping[str, Sequence[int]],
    current_members: Mapping[int, set[str]],
) -> PreparedRecords:
    def prepare(batch: list[FtmEntity]) -> PreparedBatch:
        ready, extra = [], []
        for entity in batch:
            record = map_entity(entity)
            if isinstance(record, EntityRecord):
                ready.append(ready_entity(record, encoding))
            elif isinstance(record, PersonRecord):
                ready.append(ready_person(record, encoding))
            elif record is not None:
                ready.append(ready_relationship(record, encoding))
            listed_on = {lid for dataset in entity.datasets for lid in lists_by_dataset.get(dataset, ())}
            if entity.schema in ENTITY_SCHEMAS or entity.schema in PERSON_SCHEMAS:
                extra += [(MEMBER, list_id, member_data(entity)) for list_id in sorted(listed_on)]
            for list_id, record_ids in current_members.items():
                if entity.id in record_ids and list_id not in listed_on:
                    extra.append((LEFT, list_id, entity.id))  # the file says it left the list's dataset
        return PreparedBatch(len(batch), ready, extra)

    return PreparedRecords(lambda: read_entities(path), prepare, batch_size)


def member_data(entity: FtmEntity) -> MemberData:
    """The list member an FtM entity of a list's dataset is."""
    names = entity.properties.get("name", [])
    aliases = [n for prop in ("name", "alias", "weakAlias", "previousName") for n in entity.properties.get(prop, [])]
    countries = [
        c.upper()
        for prop in ("jurisdiction", "country", "mainCountry", "nationality")
        for c in entity.properties.get(prop, [])
    ]
    listed = (entity.properties.get("createdAt") or [entity.first_seen or ""])[0][:10] or None
    return MemberData(
        record_id=entity.id,
        name=names[0] if names else entity.id,
        line=entity.line,
        aliases=[a for a in dict.fromkeys(aliases) if names and a != names[0]],
        countries=list(dict.fromkeys(countries)),
        identifiers=entity_keys(entity),
        listed_on=listed,
        source={"datasets": entity.datasets, "topics": entity.properties.get("topics", []), "schema": entity.schema},
    )
