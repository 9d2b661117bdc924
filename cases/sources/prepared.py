"""Source records made ready to write, in the import's reader process (``cases.bods.pipeline``).

Reading, validating and mapping a GLEIF or FtM record depends on nothing but the file, and
so does most of turning it into the row an insert sends: JSON columns as text, dates as
the database adapter takes them, provenance merged in. Doing that here, in the forked
reader, leaves the importing process only what depends on the database: which records
exist already, their ids, and the writes. Each record keeps its mapped values too,
because a record that already exists is compared with (or merged into) what is stored.

Everything the rows need from the database side (the adapter's date conversion, the
import's timestamp, the import run's provenance) is fixed before the fork, in ``Encoding``.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from cases.bods.mapping import INTEREST_FIELDS
from cases.json_text import json_text

from .records import EntityRecord, Key, PersonRecord, RelationshipRecord

#: Value columns of each kind of row, in the order every writer uses.
ENTITY_VALUES = [
    "name",
    "alternate_names",
    "entity_type",
    "entity_subtype",
    "jurisdiction_id",
    "registered_address_country_id",
    "business_address_countries",
    "addresses",
    "founding_date",
    "is_closed",
]
PERSON_VALUES = [
    "name",
    "names",
    "person_type",
    "nationalities",
    "residence_countries",
    "tax_residencies",
    "birth_date",
    "is_closed",
]
RELATIONSHIP_VALUES = [
    "subject_id",
    "interested_entity_id",
    "interested_person_id",
    "unspecified_reason",
    "unspecified_description",
    "is_closed",
]
INTEREST_VALUES = INTEREST_FIELDS
RECORD_COLUMNS = ["external_id", "statement_id", "statement_date", "source", "created_at", "updated_at"]
#: Insert columns (after ``id``) of the rows ``encode_*`` prepare; relationships get their
#: party ids in the importing process, so their row is the head and the tail around them.
ENTITY_ROW = [*RECORD_COLUMNS, *ENTITY_VALUES, "is_listed", "listing", "dissolution_date"]
PERSON_ROW = [*RECORD_COLUMNS, *PERSON_VALUES]
RELATIONSHIP_ROW = [*RECORD_COLUMNS, *RELATIONSHIP_VALUES, "is_component", "component_record_ids"]
IDENTIFIER_ROW = ["entity_id", "scheme", "scheme_name", "value", "uri"]
INTEREST_ROW = ["relationship_id", *INTEREST_VALUES]
#: Columns of those rows given already adapted (the writers pass them through unconverted).
ADAPTED = {
    "entity": ["statement_date", "source", "created_at", "updated_at", "alternate_names", "business_address_countries"]
    + ["addresses", "founding_date", "listing", "dissolution_date"],
    "person": ["statement_date", "source", "created_at", "updated_at", "names", "nationalities"]
    + ["residence_countries", "tax_residencies"],
    "relationship": ["statement_date", "source", "created_at", "updated_at", "component_record_ids"],
    "interest": ["start_date", "end_date"],
}
_JURISDICTION, _ADDRESS_COUNTRY = ENTITY_ROW.index("jurisdiction_id"), ENTITY_ROW.index("registered_address_country_id")
_INTEREST_DATES = ("start_date", "end_date")
_first = itemgetter(0)
_ENTITY_JSON = ("alternate_names", "business_address_countries", "addresses")
_PERSON_JSON = ("names", "nationalities", "residence_countries", "tax_residencies")


@dataclass(slots=True)
class Encoding:
    """The database side of a row, fixed by the importing process before the reader starts."""

    provenance: dict[str, Any]
    today: Any  # the statement date, adapted
    now: Any  # created/updated timestamp, adapted
    adapt_date: Callable[[Any], Any]
    #: Send entity batches as SQLite database images (``StagedEntityBatch``): the importing
    #: process is SQLite and copies them in with ``INSERT … SELECT``.
    staged: bool = False

    def source_text(self, record: EntityRecord | PersonRecord | RelationshipRecord) -> str:
        return json_text({**record.source, **self.provenance, "line": record.line})

    def date(self, value: Any) -> Any:
        return None if value is None else self.adapt_date(value)


def entity_constants(encoding: Encoding) -> tuple:
    """The values every row ``encode_entity`` makes has in the ``STAGE_CONSTANT`` columns, in that order."""
    return ("", encoding.today, encoding.now, encoding.now, False, "{}", None)


def encode_entity(record: EntityRecord, encoding: Encoding) -> tuple:
    external_id, source, *values = encode_entity_varying(record, encoding)
    statement_id, today, created, updated, is_listed, listing, dissolved = entity_constants(encoding)
    return (external_id, statement_id, today, source, created, updated, *values, is_listed, listing, dissolved)


def encode_entity_varying(record: EntityRecord, encoding: Encoding) -> tuple:
    """The ``ENTITY_ROW`` values of the record that are not the same in every row (``STAGE_ENTITY[2:]``)."""
    values = record.values
    try:  # json_text's common case, without a call per column
        alternate_names = orjson.dumps(values["alternate_names"]).decode()
        countries = orjson.dumps(values["business_address_countries"]).decode()
        addresses = orjson.dumps(values["addresses"]).decode()
        source = orjson.dumps({**record.source, **encoding.provenance, "line": record.line}).decode()
    except TypeError:
        alternate_names = json_text(values["alternate_names"])
        countries = json_text(values["business_address_countries"])
        addresses = json_text(values["addresses"])
        source = encoding.source_text(record)
    founded = values["founding_date"]
    return (
        record.record_id[:255],
        source,
        values["name"],
        alternate_names,
        values["entity_type"],
        values["entity_subtype"],
        values["jurisdiction_id"],
        values["registered_address_country_id"],
        countries,
        addresses,
        None if founded is None else encoding.adapt_date(founded),
        values["is_closed"],
    )


def staged_entity(record: EntityRecord, encoding: Encoding) -> tuple[tuple, list[Key], list[tuple[str, str, str, str]]]:
    """``(staged row, keys, identifiers)``: what ``StagedEntityBatch.of_staged`` takes of a record; the row is
    ``STAGE_ENTITY``'s columns."""
    return (record.record_id, record.updated, *encode_entity_varying(record, encoding)), record.keys, record.identifiers


