"""Process settings for one big import transaction, shared by every importer (BODS, GLEIF, FtM, lists)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.db import connection

from cases.collector import cyclic_gc_paused

#: SQLite page cache while importing (SQLite's default is 2 MiB).
SQLITE_IMPORT_CACHE_KIB = 65536
#: The in-memory schema staged batches (``cases.sources.prepared.StagedEntityBatch``) are loaded into.
STAGE_SCHEMA = "import_stage"


def _stage_attached(cursor) -> bool:
    cursor.execute("PRAGMA database_list")
    return any(row[1] == STAGE_SCHEMA for row in cursor.fetchall())


def load_stage(image: bytes) -> None:
    """Load a staged batch's database image as the ``STAGE_SCHEMA`` schema of the import's SQLite connection.

    The schema is attached (an empty in-memory database) the first time; attaching works inside
    the import's transaction, and each image replaces the one before. ``stage_detached`` (part of
    ``import_tuned``) detaches it once the transaction is over, which SQLite allows only then.
    """
    with connection.cursor() as cursor:
        if not _stage_attached(cursor):
            cursor.execute(f"ATTACH DATABASE ':memory:' AS {STAGE_SCHEMA}")
    connection.connection.deserialize(image, name=STAGE_SCHEMA)


@contextmanager
def stage_detached() -> Iterator[None]:
    """Detach the staging schema after the import (and its transaction) is over, if it was attached."""
    try:
        yield
    finally:
        if connection.vendor == "sqlite" and connection.connection is not None:
            with connection.cursor() as cursor:
                if _stage_attached(cursor) and connection.connection.in_transaction is False:
                    cursor.execute(f"DETACH DATABASE {STAGE_SCHEMA}")


@contextmanager
def sqlite_page_cache(kib: int) -> Iterator[None]:
    """A larger SQLite page cache for the import's one big transaction, then the connection's own again.

    With the default 2 MiB, index pages of the growing tables are evicted and
    read back for every batch; 64 MiB keeps them (about 15% of the import's time).
    The cache is per connection and bounded, so memory stays bounded too.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


@contextmanager
def import_tuned() -> Iterator[None]:
    """The page cache and the paused collector for the length of one file's import; the staging schema
    detached after it."""
    with ExitStack() as stack:
        stack.enter_context(stage_detached())
        stack.enter_context(sqlite_page_cache(SQLITE_IMPORT_CACHE_KIB))
        stack.enter_context(cyclic_gc_paused())
        yield
