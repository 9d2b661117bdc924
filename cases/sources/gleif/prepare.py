"""A GLEIF file's records read, validated, mapped and encoded: the work of the import's reader process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..prepared import Encoding, EntityBatch, PreparedBatch, PreparedRecords, StagedEntityBatch, ready_relationship
from .mapping import ENTITY_FILE, RELATIONSHIP_FILE, EntityColumns, map_entity, map_exception, map_relationship
from .reader import GleifFile, csv_header, read_records, read_rows


def gleif_records(source: GleifFile, encoding: Encoding, batch_size: int) -> PreparedRecords:
    """The file's batches: an ``EntityBatch`` each for an LEI-CDF file (staged for SQLite when the
    encoding asks, ``StagedEntityBatch``), relationship records otherwise."""
    if source.kind == ENTITY_FILE and source.format == "csv":
        return _lei_csv_records(source, encoding, batch_size)
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

    return PreparedRecords(lambda: read_records(source), prepare, batch_size, read_share=share, small_first=True)


def _lei_csv_records(source: GleifFile, encoding: Encoding, batch_size: int) -> PreparedRecords:
    """An LEI-CDF CSV's batches: rows mapped by column position (``EntityColumns``), staged rows encoded
    straight from them; through dicts and ``map_entity`` if the header repeats a column name."""
    compiled: list[EntityColumns | None] = []  # made once, in the process that maps

    def columns() -> EntityColumns | None:
        if not compiled:
            compiled.append(EntityColumns.of(csv_header(source.path)))
        return compiled[0]

    def read(share: tuple[int, int, int] | None = None) -> Iterable[tuple[int, Any]]:
        mapper = columns()
        if mapper is None:
            return read_records(source, share=share)
        return read_rows(source, mapper.header, share=share)

    def prepare(batch: list[tuple[int, Any]]) -> PreparedBatch:
        mapper = columns()
        if mapper is None:
            records = (map_entity(line, flat) for line, flat in batch)
            of_records = StagedEntityBatch.of_records if encoding.staged else EntityBatch.of_records
            return PreparedBatch(len(batch), of_records(records, encoding))
        if encoding.staged:
            staged = StagedEntityBatch.of_staged((mapper.staged(line, row, encoding) for line, row in batch), encoding)
            return PreparedBatch(len(batch), staged)
        records = (mapper.record(line, row) for line, row in batch)
        return PreparedBatch(len(batch), EntityBatch.of_records(records, encoding))

    def share(index: int, count: int, size: int) -> Iterable[tuple[int, Any]]:
        return read((index, count, size))

    return PreparedRecords(read, prepare, batch_size, read_share=share, small_first=True)
