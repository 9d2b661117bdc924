"""Process settings for one big import transaction, shared by every importer (BODS, GLEIF, FtM, lists)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.db import connection

from cases.collector import cyclic_gc_paused

#: SQLite page cache while importing (SQLite's default is 2 MiB).
SQLITE_IMPORT_CACHE_KIB = 65536


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
    """Both of the above for the length of one file's import."""
    with ExitStack() as stack:
        stack.enter_context(sqlite_page_cache(SQLITE_IMPORT_CACHE_KIB))
        stack.enter_context(cyclic_gc_paused())
        yield