def encode_person(record: PersonRecord, encoding: Encoding) -> tuple:
    values = record.values
    return (
        record.record_id[:255],
        "",
        encoding.today,
        encoding.source_text(record),
        encoding.now,
        encoding.now,
        values["name"],
        json_text(values["names"]),
        values["person_type"],
        json_text(values["nationalities"]),
        json_text(values["residence_countries"]),
        json_text(values["tax_residencies"]),
        values["birth_date"],
        values["is_closed"],
    )


def encode_relationship(record: RelationshipRecord, encoding: Encoding) -> tuple[tuple, tuple, list[tuple]]:
    """``(head, tail, interest rows)``: the row is head, party ids, tail; interest rows lack the relationship id."""
    values = record.values
    head = (record.record_id[:255], "", encoding.today, encoding.source_text(record), encoding.now, encoding.now)
    tail = (values["unspecified_reason"], values["unspecified_description"], values["is_closed"], False, "[]")
    interests = [
        tuple(encoding.date(item[name]) if name in _INTEREST_DATES else item[name] for name in INTEREST_VALUES)
        for item in record.interests
    ]
    return head, tail, interests


class ReadyEntity(NamedTuple):
    """An entity record as the reader sends it: what a new row needs, and only that.

    The mapped values are not sent beside the row: a record that exists already is rare
    in a first load and cheap to decode from the row (``entity_values``), while sending
    both would double what every batch costs to pickle and unpickle.
    """

    record_id: str
    keys: list[Key]
    updated: str
    row: tuple
    identifiers: list[tuple[str, str, str, str]]


class ReadyPerson(NamedTuple):
    record_id: str
    row: tuple


class ReadyRelationship(NamedTuple):
    """A relationship as the reader sends it; its row is ``head``, the party ids, ``tail``."""

    record_id: str
    line: int
    subject: Key
    owner: Key | None
    updated: str
    head: tuple
    tail: tuple
    interests: list[tuple]


