"""The one place API writes ask for re-screening after the ownership graph changed.

Today it screens synchronously, inside the caller's transaction, so the write and
the new decisions commit together. Making re-screening incremental or background
is a change to this function only: every API write (entities, persons,
relationships, screening requests) calls it and nothing else.
"""

from collections.abc import Iterable

from .screening import ScreenSummary


def ownership_changed(*, entity_ids: Iterable[int], person_ids: Iterable[int] = (), actor) -> ScreenSummary | None:
    """Re-screen the given entities and everything downstream of them or of the given persons.

    Incremental re-screening (cases.services.rescreen): the change is recorded durably in the
    caller's transaction; a small downstream set is re-decided inline (same transaction), a
    large one by the background worker right after commit. Returns None when deferred.
    """
    from .rescreen import rescreen_changed

    return rescreen_changed(entity_ids=entity_ids, person_ids=person_ids, actor=actor, trigger="api")
