"""Pausing Python's cycle collector around bulk work that builds millions of objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; reference counting still frees everything.

    Bulk work (an import's parsed statements, a portfolio's million row tuples) allocates so many
    objects that the collector runs thousands of times, each time walking every live object of the
    process: a fifth of an import, and at a million entities most of a graph read. That work builds
    no reference cycles, so nothing is left uncollected; the collector is switched back on, if it was
    on, when the block ends (nested blocks leave it to the outermost).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