Ready = ReadyEntity | ReadyPerson | ReadyRelationship


class EntityBatch(NamedTuple):
    """A batch's entity records as columns: what the reader sends for a file of entities.

    One object per batch instead of a ``ReadyEntity`` per record: pickling and unpickling
    it costs the importing process no per-record object, and a batch whose records are all
    new goes into the database as it came (``SourceWriter.write_entities``). Records are
    unique by record id (a later record with the same id replaces the earlier one, in the
    earlier one's place); identifiers are ``(index of the record, scheme, scheme name,
    value, uri)``, without duplicates per record; ``codes`` are the jurisdiction and
    address-country codes the rows name.
    """

    record_ids: list[str]
    keys: list[list[Key]]
    updated: list[str]
    rows: list[tuple]
    identifiers: list[tuple[int, str, str, str, str]]
    codes: frozenset[str]

    @classmethod
    def of_records(cls, records: Iterable[EntityRecord], encoding: Encoding) -> EntityBatch:
        """The batch of mapped records, as ``of`` their ``ready_entity`` would be: each encoded as it comes.

        A record is dropped once encoded (holding a batch of mapped records costs more than
        encoding them), and a repeated record id replaces the earlier record in its place.
        """
        record_ids: list[str] = []
        keys: list[list[Key]] = []
        updated: list[str] = []
        rows: list[tuple] = []
        identifiers: list[tuple[int, str, str, str, str]] = []
        position: dict[str, int] = {}
        for record in records:
            row = encode_entity(record, encoding)
            index = position.get(record.record_id)
            if index is None:
                index = position[record.record_id] = len(rows)
                record_ids.append(record.record_id)
                keys.append(record.keys)
                updated.append(record.updated)
                rows.append(row)
            else:  # rare: the later record wins, in the earlier one's place
                keys[index], updated[index], rows[index] = record.keys, record.updated, row
                identifiers = [identifier for identifier in identifiers if identifier[0] != index]
            identifiers += [(index, *identifier) for identifier in dict.fromkeys(record.identifiers)]
        codes = {row[_JURISDICTION] for row in rows} | {row[_ADDRESS_COUNTRY] for row in rows}
        codes.discard(None)
        identifiers.sort(key=_first)  # in record order, as ``of`` gives them
        return cls(record_ids, keys, updated, rows, identifiers, frozenset(codes))

    @classmethod
    def of(cls, items: Iterable[ReadyEntity]) -> EntityBatch:
        items = list({item.record_id: item for item in items}.values())
        identifiers = [
            (index, *identifier) for index, item in enumerate(items) for identifier in dict.fromkeys(item.identifiers)
        ]
        codes = {item.row[_JURISDICTION] for item in items} | {item.row[_ADDRESS_COUNTRY] for item in items}
        codes.discard(None)
        return cls(
            [item.record_id for item in items],
            [item.keys for item in items],
            [item.updated for item in items],
            [item.row for item in items],
            identifiers,
            frozenset(codes),
        )

    def items(self) -> list[ReadyEntity]:
        """The records one by one (for a batch where some exist already and are compared one at a time)."""
        per_record: list[list[tuple[str, str, str, str]]] = [[] for _ in self.record_ids]
        for index, *identifier in self.identifiers:
            per_record[index].append(tuple(identifier))
        return [
            ReadyEntity(record_id, keys, updated, row, identifiers)
            for record_id, keys, updated, row, identifiers in zip(
                self.record_ids, self.keys, self.updated, self.rows, per_record, strict=True
            )
        ]


