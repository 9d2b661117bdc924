"""Write neutral source records (GLEIF, FtM) into the ownership graph: keyed upserts, change detection.

Shared by ``gleif_import`` and ``ftm_import``. Every record names its parties by keys
(``("XI-LEI", lei)``, ``("FTM", id)``); the writer resolves them through
``EntityIdentifier`` so the same LEI from GLEIF, OpenSanctions and a BODS register is one
entity. Rows go through ``bulk_sql.TableWriter`` (one statement per batch, no model
instances); a record whose mapped values equal what is stored is not written at all, so
a re-import of the same file changes nothing and re-screens nothing, and a newer file
re-screens exactly the entities it changed (``affected_entity_ids``).

Several sources may describe one entity. A record from the source that created the
entity replaces its values; a record from another source is *merged*: names and
countries are added, never removed, and empty fields are filled. The screening
attributes can therefore only grow more cautious when a source is added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pycountry
from django.db import connection
from django.utils import timezone

from cases.models import Entity, EntityIdentifier, ImportRun, Interest, Jurisdiction, Person, Relationship
from cases.selectors.screening_input import pg_int_array
from cases.services.bulk_sql import TableWriter, select_pairs
from cases.services.import_tuning import STAGE_SCHEMA, load_stage
from cases.services.rescreen import rescreen_request
from cases.services.rescreen_requests import rescreen_request_from_tables
from cases.sources.errors import SourceError
from cases.sources.prepared import (
    ADAPTED,
    CAN_STAGE,
    ENTITY_ROW,
    ENTITY_VALUES,
    IDENTIFIER_ROW,
    INTEREST_ROW,
    INTEREST_VALUES,
    PERSON_ROW,
    PERSON_VALUES,
    RELATIONSHIP_ROW,
    RELATIONSHIP_VALUES,
    STAGE_ENTITY,
    Encoding,
    EntityBatch,
    ReadyEntity,
    ReadyPerson,
    ReadyRelationship,
    StagedEntityBatch,
    entity_values,
    interest_values,
    person_values,
    relationship_values,
    row_source,
)
from cases.sources.records import Key

_CHILD_LOOKUP_CHUNK = 2000
#: Changed ids a file may keep in memory before they go to a temporary table (``ChangedIds``).
SPILL_AFTER = 50_000
_SPILL_BATCH = 5000


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0  # relationships a full file no longer has (``close_missing_relationships``)

    def as_dict(self) -> dict[str, int]:
        counts = {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}
        if self.closed:
            counts["closed"] = self.closed
        return counts


class TempIds:
    """A temporary table of ids on the import's connection: a file's id sets kept out of the process.

    A set of a million ids costs the importing process about 60 MB; the table costs it nothing
    and SQLite or PostgreSQL nothing that outlives the transaction (it is emptied when made,
    dropped by ``drop``, and on PostgreSQL also at commit).
    """

    def __init__(self, name: str):
        self.table = connection.ops.quote_name(name)
        self._is_postgres = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            if self._is_postgres:
                cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.table} (id bigint PRIMARY KEY) ON COMMIT DROP")
            else:
                cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.table} (id integer PRIMARY KEY)")
            cursor.execute(f"DELETE FROM {self.table}")  # noqa: S608 - our own table name

    def add(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with connection.cursor() as cursor:
            if self._is_postgres:
                cursor.execute(
                    f"INSERT INTO {self.table} (id) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING",  # noqa: S608
                    [pg_int_array(ids)],
                )
            else:
                cursor.executemany(f"INSERT OR IGNORE INTO {self.table} (id) VALUES (%s)", [(pk,) for pk in ids])  # noqa: S608

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


class ChangedIds:
    """The ids a file changed, for its re-screen request: a set while small, a temporary table beyond.

    A delta changes a few thousand entities; a first load of a golden copy, millions. Past
    ``limit`` ids the set goes to a ``TempIds`` table and later ids follow a batch at a time, so
    the importing process's memory stays flat whatever the file's size; the re-screen request
    is then made from the table (``rescreen_request_from_tables``).
    """

    def __init__(self, name: str, *, limit: int):
        self._name = name
        self._limit = limit
        self._ids: set[int] | None = set()
        self._pending: list[int] = []
        self._table: TempIds | None = None

    def add(self, pk: int) -> None:
        self._pending.append(pk)
        if len(self._pending) >= _SPILL_BATCH:
            self.flush()

    def update(self, pks: Iterable[int]) -> None:
        self._pending.extend(pks)
        if len(self._pending) >= _SPILL_BATCH:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if self._table is not None:
            self._table.add(pending)
            return
        self._ids.update(pending)
        if len(self._ids) > self._limit:
            self._table = TempIds(self._name)
            self._table.add(sorted(self._ids))
            self._ids = None

    @property
    def table(self) -> str | None:
        """The temporary table holding the ids once they outgrew the set (None before)."""
        self.flush()
        return self._name if self._table is not None else None

    def ids(self) -> set[int] | None:
        """The ids, or None once they are in the table (reading them back would undo the point)."""
        self.flush()
        return self._ids

    def drop(self) -> None:
        if self._table is not None:
            self._table.drop()


@dataclass
class WriteSummary:
    entities: WriteCounts = field(default_factory=WriteCounts)
    persons: WriteCounts = field(default_factory=WriteCounts)
    relationships: WriteCounts = field(default_factory=WriteCounts)
    affected_entity_ids: ChangedIds = field(
        default_factory=lambda: ChangedIds("source_import_changed_entities", limit=SPILL_AFTER)
    )
    affected_person_ids: ChangedIds = field(
        default_factory=lambda: ChangedIds("source_import_changed_persons", limit=SPILL_AFTER)
    )

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "entities": self.entities.as_dict(),
            "persons": self.persons.as_dict(),
            "relationships": self.relationships.as_dict(),
        }


class SourceWriter:
    """Applies batches of prepared records (``cases.sources.prepared``) of one file, inside the caller's transaction.

    New rows get ids drawn up front (``TableWriter.draw_ids``) and go in with their children
    (identifiers, interests) as plain ``executemany``/``COPY`` rows the reader encoded; only a
    record that exists already is decoded, compared and, if it changed, updated.
    """

    def __init__(self, *, run: ImportRun, system: str, file_label: str, file_date: str = ""):
        self.run = run
        self.system = system
        self.provenance = {"system": system, "file": file_label, "fileDate": file_date, "importRun": run.pk}
        self.now = timezone.now()
        self.summary = WriteSummary()
        self._entities = TableWriter(Entity, adapted=ADAPTED["entity"])
        self._persons = TableWriter(Person, adapted=ADAPTED["person"])
        self._relationships = TableWriter(Relationship, adapted=ADAPTED["relationship"])
        self._interests = TableWriter(Interest, adapted=ADAPTED["interest"])
        self._entity_updates = TableWriter(Entity)
        self._person_updates = TableWriter(Person)
        self._relationship_updates = TableWriter(Relationship)
        self._identifiers = TableWriter(EntityIdentifier)
        self._jurisdictions = set(Jurisdiction.objects.values_list("code", flat=True))
        self._deferred: list[ReadyRelationship] = []
        self._seen_relationships: TempIds | None = None

    def track_relationships(self) -> None:
        """Remember every relationship this file names, for ``close_missing_relationships`` (full files)."""
        self._seen_relationships = TempIds("source_import_seen_relationships")

    def encoding(self) -> Encoding:
        """What the reader process needs to encode this writer's rows (fixed before it forks)."""
        return Encoding(
            provenance=self.provenance,
            today=connection.ops.adapt_datefield_value(self.now.date()),
            now=connection.ops.adapt_datetimefield_value(self.now),
            adapt_date=connection.ops.adapt_datefield_value,
            staged=connection.vendor == "sqlite" and CAN_STAGE,
        )

    # ---------------------------------------------------------------- entities

    def write_entities(self, batch: StagedEntityBatch | EntityBatch | list[ReadyEntity]) -> None:
        """Write a batch of entity records: new ones inserted, existing ones compared and updated if changed.

        A batch none of whose records exists yet (a first load) goes in as the reader sent it: the
        rows numbered by the database (``TableWriter.insert_numbered``) and the identifier rows
        pointed at them in the statement (``insert_for``), no per-record work in this process. A
        staged batch (SQLite) is loaded as a schema and copied in by ``INSERT … SELECT``
        (``_write_staged``); if some of its records exist, it is read back and goes the same way.
        """
        if isinstance(batch, StagedEntityBatch):
            batch = self._write_staged(batch)
            if batch is None:
                return
        elif not isinstance(batch, EntityBatch):
            batch = EntityBatch.of(batch)
        if not batch.record_ids:
            return
        self._ensure_jurisdictions(batch.codes)
        found = self.resolve_entities(batch.keys, batch.record_ids)
        if not found:
            pks = self._entities.insert_numbered(ENTITY_ROW, batch.rows)
            self._identifiers.insert_for(IDENTIFIER_ROW, batch.identifiers, pks)
            self.summary.entities.created += len(pks)
            self.summary.affected_entity_ids.update(pks)
            return
        items = batch.items()
        existing = self._existing_entities(found.values())
        inserts: list[ReadyEntity] = []
        identifier_rows = []
        updates: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(items):
            pk = found.get(index)
            if pk is None:
                inserts.append(item)
                continue
            source, incoming = row_source(item.row), entity_values(item.row)
            stored_values, stored_source = existing[pk]
            merged = stored_source.get("system") != self.system
            if merged:
                values, source = _merge(stored_values, incoming), _merge_source(stored_source, self.system, source)
            elif _is_stale(stored_source, item.updated):
                self.summary.entities.unchanged += 1
                continue
            else:
                values = incoming
            if values == stored_values:
                self.summary.entities.unchanged += 1
                if merged and self.system not in stored_source.get("additionalSources", {}):
                    updates.append((pk, {"source": source}))  # first confirmation by this source: provenance only
            else:
                updates.append(
                    (pk, {**values, "source": source, "statement_date": self.now.date(), "updated_at": self.now})
                )
                self.summary.entities.updated += 1
                self.summary.affected_entity_ids.add(pk)
            identifier_rows += [(pk, ident) for ident in item.identifiers]
        if updates:
            self._entity_updates.update(updates)
        self._add_identifiers(identifier_rows)
        if inserts:
            pks = self._entities.insert_numbered(ENTITY_ROW, [item.row for item in inserts])
            self._identifiers.insert_for(
                IDENTIFIER_ROW,
                [(index, *identifier) for index, item in enumerate(inserts) for identifier in item.identifiers],
                pks,
            )
            self.summary.entities.created += len(pks)
            self.summary.affected_entity_ids.update(pks)

    def _write_staged(self, staged: StagedEntityBatch) -> EntityBatch | None:
        """Insert a staged batch none of whose records exists (None: done), else the batch read back."""
        if not staged.count:
            return None
        self._ensure_jurisdictions(staged.codes)
        load_stage(staged.image)
        if self._staged_records_exist():
            return staged.read(connection.connection, STAGE_SCHEMA)
        staged_columns = set(STAGE_ENTITY)
        select = ", ".join(name if name in staged_columns else "%s" for name in ENTITY_ROW)
        constants = [staged.constants[name] for name in ENTITY_ROW if name not in staged_columns]
        pks = self._entities.insert_numbered_from(
            ENTITY_ROW,
            f"SELECT {select} FROM {STAGE_SCHEMA}.entity ORDER BY rowid",  # noqa: S608 - our own names
            staged.count,
            constants,
        )
        self._identifiers.insert_from(
            IDENTIFIER_ROW,
            f"SELECT record + {int(pks.start)}, scheme, scheme_name, value, uri "  # noqa: S608 - our own names
            f"FROM {STAGE_SCHEMA}.identifier ORDER BY rowid",
        )
        self.summary.entities.created += len(pks)
        self.summary.affected_entity_ids.update(pks)
        return None

    def _staged_records_exist(self) -> bool:
        """Whether an entity of the staged batch exists, by a key or by external id (as ``resolve_entities`` finds it).

        ``CROSS JOIN`` keeps SQLite's loop over the batch, probing the tables' indexes.
        """
        entity = connection.ops.quote_name(Entity._meta.db_table)
        identifier = connection.ops.quote_name(EntityIdentifier._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {STAGE_SCHEMA}.entity s CROSS JOIN main.{entity} e "  # noqa: S608
                "ON e.external_id = s.external_id) "
                f"OR EXISTS (SELECT 1 FROM {STAGE_SCHEMA}.identifier k CROSS JOIN main.{identifier} i "
                "ON i.value = k.value AND i.scheme = k.scheme WHERE k.key IS NOT NULL) "
                f"OR EXISTS (SELECT 1 FROM {STAGE_SCHEMA}.record_key k CROSS JOIN main.{identifier} i "
                "ON i.value = k.value AND i.scheme = k.scheme)"
            )
            (found,) = cursor.fetchone()
        return bool(found)

    def resolve_entities(self, keys_per_record: list[list[Key]], external_ids: list[str]) -> dict[int, int]:
        """Index of a record -> the pk of the entity its keys (or, failing that, its external id) name."""
        wanted = {value for keys in keys_per_record for _scheme, value in keys}
        by_key: dict[Key, int] = {}
        for scheme, value, entity_id in _identifier_rows(sorted(wanted)):
            by_key.setdefault((scheme, value), entity_id)
        by_external = select_pairs(Entity, "external_id", "id", [e[:255] for e in external_ids])
        if not by_key and not by_external:
            return {}
        found: dict[int, int] = {}
        for index, keys in enumerate(keys_per_record):
            pk = next((by_key[key] for key in keys if key in by_key), None)
            if pk is None:
                pk = by_external.get(external_ids[index][:255])
            if pk is not None:
                found[index] = pk
        return found

    def _existing_entities(self, pks: Iterable[int]) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
        out = {}
        pks = sorted(set(pks))
        for start in range(0, len(pks), _CHILD_LOOKUP_CHUNK):
            for pk, *values, source in Entity.objects.filter(
                pk__in=pks[start : start + _CHILD_LOOKUP_CHUNK]
            ).values_list("pk", *ENTITY_VALUES, "source"):
                out[pk] = (dict(zip(ENTITY_VALUES, values, strict=True)), source or {})
        return out

    def _add_identifiers(self, rows: list[tuple[int, tuple[str, str, str, str]]]) -> None:
        if not rows:
            return
        pks = sorted({pk for pk, _ in rows})
        have: set[tuple[int, str, str]] = set()
        for start in range(0, len(pks), _CHILD_LOOKUP_CHUNK):
            have.update(
                EntityIdentifier.objects.filter(entity_id__in=pks[start : start + _CHILD_LOOKUP_CHUNK]).values_list(
                    "entity_id", "scheme", "value"
                )
            )
        new = {}
        for pk, (scheme, scheme_name, value, uri) in rows:
            key = (pk, scheme, value)
            if key not in have and key not in new:
                new[key] = (pk, scheme, scheme_name, value, uri)
        self._identifiers.insert_rows(IDENTIFIER_ROW, list(new.values()))

    def _ensure_jurisdictions(self, codes: frozenset[str]) -> None:
        missing = sorted(code for code in codes - self._jurisdictions if code)
        rows = []
        for code in missing:
            found = pycountry.subdivisions.get(code=code) if "-" in code else pycountry.countries.get(alpha_2=code)
            rows.append(Jurisdiction(code=code, name=found.name))
        Jurisdiction.objects.bulk_create(rows, ignore_conflicts=True)
        self._jurisdictions.update(missing)

    # ---------------------------------------------------------------- persons

    def write_persons(self, items: list[ReadyPerson]) -> None:
        items = list({item.record_id: item for item in items}.values())
        if not items:
            return
        ids = [item.record_id[:255] for item in items]
        found = select_pairs(Person, "external_id", "id", ids)
        stored = {}
        pks = sorted(found.values())
        for start in range(0, len(pks), _CHILD_LOOKUP_CHUNK):
            for pk, *values in Person.objects.filter(pk__in=pks[start : start + _CHILD_LOOKUP_CHUNK]).values_list(
                "pk", *PERSON_VALUES
            ):
                stored[pk] = dict(zip(PERSON_VALUES, values, strict=True))
        inserts, updates = [], []
        for item, external_id in zip(items, ids, strict=True):
            pk = found.get(external_id)
            if pk is None:
                inserts.append(item.row)
                continue
            values = person_values(item.row)
            if stored[pk] == values:
                self.summary.persons.unchanged += 1
            else:
                updates.append((pk, {**values, "source": row_source(item.row), "updated_at": self.now}))
                self.summary.persons.updated += 1
                self.summary.affected_person_ids.add(pk)
        if updates:
            self._person_updates.update(updates)
        if inserts:
            new = self._persons.draw_ids(len(inserts))
            self._persons.insert_rows(["id", *PERSON_ROW], [(pk, *row) for pk, row in zip(new, inserts, strict=True)])
            self.summary.persons.created += len(new)
            self.summary.affected_person_ids.update(new)

    # ---------------------------------------------------------------- relationships

    def write_relationships(self, items: list[ReadyRelationship], *, final: bool = False) -> None:
        """Write the records whose parties exist; keep the others for ``finish`` (parties later in the file)."""
        items = list({item.record_id: item for item in items}.values())
        if not items:
            return
        parties = self._resolve_parties(items)
        ready = []
        for item in items:
            subject, owner = parties.get(item.subject), parties.get(item.owner) if item.owner else ("", None)
            if subject is None or subject[0] != "entity" or owner is None:
                if final:
                    raise _missing_party(item, subject, owner)
                self._deferred.append(item)
                continue
            values = relationship_values(item)
            values["subject_id"] = subject[1]
            values["interested_entity_id"] = owner[1] if owner[0] == "entity" else None
            values["interested_person_id"] = owner[1] if owner[0] == "person" else None
            if values["interested_entity_id"] == values["subject_id"]:
                raise SourceError("an entity cannot own itself", line=item.line, record=item.record_id)
            ready.append((item, values))
        if ready:
            self._save_relationships(ready)

    def finish(self) -> None:
        """Write relationships whose parties came later in the file; a party still missing is an error."""
        deferred, self._deferred = self._deferred, []
        for start in range(0, len(deferred), 5000):
            self.write_relationships(deferred[start : start + 5000], final=True)

    def _resolve_parties(self, records: list[ReadyRelationship]) -> dict[Key, tuple[str, int]]:
        keys = list({key for record in records for key in (record.subject, record.owner) if key})
        entity_pks = self.resolve_entities([[key] for key in keys], [value for _scheme, value in keys])
        out: dict[Key, tuple[str, int]] = {keys[index]: ("entity", pk) for index, pk in entity_pks.items()}
        rest = [key for key in keys if key not in out]
        if rest:
            persons = select_pairs(Person, "external_id", "id", [value[:255] for _scheme, value in rest])
            out.update({key: ("person", persons[key[1]]) for key in rest if key[1] in persons})
        return out

    def _save_relationships(self, ready: list[tuple[ReadyRelationship, dict[str, Any]]]) -> None:
        ids = [item.record_id[:255] for item, _ in ready]
        found = select_pairs(Relationship, "external_id", "id", ids)
        stored = self._stored_relationships(found.values()) if found else {}
        inserts, updates, replaced = [], [], []
        for (item, values), external_id in zip(ready, ids, strict=True):
            pk = found.get(external_id)
            if pk is None:
                inserts.append((item, values))
                continue
            old_values, old_interests, old_source = stored[pk]
            if _is_stale(old_source, item.updated):
                self.summary.relationships.unchanged += 1
                continue
            if old_values == values and old_interests == interest_values(item):
                self.summary.relationships.unchanged += 1
                continue
            source = row_source(item.head)
            updates.append(
                (pk, {**values, "source": source, "statement_date": self.now.date(), "updated_at": self.now})
            )
            replaced.append((pk, item.interests))
            self.summary.relationships.updated += 1
            self.summary.affected_entity_ids.update({values["subject_id"], old_values["subject_id"]})
        if self._seen_relationships is not None:
            self._seen_relationships.add(found.values())
        if updates:
            self._relationship_updates.update(updates)
            Interest.objects.filter(relationship_id__in=[pk for pk, _ in updates]).delete()
        if inserts:
            pks = self._relationships.draw_ids(len(inserts))
            rows = []
            for pk, (item, values) in zip(pks, inserts, strict=True):
                parties = (values["subject_id"], values["interested_entity_id"], values["interested_person_id"])
                rows.append((pk, *item.head, *parties, *item.tail))
                replaced.append((pk, item.interests))
            self._relationships.insert_rows(["id", *RELATIONSHIP_ROW], rows)
            if self._seen_relationships is not None:
                self._seen_relationships.add(pks)
            self.summary.relationships.created += len(pks)
            self.summary.affected_entity_ids.update(values["subject_id"] for _, values in inserts)
        self._interests.insert_rows(INTEREST_ROW, [(pk, *row) for pk, rows in replaced for row in rows])

    def close_missing_relationships(self, *, prefix: str, file_date: str) -> None:
        """Close this source's open relationships (external ids starting ``prefix``) that this full file lacks.

        A golden copy is the whole of what GLEIF publishes on its date: a relationship an earlier
        file gave that is not in it any more has ended. One that a file dated after this one
        (a delta applied first) brought or confirmed is left alone. A delta closes nothing it
        does not mention, so this runs for full files only (``track_relationships``).
        """
        if self._seen_relationships is None:
            raise RuntimeError("track_relationships() was not called before the file's relationships")
        table = connection.ops.quote_name(Relationship._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, subject_id, source FROM {table} WHERE NOT is_closed AND external_id LIKE %s "  # noqa: S608
                f"AND id NOT IN (SELECT id FROM {self._seen_relationships.table})",
                [prefix + "%"],
            )
            missing = cursor.fetchall()
        updates, subjects = [], []
        for pk, subject_id, source in missing:
            stored = source if isinstance(source, dict) else orjson.loads(source or "{}")
            if stored.get("system") != self.system or str(stored.get("fileDate") or "") > file_date:
                continue
            closed_by = {**self.provenance, "reason": "absent from a later full golden copy"}
            updates.append(
                (
                    pk,
                    {
                        "is_closed": True,
                        "source": {**stored, "closedBy": closed_by},
                        "statement_date": self.now.date(),
                        "updated_at": self.now,
                    },
                )
            )
            subjects.append(subject_id)
        self._relationship_updates.update(updates)
        self.summary.relationships.closed += len(updates)
        self.summary.affected_entity_ids.update(subjects)
        self._seen_relationships.drop()
        self._seen_relationships = None

    def request_rescreen(
        self, *, entity_ids: Iterable[int] = (), person_ids: Iterable[int] = ()
    ) -> tuple[set[int] | None, set[int] | None]:
        """Record the re-screen of what the file changed (and of ``entity_ids``/``person_ids``).

        Returns the changed entity and person ids, or None for a kind whose ids were spilled to
        a temporary table (then the request row was filled from it, in SQL).
        """
        entities, persons = self.summary.affected_entity_ids, self.summary.affected_person_ids
        entities.update(entity_ids)
        persons.update(person_ids)
        entity_set, person_set = entities.ids(), persons.ids()
        rescreen_request(entity_ids=entity_set or (), person_ids=person_set or (), trigger="import")
        if entities.table or persons.table:
            rescreen_request_from_tables(entity_table=entities.table, person_table=persons.table, trigger="import")
        entities.drop()
        persons.drop()
        return entity_set, person_set

    def _stored_relationships(self, pks: Iterable[int]):
        pks = sorted(set(pks))
        out: dict[int, tuple[dict[str, Any], list[tuple], dict[str, Any]]] = {}
        for start in range(0, len(pks), _CHILD_LOOKUP_CHUNK):
            part = pks[start : start + _CHILD_LOOKUP_CHUNK]
            for pk, *values, source in Relationship.objects.filter(pk__in=part).values_list(
                "pk", *RELATIONSHIP_VALUES, "source"
            ):
                out[pk] = (dict(zip(RELATIONSHIP_VALUES, values, strict=True)), [], source or {})
            for relationship_id, *values in (
                Interest.objects.filter(relationship_id__in=part)
                .order_by("pk")
                .values_list("relationship_id", *INTEREST_VALUES)
            ):
                out[relationship_id][1].append(tuple(values))
        return out


