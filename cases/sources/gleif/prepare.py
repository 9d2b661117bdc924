"""A GLEIF file's records read, validated, mapped and encoded: the work of the import's reader process."""

from __future__ import annotations

from typing import Any

from ..prepared import Encoding, EntityBatch, PreparedBatch, PreparedRecords, StagedEntityBatch, ready_relationship
from .mapping import ENTITY_FILE, RELATIONSHIP_FILE, map_entity, map_exception, map_relationship
from .reader import GleifFile, read_records


def gleif_records(source: GleifFile, encoding: Encoding, batch_size: int) -> PreparedRecords:
    """The file's batches: an ``EntityBatch`` each for an LEI-CDF file (staged for SQLite when the
    encoding asks, ``StagedEntityBatch``), relationship records otherwise."""
    if source.kind == ENTITY_FILE:

        def prepare(batch: list[tuple[int, dict[str, str]]]) -> PreparedBatch:
            records = (map_entity(line, flat) for line, flat in batch)
            of_records = StagedEntityBatch.of_records if encoding.staged else EntityBatch.of_records
            return PreparedBatch(len(batch), of_records(records, encoding))

    else:
        mapper = map_relationship if source.kind == RELATIONSHIP_FILE else map_exception

        def prepare(batch: list[tuple[int, dict[str, str]]]) -> PreparedBatch:
            ready: list[Any] = []
            for line, flat in batch:
                record = mapper(line, flat)
                if record is not None:  # a relationship type that is not mapped (fund links)
                    ready.append(ready_relationship(record, encoding))
            return PreparedBatch(len(batch), ready)

    share = None
    if source.format == "csv":  # reading the CSV is cheap: each reader reads it all, mapping its share

        def share(index: int, count: int, size: int):
            return read_records(source, share=(index, count, size))

    return PreparedRecords(lambda: read_records(source), prepare, batch_size, read_share=share)