#: Whether this Python's sqlite3 can make and load database images (``Connection.serialize``, 3.11+).
CAN_STAGE = hasattr(sqlite3.Connection, "serialize") and hasattr(sqlite3.Connection, "deserialize")
#: ``ENTITY_ROW`` columns ``encode_entity`` fills with the same value for every row of an import: a staged
#: batch carries them once (``StagedEntityBatch.constants``), not per row.
STAGE_CONSTANT = ["statement_id", "statement_date", "created_at", "updated_at"] + [
    "is_listed",
    "listing",
    "dissolution_date",
]
#: The staged ``entity`` table's columns: the record's id and stamp, then the ``ENTITY_ROW`` columns that vary.
STAGE_ENTITY = ["record_id", "updated", *(name for name in ENTITY_ROW if name not in STAGE_CONSTANT)]
_STAGE_SCHEMA = (
    f"CREATE TABLE entity ({', '.join(STAGE_ENTITY)})",
    "CREATE TABLE identifier (record, scheme, scheme_name, value, uri, key)",
    "CREATE TABLE record_key (record, key, scheme, value)",
)
_CONSTANT_INDEXES = [ENTITY_ROW.index(name) for name in STAGE_CONSTANT]
_VARYING_INDEXES = [ENTITY_ROW.index(name) for name in STAGE_ENTITY[2:]]
_constants_of = itemgetter(*_CONSTANT_INDEXES)
_varying_of = itemgetter(*_VARYING_INDEXES)
_BOOLEAN_COLUMNS = [STAGE_ENTITY.index(name) - 2 for name in ("is_closed",)]


_STAGED_JURISDICTION = STAGE_ENTITY.index("jurisdiction_id")
_STAGED_ADDRESS_COUNTRY = STAGE_ENTITY.index("registered_address_country_id")


#: Rows a staging ``INSERT`` takes at once (``_insert_rows``); 50 × 14 values stay below every SQLite's limit of 999.
_STAGE_ROWS_PER_STATEMENT = 50


def _insert_rows(db: sqlite3.Connection, table: str, width: int, rows: list[tuple]) -> None:
    """Insert ``rows`` in order, ``_STAGE_ROWS_PER_STATEMENT`` to a multi-row ``VALUES``.

    The image's tables have no index, so a row costs SQLite little beyond its statement's step and
    reset; fifty rows to a statement took the staging of a GLEIF record from 4.5 to 3.3 µs.
    """
    size = _STAGE_ROWS_PER_STATEMENT
    one = f"({', '.join('?' * width)})"
    full = len(rows) - len(rows) % size
    if full:
        db.executemany(
            f"INSERT INTO {table} VALUES {', '.join([one] * size)}",  # noqa: S608 - our own table
            [list(chain.from_iterable(rows[start : start + size])) for start in range(0, full, size)],
        )
    if full < len(rows):
        db.executemany(f"INSERT INTO {table} VALUES {one}", rows[full:])  # noqa: S608 - our own table


