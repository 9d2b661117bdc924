"""Recording that ownership data or the policy changed: one durable request row per transaction.

``rescreen_request`` adds seeds (changed entity/person ids, or "everything" for a
policy change) to the transaction's ``RescreenRequest`` row, creating it on the
first call, and registers one on-commit kick that enqueues the worker
(``cases.services.queue``). Callers: the services, explicitly, through
``rescreen.rescreen_changed``; the model receivers (``cases.receivers_ownership``)
as the safety net for shell and plain-ORM writes; the screening adapter, in the
chunk's transaction, for entities it could not store because a concurrent
screening moved them (``ScreenSummary.raced``).

The row is the only state: the kick remembers which row is this transaction's,
and every call reads that row back. After a rolled-back savepoint the row holds
what survived (or is gone, and a new one is made), so nothing here needs to know
about savepoints, and a service write that the receivers also saw adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from cases.models import RescreenRequest

from . import queue


class _Kick:
    """The on-commit callback that enqueues processing, one per transaction, and that transaction's rows
    (``{all_entities: row id}``)."""

    def __init__(self) -> None:
        self.rows: dict[bool, int] = {}

    def __call__(self) -> None:
        if self.rows:
            queue.enqueue(queue.RESCREEN)


def _current_kick() -> _Kick:
    conn = transaction.get_connection()
    for _sids, func, _robust in conn.run_on_commit:
        if isinstance(func, _Kick):
            return func
    kick = _Kick()
    transaction.on_commit(kick, robust=True)
    return kick


def seed_ids(values: Iterable[int | None]) -> list[int]:
    """Sorted distinct ids, without the Nones a receiver passes for a subject that was not moved."""
    return sorted({int(pk) for pk in values if pk is not None})


def _own_row(kick: _Kick, all_entities: bool) -> RescreenRequest | None:
    pk = kick.rows.get(all_entities)
    # A row a worker has claimed is being processed (in this same transaction: tests, scripts): seeds
    # added to it now would be deleted with it unprocessed.
    row = None if pk is None else RescreenRequest.objects.filter(pk=pk, claimed_by="").first()
    if row is None:
        kick.rows.pop(all_entities, None)
    return row


@transaction.atomic(savepoint=False)
def rescreen_request(
    *,
    entity_ids: Iterable[int | None] = (),
    person_ids: Iterable[int | None] = (),
    all_entities: bool = False,
    trigger: str = "ownership_change",
    actor=None,
) -> RescreenRequest | None:
    """Durably record that these entities/persons (or the policy) changed; processed after commit.

    Returns the transaction's row if this call added to it, None if there was nothing new.
    The first caller of a transaction names the trigger and actor of its row.
    """
    entities, persons = seed_ids(entity_ids), seed_ids(person_ids)
    if not all_entities and not entities and not persons:
        return None
    kick = _current_kick()
    row = _own_row(kick, all_entities)
    if row is None:
        row = RescreenRequest.objects.create(
            trigger=trigger,
            all_entities=all_entities,
            entity_ids=entities,
            person_ids=persons,
            actor=actor if getattr(actor, "pk", None) else None,
        )
        kick.rows[all_entities] = row.pk
        return row
    merged_entities, merged_persons = seed_ids([*row.entity_ids, *entities]), seed_ids([*row.person_ids, *persons])
    if all_entities or (merged_entities, merged_persons) == (row.entity_ids, row.person_ids):
        return None
    row.entity_ids, row.person_ids = merged_entities, merged_persons
    row.save(update_fields=["entity_ids", "person_ids"])
    return row


@transaction.atomic(savepoint=False)
def rescreen_request_from_tables(
    *, entity_table: str | None = None, person_table: str | None = None, trigger: str = "import"
) -> int | None:
    """``rescreen_request`` for seeds held in temporary tables (one ``id`` column each), merged in SQL.

    An import of a million records changes up to a million entities; holding their ids in the
    importing process as Python ints cost about 95 bytes each. The importer spills them to a
    temporary table per batch instead, and the database merges the table into the
    transaction's row (sorted, distinct, as ``seed_ids`` gives them) without a Python list.
    Returns the row's id (not the row: reading it back would load the ids after all), or None
    if the tables are empty. Call it after the transaction's other ``rescreen_request`` calls.
    """
    tables = {"entity_ids": entity_table, "person_ids": person_table}
    with connection.cursor() as cursor:
        present = {}
        for column, table in tables.items():
            if table:
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)})")  # noqa: S608
                present[column] = bool(cursor.fetchone()[0])
    if not any(present.values()):
        return None
    kick = _current_kick()
    row = _own_row(kick, False)
    if row is None:
        row = RescreenRequest.objects.create(trigger=trigger, entity_ids=[], person_ids=[])
        kick.rows[False] = row.pk
    request_table = connection.ops.quote_name(RescreenRequest._meta.db_table)
    with connection.cursor() as cursor:
        for column, table in tables.items():
            if not present.get(column):
                continue
            quoted = connection.ops.quote_name(table)
            if connection.vendor == "postgresql":
                merged = (
                    f"(SELECT coalesce(jsonb_agg(s.id ORDER BY s.id), '[]'::jsonb) FROM ("  # noqa: S608
                    f"SELECT (value)::bigint AS id FROM jsonb_array_elements_text({column}) "
                    f"UNION SELECT id FROM {quoted}) s)"
                )
            else:
                merged = (
                    f"(SELECT json_group_array(s.id) FROM (SELECT id FROM ("  # noqa: S608
                    f"SELECT value AS id FROM json_each({column}) UNION SELECT id FROM {quoted}) ORDER BY id) s)"
                )
            cursor.execute(f"UPDATE {request_table} SET {column} = {merged} WHERE id = %s", [row.pk])  # noqa: S608
    return row.pk


def rescreen_request_withdraw(*, entity_ids: Iterable[int], person_ids: Iterable[int] = ()) -> None:
    """Take seeds out of the transaction's row because the caller has just re-decided everything
    downstream of them in this transaction (``rescreen_changed``): the worker must not do it again."""
    conn = transaction.get_connection()
    kick = next((func for _sids, func, _robust in conn.run_on_commit if isinstance(func, _Kick)), None)
    row = None if kick is None else _own_row(kick, False)
    if row is None:
        return
    done_entities, done_persons = set(entity_ids), set(person_ids)
    row.entity_ids = [pk for pk in row.entity_ids if pk not in done_entities]
    row.person_ids = [pk for pk in row.person_ids if pk not in done_persons]
    if row.entity_ids or row.person_ids:
        row.save(update_fields=["entity_ids", "person_ids"])
    else:
        row.delete()
        kick.rows.pop(False, None)
