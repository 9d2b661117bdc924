"""A whole table read as integer columns by several database connections at once, on one snapshot.

A portfolio run reads every relationship and interest once. Row by row through the driver, most of that
time is the driver building a Python object per value; here the database packs each range of ids into one
value per column (PostgreSQL: ``string_agg`` of the big-endian ``int8send`` bytes; SQLite: one
``group_concat`` of ``printf`` text) that numpy reads without a Python object per value. The ranges are
independent queries, so on PostgreSQL a pool of connections (``PORTFOLIO_READ_CONNECTIONS``) runs them
side by side while the server's processes do the work on the other cores.

Every connection sees the same data:

* PostgreSQL: the pool's connections import the snapshot of Django's connection
  (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``), which must be a read-only transaction (outside
  one, ``read_snapshot`` opens it). A transaction that may have written reads alone: its own changes are
  not in the exported snapshot.
* SQLite reads on Django's connection alone: two connections were measured slower than one (the
  library serialises much of their work), and it has no snapshot to share. Each range is one statement,
  as each read of the sequential loader was.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction

#: Ids per range query: one packed value of a few MB per column.
RANGE_IDS = 131_072


@dataclass
class Read:
    """A read split into independent queries: ``tasks`` each take a raw driver connection, ``combine`` makes
    the result of their results (in ``tasks`` order)."""

    tasks: list[Callable[[Any], Any]]
    combine: Callable[[list], Any]


class ReadPool:
    """Runs ``Read`` tasks on Django's connection, or side by side on a pool of connections."""

    def __init__(self, size: int, snapshot: str | None) -> None:
        self.size, self._snapshot = size, snapshot
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    @property
    def vendor(self) -> str:
        return connection.vendor

    def run(self, *reads: Read) -> list:
        """The results of ``reads``, in order; their tasks all queued at once, in order (put single long
        queries first, so the ranges fill in around them)."""
        tasks = [task for read in reads for task in read.tasks]
        if self.size <= 1 or len(tasks) <= 1:
            connection.ensure_connection()
            results = [task(connection.connection) for task in tasks]
        else:
            with ThreadPoolExecutor(max_workers=self.size) as executor:
                results = list(executor.map(lambda task: task(self._connection()), tasks))
        combined, at = [], 0
        for read in reads:
            combined.append(read.combine(results[at : at + len(read.tasks)]))
            at += len(read.tasks)
        return combined

    def _connection(self):
        """This thread's pooled PostgreSQL connection, in a read-only transaction on the shared snapshot."""
        raw = getattr(self._local, "connection", None)
        if raw is None:
            import psycopg

            raw = connection.get_new_connection(connection.get_connection_params())
            with self._lock:
                self._opened.append(raw)
            raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            raw.read_only = True
            with psycopg.Cursor(raw) as cursor:
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")
            self._local.connection = raw
        return raw

    def close(self) -> None:
        for raw in self._opened:
            raw.close()
        self._opened.clear()


def _size() -> int:
    return max(1, int(getattr(settings, "PORTFOLIO_READ_CONNECTIONS", 2)))


@contextmanager
def read_snapshot() -> Iterator[ReadPool]:
    """A ``ReadPool`` whose connections all read what Django's connection reads now (see the module)."""
    size = _size()
    if connection.vendor == "postgresql":
        opened = not connection.in_atomic_block
        with transaction.atomic() if opened else nullcontext():
            with connection.cursor() as cursor:
                if opened:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(
                    "SELECT current_setting('transaction_read_only'), current_setting('transaction_isolation')"
                )
                read_only, isolation = cursor.fetchone()
                snapshot = None
                if size > 1 and read_only == "on" and isolation in ("repeatable read", "serializable"):
                    cursor.execute("SELECT pg_export_snapshot()")
                    (snapshot,) = cursor.fetchone()
            pool = ReadPool(size if snapshot else 1, snapshot)
            try:
                yield pool
            finally:
                pool.close()
        return
    # SQLite: one connection. Several were measured slower (a million entities: 4.6–5.1 s on two against
    # 4.2–4.4 s on one, 2 cores): the library serialises much of their work, and each starts a cold cache.
    yield ReadPool(1, None)