def _stage_image(rows: list[tuple], identifiers: list[tuple], other_keys: list[tuple]) -> bytes:
    """The serialized SQLite database of a staged batch (``StagedEntityBatch``)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        # The largest pages: a batch fills fewer of them (7 % less staging, measured); the image
        # carries its page size, so the importing process reads it as it was written.
        db.execute("PRAGMA page_size = 65536")
        db.execute("PRAGMA journal_mode = OFF")
        for statement in _STAGE_SCHEMA:
            db.execute(statement)
        db.execute("BEGIN")
        _insert_rows(db, "entity", len(STAGE_ENTITY), rows)
        _insert_rows(db, "identifier", 6, identifiers)
        _insert_rows(db, "record_key", 4, other_keys)
        db.execute("COMMIT")
        return db.serialize()
    finally:
        db.close()


class StagedEntityBatch(NamedTuple):
    """An ``EntityBatch`` as a small SQLite database (its serialized image): what the reader sends for SQLite.

    The importing process loads the image as an attached schema and copies a batch of new
    records into its tables with one ``INSERT … SELECT`` per table (``SourceWriter``): the
    rows are bound to SQLite parameters here, in the reader, and the importing process pays
    neither the per-row ``executemany`` (a statement, its ``AUTOINCREMENT`` bookkeeping and
    19 bound values a row) nor unpickling the rows. Tables, in record order (``rowid``):

    * ``entity``: ``STAGE_ENTITY`` — ``record_id``, ``updated`` and the row's varying columns, the
      values exactly as they would be bound (the ``rowid`` is the record's index + 1); the
      ``STAGE_CONSTANT`` columns, the same in every row, are ``constants`` (``{column: value}``);
    * ``identifier``: ``record`` (the record's index), ``scheme``, ``scheme_name``, ``value``, ``uri``,
      and ``key``: the position of ``(scheme, value)`` among the record's keys, or NULL;
    * ``record_key``: ``record``, ``key`` (position), ``scheme``, ``value`` of the keys that are not
      one of the record's identifiers (none for GLEIF, whose key is the LEI identifier).

    ``count`` is the number of records, ``codes`` the batch's country codes, as in ``EntityBatch``.
    """

    image: bytes
    count: int
    codes: frozenset[str]
    constants: dict[str, Any]

    @classmethod
    def of(cls, batch: EntityBatch) -> StagedEntityBatch | EntityBatch:
        """The batch staged; the batch itself if its rows do not share the ``STAGE_CONSTANT`` values."""
        if not batch.rows:
            return batch
        constants = _constants_of(batch.rows[0])
        staged_rows = []
        for record_id, updated, row in zip(batch.record_ids, batch.updated, batch.rows, strict=True):
            if _constants_of(row) != constants:
                return batch
            staged_rows.append((record_id, updated, *_varying_of(row)))
        identifiers, other_keys = [], []
        positions = [{key: position for position, key in enumerate(keys)} for keys in batch.keys]
        covered: set[tuple[int, str, str]] = set()
        for index, scheme, scheme_name, value, uri in batch.identifiers:
            position = positions[index].get((scheme, value))
            if position is not None:
                if (index, scheme, value) in covered:
                    position = None  # the key is marked on its first identifier row only
                else:
                    covered.add((index, scheme, value))
            identifiers.append((index, scheme, scheme_name, value, uri, position))
        for index, keys in enumerate(positions):
            for (scheme, value), position in keys.items():
                if (index, scheme, value) not in covered:
                    other_keys.append((index, position, scheme, value))
        image = _stage_image(staged_rows, identifiers, other_keys)
        return cls(image, len(staged_rows), batch.codes, dict(zip(STAGE_CONSTANT, constants, strict=True)))

    @classmethod
    def of_records(cls, records: Iterable[EntityRecord], encoding: Encoding) -> StagedEntityBatch:
        """``of(EntityBatch.of_records(records, encoding))``, without the batch in between: each record encoded
        straight into its staged row (a repeated record id replaces the earlier record in its place)."""
        return cls.of_staged((staged_entity(record, encoding) for record in records), encoding)

    @classmethod
    def of_staged(
        cls, items: Iterable[tuple[tuple, list[Key] | None, list[tuple]]], encoding: Encoding
    ) -> StagedEntityBatch:
        """The batch of ``(staged row, keys, identifiers)`` as ``staged_entity`` makes them, or as a mapper that
        encodes straight into them makes them (``cases.sources.gleif.mapping.EntityColumns.staged``): keys None
        and the identifiers distinct, each ``(scheme, scheme name, value, uri, key)`` with the position of
        ``(scheme, value)`` among the record's keys in ``key`` (or None), every key on one of them."""
        rows: list[tuple] = []
        identifiers: list[tuple] = []
        other_keys: list[tuple] = []
        position: dict[str, int] = {}
        for row, record_keys, record_identifiers in items:
            record_id = row[0]
            index = position.get(record_id)
            if index is None:
                index = position[record_id] = len(rows)
                rows.append(row)
            else:  # rare: the later record wins, in the earlier one's place
                rows[index] = row
                identifiers = [identifier for identifier in identifiers if identifier[0] != index]
                other_keys = [key for key in other_keys if key[0] != index]
            if record_keys is None:  # identifiers distinct and marked already, the keys all among them
                identifiers += [(index, *identifier) for identifier in record_identifiers]
                continue
            if len(record_keys) == 1:  # one key (a GLEIF record: its LEI): no dict of positions
                scheme, value = record_keys[0]
                marked = False
                for scheme_of, scheme_name, value_of, uri in dict.fromkeys(record_identifiers):
                    key = None
                    if not marked and value_of == value and scheme_of == scheme:
                        key, marked = 0, True
                    identifiers.append((index, scheme_of, scheme_name, value_of, uri, key))
                if not marked:
                    other_keys.append((index, 0, scheme, value))
                continue
            keys = {key: number for number, key in enumerate(record_keys)}
            for scheme, scheme_name, value, uri in dict.fromkeys(record_identifiers):
                identifiers.append((index, scheme, scheme_name, value, uri, keys.pop((scheme, value), None)))
            other_keys += [(index, number, scheme, value) for (scheme, value), number in keys.items()]
        identifiers.sort(key=_first)  # in record order, as ``EntityBatch.of_records`` gives them
        other_keys.sort(key=_first)
        codes = {row[_STAGED_JURISDICTION] for row in rows} | {row[_STAGED_ADDRESS_COUNTRY] for row in rows}
        codes.discard(None)
        constants = dict(zip(STAGE_CONSTANT, entity_constants(encoding), strict=True))
        return cls(_stage_image(rows, identifiers, other_keys), len(rows), frozenset(codes), constants)

    def batch(self) -> EntityBatch:
        """The ``EntityBatch`` this was made from (for records that exist already, compared in Python)."""
        db = sqlite3.connect(":memory:")
        try:
            db.deserialize(self.image)
            return self.read(db, "main")
        finally:
            db.close()

    def read(self, db: Any, schema: str) -> EntityBatch:
        """The ``EntityBatch`` from the image loaded as ``schema`` of the connection ``db``."""
        record_ids, updated, rows = [], [], []
        row = [None] * len(ENTITY_ROW)
        for name, value in self.constants.items():
            row[ENTITY_ROW.index(name)] = value
        for record_id, stamp, *varying in db.execute(f"SELECT * FROM {schema}.entity ORDER BY rowid"):  # noqa: S608
            for index in _BOOLEAN_COLUMNS:  # SQLite gives back 0/1
                varying[index] = bool(varying[index])
            for index, value in zip(_VARYING_INDEXES, varying, strict=True):
                row[index] = value
            record_ids.append(record_id)
            updated.append(stamp)
            rows.append(tuple(row))
        keyed: list[list[tuple[int, Key]]] = [[] for _ in record_ids]
        identifiers = []
        for index, scheme, scheme_name, value, uri, key in db.execute(
            f"SELECT * FROM {schema}.identifier ORDER BY rowid"  # noqa: S608
        ):
            identifiers.append((index, scheme, scheme_name, value, uri))
            if key is not None:
                keyed[index].append((key, (scheme, value)))
        for index, key, scheme, value in db.execute(f"SELECT * FROM {schema}.record_key"):  # noqa: S608
            keyed[index].append((key, (scheme, value)))
        keys = [[key for _, key in sorted(pairs)] for pairs in keyed]
        return EntityBatch(record_ids, keys, updated, rows, identifiers, self.codes)


def ready_entity(record: EntityRecord, encoding: Encoding) -> ReadyEntity:
    row = encode_entity(record, encoding)
    return ReadyEntity(record.record_id, record.keys, record.updated, row, record.identifiers)


def ready_person(record: PersonRecord, encoding: Encoding) -> ReadyPerson:
    return ReadyPerson(record.record_id, encode_person(record, encoding))


def ready_relationship(record: RelationshipRecord, encoding: Encoding) -> ReadyRelationship:
    head, tail, interests = encode_relationship(record, encoding)
    return ReadyRelationship(
        record.record_id, record.line, record.subject, record.owner, record.updated, head, tail, interests
    )


def _date_of(value: Any) -> datetime.date | None:
    """An adapted date back as a ``date`` (SQLite's adapter gives ISO text, PostgreSQL's the date itself)."""
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value)


def row_source(row: tuple) -> dict[str, Any]:
    """The provenance a row carries (``source``, with the import's provenance and the line merged in)."""
    return orjson.loads(row[3])


def entity_values(row: tuple) -> dict[str, Any]:
    """The mapped values an entity row was encoded from, as the ORM reads them back."""
    values = dict(zip(ENTITY_VALUES, row[6:16], strict=True))
    for name in _ENTITY_JSON:
        values[name] = orjson.loads(values[name])
    values["founding_date"] = _date_of(values["founding_date"])
    return values


def person_values(row: tuple) -> dict[str, Any]:
    values = dict(zip(PERSON_VALUES, row[6:14], strict=True))
    for name in _PERSON_JSON:
        values[name] = orjson.loads(values[name])
    return values


def relationship_values(ready: ReadyRelationship) -> dict[str, Any]:
    """The relationship's own values (party ids are the importing process's to add)."""
    reason, description, is_closed = ready.tail[:3]
    return {"unspecified_reason": reason, "unspecified_description": description, "is_closed": is_closed}


def interest_values(ready: ReadyRelationship) -> list[tuple]:
    """The interest rows with their dates as ``date``s, as the ORM reads them back."""
    starts, ends = INTEREST_VALUES.index("start_date"), INTEREST_VALUES.index("end_date")
    out = []
    for row in ready.interests:
        values = list(row)
        values[starts], values[ends] = _date_of(values[starts]), _date_of(values[ends])
        out.append(tuple(values))
    return out


def batch_sizes(size: int) -> Iterator[int]:
    """The sizes of a file's batches, in order: two each of an eighth, a quarter and half of ``size``, then ``size``.

    The importing process has nothing to do until the first batch arrives, and a batch of 5 000
    LEI-CDF records takes a reader about 0.1 s to prepare; small first batches start the writing
    sooner, and the batches after them are full size, so the per-batch costs stay those of ``size``.
    """
    first = max(1, size // 8)
    while first < size:
        yield first
        yield first
        first *= 2
    yield from repeat(size)


@dataclass(slots=True)
class PreparedBatch:
    """One batch of a file: how many records were read, the mapped ones, and what the importer adds."""

    read: int
    ready: list[Ready] | EntityBatch | StagedEntityBatch
    extra: list[Any] = field(default_factory=list)


class PreparedRecords:
    """A ``BatchSource`` (``cases.bods.pipeline``): a reader's records, mapped and encoded, a batch at a time.

    ``prepare`` maps one batch of what ``read()`` yields to a ``PreparedBatch``; it raises
    ``SourceError`` for a bad record, which reaches the importing process as itself.
    """

    def __init__(
        self,
        read: Callable[[], Iterable[Any]],
        prepare: Callable[[list[Any]], PreparedBatch],
        batch_size: int,
        read_share: Callable[[int, int, int], Iterable[Any]] | None = None,
        sizes: Callable[[], Iterator[int]] | None = None,
        small_first: bool = False,
    ):
        self._read = read
        self._prepare = prepare
        self._batch_size = batch_size
        self._read_share = read_share
        # ``small_first``: batches sized by ``batch_sizes`` (a splittable source's shares must read them so
        # too, as a GLEIF CSV's do); otherwise every batch is ``batch_size``, as FtM's are.
        self._sizes = sizes or (lambda: batch_sizes(batch_size) if small_first else repeat(batch_size))
        self._records = 0
        if read_share is not None:
            self.share = self._share  # a splittable source (``cases.bods.pipeline.SplitReaders``)

    def _share(self, index: int, count: int) -> PreparedRecords:
        """The source of batches ``index``, ``index + count``, … only.

        ``read_share(index, count, batch_size)`` yields the records of those batches (sized as
        ``batches`` sizes them), all of them (the last batch of the file may be short), so they group
        into the same batches.
        """
        size = self._batch_size
        return PreparedRecords(
            lambda: self._read_share(index, count, size),
            self._prepare,
            size,
            sizes=lambda: islice(self._sizes(), index, None, count),
        )

    def batches(self) -> Iterator[PreparedBatch]:
        iterator = iter(self._read())
        for size in self._sizes():
            batch = list(islice(iterator, size))
            if not batch:
                return
            self._records += len(batch)
            yield self._prepare(batch)

    def result(self) -> int:
        return self._records
