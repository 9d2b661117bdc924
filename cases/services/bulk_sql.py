"""Raw ``executemany``/``COPY`` inserts and updates for bulk imports and portfolio screening.

``bulk_create`` spends most of its time compiling SQL per row and per field
(about 100 µs a row for a 20-column model); an import of millions of
statements, or a portfolio run storing a decision and an audit event per
entity, cannot afford that. ``TableWriter`` prepares one statement per
column set and sends plain tuples, converting values the way the ORM would
(JSON as text, dates and datetimes through the backend's adapters), or takes
them as they are where the caller prepared them already. It is the one raw
writer: the BODS import, portfolio screening and the audit trail all use it.
``insert_returning_ids`` gives new rows' primary keys without reading them
back (ids drawn from the sequence before a ``COPY`` on PostgreSQL,
``RETURNING`` on SQLite); both work the same under concurrent writers.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection, models

from cases.json_text import json_text
from cases.selectors.screening_input import pg_int_array


class TableWriter:
    """Inserts and updates rows of one model given as ``{attname: python value}`` dicts or tuples.

    Values are converted the way the ORM would, except in the ``adapted`` columns, whose
    values arrive already in the database adapter's form (JSON as text, dates as the
    backend sends them): an importer that prepared them in its reader process saves the
    importing process that work.
    """

    def __init__(self, model: type[models.Model], *, adapted: Iterable[str] = ()):
        self.model = model
        self.table = connection.ops.quote_name(model._meta.db_table)
        self._fields = {field.attname: field for field in model._meta.concrete_fields}
        self._is_postgres = connection.vendor == "postgresql"
        self._adapted = frozenset(adapted)

    def _column(self, attname: str) -> tuple[str, str, Callable[[Any], Any]]:
        field = self._fields[attname]
        column = connection.ops.quote_name(field.column)
        is_json = isinstance(field, models.JSONField)
        placeholder = "%s::jsonb" if is_json and field.db_type(connection) == "jsonb" else "%s"
        if attname in self._adapted:
            return column, placeholder, _identity
        if is_json:
            return column, placeholder, json_text
        if isinstance(field, models.DateTimeField):
            return column, "%s", last_value_cached(connection.ops.adapt_datetimefield_value)
        if isinstance(field, models.DateField):
            return column, "%s", last_value_cached(connection.ops.adapt_datefield_value)
        return column, "%s", _identity

    def insert(self, attnames: list[str], rows: Iterable[dict[str, Any]]) -> None:
        getter = itemgetter(*attnames)
        if len(attnames) == 1:
            self.insert_rows(attnames, [(getter(row),) for row in rows])
        else:
            self.insert_rows(attnames, [getter(row) for row in rows])

    def insert_rows(self, attnames: list[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``, tuples in ``attnames`` order: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
        columns = [self._column(name) for name in attnames]
        params = _tuple_params(columns, rows)
        if not params:
            return
        names = ", ".join(column for column, _, _ in columns)
        with connection.cursor() as cursor:
            if self._is_postgres:
                # COPY streams rows without per-row statements or client-side query rewriting.
                with cursor.cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                    write_row = copy.write_row
                    for row in params:
                        write_row(row)
            else:  # in-process SQLite: executemany is the fastest path
                placeholders = ", ".join(placeholder for _, placeholder, _ in columns)
                cursor.executemany(f"INSERT INTO {self.table} ({names}) VALUES ({placeholders})", params)  # noqa: S608

    def insert_copy_text(self, attnames: list[str], lines: Sequence[bytes]) -> None:
        """PostgreSQL only: insert rows already encoded in ``COPY`` text format (one line each), sent as they are."""
        if not lines:
            return
        names = ", ".join(self._column(name)[0] for name in attnames)
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
            copy.write(b"".join(lines))

    def draw_ids(self, count: int) -> list[int]:
        """``count`` new primary keys for rows the caller then inserts with ``insert_rows``, ids included.

        Knowing the ids before the insert lets an importer write children (identifiers,
        interests) in the same pass and send every row with ``executemany``/``COPY``, no
        ``RETURNING`` to read back. PostgreSQL draws them from the table's sequence. On SQLite
        (``AUTOINCREMENT`` tables) the range is reserved by moving ``sqlite_sequence`` past it;
        that statement is a write, so it takes the database's write lock, which the transaction
        then holds: no other connection can insert into the range before this one commits.
        """
        if count <= 0:
            return []
        pk = self.model._meta.pk
        with connection.cursor() as cursor:
            if self._is_postgres:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [self.table, pk.column, count],
                )
                return sorted(row[0] for row in cursor.fetchall())
            name = self.model._meta.db_table
            pk_column = connection.ops.quote_name(pk.column)
            cursor.execute(f"SELECT coalesce(max({pk_column}), 0) FROM {self.table}")  # noqa: S608
            (highest,) = cursor.fetchone()
            cursor.execute("UPDATE sqlite_sequence SET seq = max(seq, %s) + %s WHERE name = %s", [highest, count, name])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [name, highest + count])
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [name])
            (last,) = cursor.fetchone()
        return list(range(last - count + 1, last + 1))

    def insert_numbered(self, attnames: list[str], rows: Sequence[Sequence[Any]]) -> Sequence[int]:
        """Insert ``rows`` (tuples in ``attnames`` order, no id) and return the ids they got, in row order.

        On SQLite (``AUTOINCREMENT`` tables) the rows go in as they are and SQLite numbers them: each new
        row gets one more than the largest id the table has had (``max(sqlite_sequence, max(id))``), and
        the transaction takes the database's write lock (a no-op write) before reading that largest id,
        so no other connection can insert until it commits: the ids of one ``executemany`` are the next
        ones, consecutive; that is checked against ``sqlite_sequence`` afterwards. The
        result is then a ``range`` (``insert_for`` uses that). PostgreSQL draws the ids from the sequence
        (``draw_ids``) and sends them with the rows.
        """
        if not rows:
            return range(0)
        if self._is_postgres:
            ids = self.draw_ids(len(rows))
            self.insert_rows(
                [self.model._meta.pk.attname, *attnames], [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
            )
            return ids
        columns = [self._column(name) for name in attnames]
        params = _tuple_params(columns, rows)
        names = ", ".join(column for column, _, _ in columns)
        placeholders = ", ".join(placeholder for _, placeholder, _ in columns)
        return self._numbered(
            len(params),
            lambda cursor: cursor.executemany(f"INSERT INTO {self.table} ({names}) VALUES ({placeholders})", params),  # noqa: S608
        )

    def insert_numbered_from(self, attnames: list[str], select: str, count: int, params: Sequence[Any] = ()) -> range:
        """SQLite: ``insert_numbered`` of the ``count`` rows an SQL ``select`` (with ``params``) gives.

        ``select`` yields the values in ``attnames`` order exactly as they would be bound (no column of
        ``attnames`` may need converting), in the order the rows are to be numbered. One
        ``INSERT … SELECT`` instead of a statement per row: no per-row parameters, and
        ``AUTOINCREMENT``'s bookkeeping once.
        """
        names = self._unconverted_names(attnames)
        sql = f"INSERT INTO {self.table} ({names}) {select}"  # noqa: S608 - quoted model metadata
        return self._numbered(count, lambda cursor: cursor.execute(sql, list(params)))

    def insert_from(self, attnames: list[str], select: str) -> None:
        """SQLite: insert the rows of an SQL ``select`` (values in ``attnames`` order, as bound, unconverted)."""
        names = self._unconverted_names(attnames)
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {self.table} ({names}) {select}")  # noqa: S608

    def _unconverted_names(self, attnames: list[str]) -> str:
        columns = [self._column(name) for name in attnames]
        if self._is_postgres or _conversions(columns):
            raise ValueError(f"{self.table}: rows from a SELECT need SQLite and columns that take values as they are")
        return ", ".join(column for column, _, _ in columns)

    def _numbered(self, count: int, insert: Callable[[Any], Any]) -> range:
        """SQLite: run ``insert`` (of ``count`` rows without ids) with the write lock held; the ids they got."""
        name = self.model._meta.db_table
        pk_column = connection.ops.quote_name(self.model._meta.pk.column)
        with connection.cursor() as cursor:
            # A write first, so the transaction holds the write lock before it reads the highest id.
            cursor.execute("UPDATE sqlite_sequence SET seq = seq WHERE name = %s", [name])
            cursor.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "  # noqa: S608
                f"coalesce((SELECT max({pk_column}) FROM {self.table}), 0))",
                [name],
            )
            (highest,) = cursor.fetchone()
            insert(cursor)
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [name])
            (last,) = cursor.fetchone()
        if last != highest + count:  # pragma: no cover - SQLite's AUTOINCREMENT rule
            raise RuntimeError(f"{name}: {count} rows got ids up to {last}, expected {highest + count}")
        return range(highest + 1, last + 1)

    def insert_for(self, attnames: list[str], rows: Sequence[Sequence[Any]], ids: Sequence[int]) -> None:
        """Insert child rows whose first value is an index into ``ids`` (the parents' ids from ``insert_numbered``).

        With ``ids`` a ``range`` on SQLite the index is turned into the id by the statement itself
        (``? + first id``), so no row is rebuilt in Python.
        """
        if not rows:
            return
        if isinstance(ids, range) and ids.step == 1 and not self._is_postgres:
            columns = [self._column(name) for name in attnames]
            params = _tuple_params(columns, rows)
            names = ", ".join(column for column, _, _ in columns)
            placeholders = ", ".join([f"%s + {int(ids.start)}", *(placeholder for _, placeholder, _ in columns[1:])])
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {self.table} ({names}) VALUES ({placeholders})", params)  # noqa: S608
            return
        self.insert_rows(attnames, [(ids[row[0]], *row[1:]) for row in rows])

    def insert_returning_ids(self, attnames: list[str], rows: Sequence[Sequence[Any]], *, key: str) -> list[int]:
        """Insert ``rows`` (tuples in ``attnames`` order) and return their new primary keys, in row order.

        ``key`` is one of ``attnames`` whose values are unique among ``rows``. On PostgreSQL the ids are
        drawn from the table's sequence first and the rows are streamed with ``COPY``, ids included
        (concurrent writers draw other values of the same sequence). On SQLite the rows go in
        multi-row ``INSERT ... RETURNING id, key`` statements; SQLite does not promise the order of
        returned rows, so ids are matched to rows on ``key``.
        """
        columns = [self._column(name) for name in attnames]
        params = _tuple_params(columns, rows)
        if not params:
            return []
        pk = self.model._meta.pk
        pk_column = connection.ops.quote_name(pk.column)
        names = ", ".join(column for column, _, _ in columns)
        with connection.cursor() as cursor:
            if self._is_postgres:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [self.table, pk.column, len(params)],
                )
                ids = sorted(row[0] for row in cursor.fetchall())
                with cursor.cursor.copy(f"COPY {self.table} ({pk_column}, {names}) FROM STDIN") as copy:
                    for row_id, row in zip(ids, params, strict=True):
                        copy.write_row((row_id, *row))
                return ids
            placeholders = "({})".format(", ".join(placeholder for _, placeholder, _ in columns))
            if sqlite3.sqlite_version_info < (3, 35):  # no RETURNING before SQLite 3.35: one row at a time
                ids = []
                for row in params:
                    cursor.execute(f"INSERT INTO {self.table} ({names}) VALUES {placeholders}", row)  # noqa: S608
                    ids.append(cursor.lastrowid)
                return ids
            key_index = attnames.index(key)
            id_by_key: dict[Any, int] = {}
            per_statement = max(1, min(2000, _sqlite_max_params() // len(columns)))
            for start in range(0, len(params), per_statement):
                part = params[start : start + per_statement]
                sql = "INSERT INTO {} ({}) VALUES {} RETURNING {}, {}".format(  # noqa: S608 - quoted model metadata
                    self.table, names, ", ".join([placeholders] * len(part)), pk_column, columns[key_index][0]
                )
                cursor.execute(sql, [value for row in part for value in row])
                id_by_key.update((row_key, row_id) for row_id, row_key in cursor.fetchall())
            if len(id_by_key) != len(params):
                raise ValueError(f"insert_returning_ids: {key} is not unique among the rows")
            return [id_by_key[row[key_index]] for row in params]

    def upsert(
        self, attnames: list[str], rows: Sequence[Sequence[Any]], *, conflict: list[str], update: list[str]
    ) -> None:
        """``INSERT ... ON CONFLICT (conflict) DO UPDATE SET`` each of ``update`` to the new row's value.

        ``rows`` are tuples in ``attnames`` order. PostgreSQL gets one statement whose rows arrive
        as one JSON text parameter (``_pg_rows``); SQLite gets ``executemany``.
        """
        columns = [self._column(name) for name in attnames]
        params = _tuple_params(columns, rows)
        if not params:
            return
        names = ", ".join(column for column, _, _ in columns)
        target = ", ".join(self._column(name)[0] for name in conflict)
        assignments = ", ".join(f"{column} = excluded.{column}" for column in (self._column(n)[0] for n in update))
        with connection.cursor() as cursor:
            if self._is_postgres:
                select, param = self._pg_rows(attnames, params)
                cursor.execute(
                    f"INSERT INTO {self.table} ({names}) {select} "  # noqa: S608
                    f"ON CONFLICT ({target}) DO UPDATE SET {assignments}",
                    [param],
                )
            else:
                placeholders = ", ".join(placeholder for _, placeholder, _ in columns)
                cursor.executemany(
                    f"INSERT INTO {self.table} ({names}) VALUES ({placeholders}) "  # noqa: S608
                    f"ON CONFLICT ({target}) DO UPDATE SET {assignments}",
                    params,
                )

    def _pg_rows(self, attnames: list[str], params: Sequence[Sequence[Any]]) -> tuple[str, str]:
        """``SELECT`` of the rows, cast to the columns' types, from one JSON text parameter: ``[[row], …]``.

        Django binds parameters client side, and psycopg quotes an array parameter item by item in Python
        (an array per column cost more than the upsert itself); orjson encodes all the rows at once. Each
        value travels as JSON text and is cast from it (``->>``): numbers, dates and timestamps (RFC 3339)
        exactly, JSON columns from the JSON text their conversion made.
        """
        casts = ", ".join(
            f"(r->>{index})::{self._fields[name].db_type(connection)}" for index, name in enumerate(attnames)
        )
        param = orjson.dumps(params, default=_exact_json_default).decode()
        return f"SELECT {casts} FROM jsonb_array_elements(%s::jsonb) AS r", param  # noqa: S608 - model metadata

    def update_where_in(self, key: str, keys: Sequence[Any], values: dict[str, Any], chunk: int = 2000) -> None:
        """Set the same ``values`` on every row whose ``key`` column is in ``keys``."""
        if not keys:
            return
        columns = [self._column(name) for name in values]
        assignments = ", ".join(f"{column} = {placeholder}" for column, placeholder, _ in columns)
        converted = [convert(value) for (_, _, convert), value in zip(columns, values.values(), strict=True)]
        key_column = self._column(key)[0]
        with connection.cursor() as cursor:
            if self._is_postgres:  # one array parameter: no per-placeholder query rewriting
                condition, keys_param = _pg_any(key_column, keys)
                cursor.execute(
                    f"UPDATE {self.table} SET {assignments} WHERE {condition}",  # noqa: S608
                    [*converted, keys_param],
                )
                return
            keys = list(keys)
            for start in range(0, len(keys), chunk):
                part = keys[start : start + chunk]
                cursor.execute(
                    f"UPDATE {self.table} SET {assignments} WHERE {key_column} IN ({', '.join(['%s'] * len(part))})",  # noqa: S608
                    [*converted, *part],
                )

    def update(self, rows: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """``rows`` are ``(pk, changed values)``; rows changing the same columns share one statement."""
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for pk, values in rows:
            groups[tuple(sorted(values))].append((pk, values))
        for attnames, group in groups.items():
            columns = [self._column(name) for name in attnames]
            assignments = ", ".join(f"{column} = {placeholder}" for column, placeholder, _ in columns)
            sql = f"UPDATE {self.table} SET {assignments} WHERE id = %s"  # noqa: S608 - quoted model metadata
            params = [
                (*(convert(values[name]) for name, (_, _, convert) in zip(attnames, columns, strict=True)), pk)
                for pk, values in group
            ]
            with connection.cursor() as cursor:
                cursor.executemany(sql, params)


def last_value_cached(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Every row of a batch carries the same timestamp: convert it once."""
    last: list[Any] = [object(), None]

    def cached(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return cached


def _identity(value: Any) -> Any:
    return value


def _tuple_params(columns, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Row tuples already in column order; only columns that need a conversion pay for one."""
    return convert_columns(rows, _conversions(columns))


def _conversions(columns) -> list[tuple[int, Callable[[Any], Any]]]:
    return [(index, convert) for index, (_, _, convert) in enumerate(columns) if convert is not _identity]


def convert_columns(rows: Iterable[Sequence[Any]], conversions: list[tuple[int, Callable[[Any], Any]]]) -> list:
    """``rows`` with ``convert`` applied to the non-null value at each ``(index, convert)``; the rows as they are
    (a list) when nothing needs converting."""
    if not conversions:
        return rows if isinstance(rows, list) else list(rows)
    params = []
    for row in rows:
        values = list(row)
        for index, convert in conversions:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
        params.append(values)
    return params


def _sqlite_max_params() -> int:
    """Bind parameters one SQLite statement may have (32 766 since SQLite 3.32; Django assumes 999)."""
    connection.ensure_connection()
    try:
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        return connection.features.max_query_params


def _pg_any(column: str, values: Sequence[Any]) -> tuple[str, Any]:
    """``column = ANY(…)`` over ``values`` with one parameter that Django's client-side binding passes fast.

    psycopg quotes a list parameter item by item in Python (1–2 µs an item: seconds over a portfolio
    run or an import). Integers go as an array literal, text as one JSON array (three times faster);
    anything else as a plain list.
    """
    if all(type(value) is int for value in values):
        return f"{column} = ANY(%s::bigint[])", pg_int_array(values)
    if all(type(value) is str for value in values):
        return f"{column} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))", orjson.dumps(values).decode()
    return f"{column} = ANY(%s)", list(values)


def _exact_json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # cast to numeric from its exact text
    raise TypeError(f"{value.__class__.__name__} is not JSON serialisable")


def select_pairs(model: type[models.Model], key: str, value: str, keys: Iterable[Any], chunk: int = 2000):
    """``{key: value}`` for rows whose ``key`` column is in ``keys``: a raw ``IN`` query per chunk.

    The ORM's ``__in`` lookup compiles each parameter separately, which costs
    more than the query itself at import batch sizes.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    key_column = connection.ops.quote_name(model._meta.get_field(key).column)
    value_column = connection.ops.quote_name(model._meta.get_field(value).column)
    keys = list(keys)
    found: dict[Any, Any] = {}
    is_postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            if is_postgres:
                condition, param = _pg_any(key_column, part)
                params = [param]
            else:
                condition, params = f"{key_column} IN ({', '.join(['%s'] * len(part))})", part
            cursor.execute(f"SELECT {key_column}, {value_column} FROM {table} WHERE {condition}", params)  # noqa: S608
            found.update(cursor.fetchall())
    return found


def select_pairs_in_tables(
    models_: Sequence[type[models.Model]], key: str, value: str, keys: Iterable[str], chunk: int = 2000
) -> list[dict[Any, Any]]:
    """``select_pairs`` over several tables with the same text ``key`` column: one ``{key: value}`` per model.

    PostgreSQL gets one query per chunk (the tables joined by ``UNION ALL``, the keys sent
    and unpacked once), so an import's existence check of a batch is one round trip, not one
    per table; SQLite, in process, gets ``select_pairs`` per table.
    """
    keys = list(keys)
    if connection.vendor != "postgresql":
        return [select_pairs(model, key, value, keys, chunk=chunk) for model in models_]
    selects = []
    for index, model in enumerate(models_):
        table = connection.ops.quote_name(model._meta.db_table)
        key_column = connection.ops.quote_name(model._meta.get_field(key).column)
        value_column = connection.ops.quote_name(model._meta.get_field(value).column)
        selects.append(
            f"SELECT {index}, t.{key_column}, t.{value_column} FROM {table} t, wanted "  # noqa: S608 - model metadata
            f"WHERE t.{key_column} = ANY(wanted.ids)"
        )
    sql = "WITH wanted AS (SELECT ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)) AS ids) " + " UNION ALL ".join(
        selects
    )
    found: list[dict[Any, Any]] = [{} for _ in models_]
    with connection.cursor() as cursor:
        for start in range(0, len(keys), chunk):
            cursor.execute(sql, [orjson.dumps(keys[start : start + chunk]).decode()])
            for index, row_key, row_value in cursor.fetchall():
                found[index][row_key] = row_value
    return found