def _identifier_rows(values: list[str]) -> Iterable[tuple[str, str, int]]:
    """``(scheme, value, entity_id)`` of every identifier with one of ``values``: raw SQL per chunk.

    The ORM's ``__in`` compiles each of thousands of parameters separately, which cost more
    than the indexed lookup itself at import batch sizes.
    """
    table = connection.ops.quote_name(EntityIdentifier._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(values), _CHILD_LOOKUP_CHUNK):
            part = values[start : start + _CHILD_LOOKUP_CHUNK]
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"SELECT scheme, value, entity_id FROM {table} WHERE value = ANY(%s)",  # noqa: S608
                    [part],
                )
            else:
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(f"SELECT scheme, value, entity_id FROM {table} WHERE value IN ({marks})", part)  # noqa: S608
            yield from cursor.fetchall()


def _missing_party(record: ReadyRelationship, subject, owner) -> SourceError:
    gleif = record.record_id.startswith("gleif-")
    if subject is None or subject[0] != "entity":
        what, field_name = record.subject, "Relationship.StartNode.NodeID" if gleif else "properties.asset"
    else:
        what, field_name = record.owner, "Relationship.EndNode.NodeID" if gleif else "properties.owner"
    if gleif and record.owner is None:
        field_name = "LEI"
    hint = "import its LEI-CDF record first" if gleif else "it is neither in this file nor in the database"
    return SourceError(
        f"{what[0]} {what[1]} is not a known entity: {hint}",
        line=record.line,
        record=record.record_id,
        field=field_name,
    )


def _is_stale(stored_source: dict[str, Any], updated: str) -> bool:
    """An older record than the stored one (a delta applied out of order) must not overwrite it."""
    stored = str(stored_source.get("lastUpdate") or stored_source.get("lastSeen") or "")
    return bool(updated and stored and updated[:19] < stored[:19])


def _merge(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Another source's view of the same entity: add names and countries, fill what is empty."""
    merged = dict(stored)
    names = [stored["name"], *stored["alternate_names"]]
    merged["alternate_names"] = list(stored["alternate_names"]) + [
        name for name in [incoming["name"], *incoming["alternate_names"]] if name not in names
    ]
    for name in ("jurisdiction_id", "registered_address_country_id", "founding_date"):
        if not stored.get(name):
            merged[name] = incoming.get(name)
    merged["business_address_countries"] = list(
        dict.fromkeys([*stored["business_address_countries"], *incoming["business_address_countries"]])
    )
    return merged


def _merge_source(stored: dict[str, Any], system: str, incoming: dict[str, Any]) -> dict[str, Any]:
    merged = dict(stored)
    merged["additionalSources"] = {**stored.get("additionalSources", {}), system: incoming}
    return merged