def id_ranges(table: str, where: str = "", key: str = "id") -> list[tuple[int, int]]:
    """``RANGE_IDS``-wide ranges of ``key`` covering every row of ``table`` (matching ``where``)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN({key}), MAX({key}) FROM {table}{' WHERE ' + where if where else ''}")  # noqa: S608
        low, high = cursor.fetchone()
    if low is None:
        return []
    return [(start, min(start + RANGE_IDS - 1, high)) for start in range(low, high + 1, RANGE_IDS)]


def int_columns_read(
    vendor: str,
    table: str,
    columns: list[str],
    where: str = "",
    *,
    key: str = "id",
    bounds: tuple[int, int] | None = None,
    ranges_of: str | None = None,
    floats: int = 0,
) -> Read:
    """Every row of ``table`` (matching ``where``) as an ``(n, len(columns))`` array, in no particular order.

    ``columns`` are non-null integer expressions (callers ``COALESCE``) of at most 63 bits, int64; on
    PostgreSQL the last ``floats`` of them may be ``float8`` instead, and the array is then float64 (integers
    below 2⁵³ stay exact: ids, epoch microseconds). SQLite has no exact text form of a double to pack, so
    there ``floats`` must be 0. The rows are read in ranges of the indexed integer column ``key``
    (``id_ranges`` over ``ranges_of``, by default ``table``), or only those with ``key`` in ``bounds``.
    """
    width = len(columns)
    condition = f" AND ({where})" if where else ""
    dtype = np.float64 if floats else np.int64
    if vendor == "postgresql":
        sends = [
            f"int8send(CAST({column} AS BIGINT))"
            if at < width - floats
            else f"float8send(CAST({column} AS DOUBLE PRECISION))"
            for at, column in enumerate(columns)
        ]
        packed = ", ".join(f"string_agg({send}, ''::bytea)" for send in sends)
        kinds = [">i8"] * (width - floats) + [">f8"] * floats
        sql = f"SELECT {packed} FROM {table} WHERE {key} BETWEEN %s AND %s{condition}"  # noqa: S608

        def read(raw, bounds):
            import psycopg

            with psycopg.Cursor(raw) as cursor:  # Django's client-side cursors cannot ask for binary results
                cursor.execute(sql, bounds, binary=True)
                values = cursor.fetchone()
            if values[0] is None:
                return np.zeros((0, width), dtype=dtype)
            return np.stack(
                [np.frombuffer(value, dtype=kind).astype(dtype) for value, kind in zip(values, kinds, strict=True)],
                axis=1,
            )

    else:
        if floats:
            raise ValueError("SQLite reads doubles row by row (numeric_columns), not packed as text")
        text = f"printf('{','.join(['%d'] * width)}', {', '.join(columns)})"
        sql = f"SELECT group_concat({text}) FROM {table} WHERE {key} BETWEEN ? AND ?{condition}"  # noqa: S608

        def read(raw, bounds):
            cursor = raw.execute(sql, bounds)
            (value,) = cursor.fetchone()
            cursor.close()
            if value is None:
                return np.zeros((0, width), dtype=np.int64)
            return np.fromstring(value, dtype=np.int64, sep=",").reshape(-1, width)

    def combine(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0, width), dtype=dtype)

    ranges = [bounds] if bounds is not None else id_ranges(ranges_of or table, "" if ranges_of else where, key)
    return Read(tasks=[partial(read, bounds=bounds) for bounds in ranges], combine=combine)


def read_here(read: Read) -> Any:
    """``read`` on Django's own connection and transaction."""
    return ReadPool(1, None).run(read)[0]


def grouped_ids_read(vendor: str, table: str, key_columns: list[str]) -> Read:
    """``(key, ids)`` for each distinct combination of ``key_columns`` in ``table``, so a million rows that
    share a few thousand fact combinations are classified a few thousand times. Keys come as Django's
    connection gives them (JSON as text).

    PostgreSQL groups the rows with a hash and packs each group's ids into one value. SQLite groups by
    sorting every row, which costs more than the whole rest of an entity read; there the distinct keys go
    into a temporary table with an index, and each row's id crosses with the number of its key.
    """
    keys = ", ".join(key_columns)
    if vendor == "postgresql":
        sql = f"SELECT {keys}, string_agg(int8send(id), ''::bytea) FROM {table} GROUP BY {keys}"  # noqa: S608

        def read(raw):
            with raw.cursor() as cursor:
                cursor.execute(sql)
                return [(tuple(row[:-1]), np.frombuffer(row[-1], dtype=">i8").astype(np.int64)) for row in cursor]

        return Read(tasks=[read], combine=lambda results: results[0])

    def read_sqlite(raw):
        name = f"temp.portfolio_keys_{next(_temporary_names)}"
        columns = [f"k{at}" for at in range(len(key_columns))]
        renamed = ", ".join(f"{theirs} AS {mine}" for mine, theirs in zip(columns, key_columns, strict=True))
        same_key = " AND ".join(
            f"k.{mine} IS {table}.{theirs}" for mine, theirs in zip(columns, key_columns, strict=True)
        )
        key_of_row = f"(SELECT k.rowid FROM {name} k WHERE {same_key})"  # noqa: S608
        raw.execute(f"CREATE TABLE {name} AS SELECT DISTINCT {renamed} FROM {table}")  # noqa: S608
        try:
            raw.execute(f"CREATE INDEX {name}_key ON {name.split('.')[1]} ({', '.join(columns)})")
            found = raw.execute(f"SELECT rowid, {', '.join(columns)} FROM {name}").fetchall()  # noqa: S608
            sql = f"SELECT group_concat(printf('%d,%d', id, {key_of_row})) FROM {table}"  # noqa: S608
            (packed,) = raw.execute(sql).fetchone()
        finally:
            raw.execute(f"DROP TABLE {name}")
        if packed is None:
            return []
        pairs = np.fromstring(packed, dtype=np.int64, sep=",").reshape(-1, 2)
        order = np.argsort(pairs[:, 1], kind="stable")
        ids, key_rowids = pairs[order, 0], pairs[order, 1]
        starts = np.searchsorted(key_rowids, [rowid for rowid, *_ in found])
        ends = np.searchsorted(key_rowids, [rowid for rowid, *_ in found], side="right")
        return [(tuple(key), ids[start:end]) for (_, *key), start, end in zip(found, starts, ends, strict=True)]

    return Read(tasks=[read_sqlite], combine=lambda results: results[0])


#: Names of the temporary key tables, unique within the process (a pool's threads share it).
_temporary_names = itertools.count()
