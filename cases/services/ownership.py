"""The one call the ownership services (entities, persons, relationships, screening requests)
make after they changed the graph: ``ownership_changed``, which is ``rescreen_changed`` with the
API's trigger (see ``cases.services.rescreen`` for what is decided inline and what by the worker)."""

from collections.abc import Iterable

from .rescreen import rescreen_changed
from .screening import ScreenSummary


def ownership_changed(*, entity_ids: Iterable[int], person_ids: Iterable[int] = (), actor) -> ScreenSummary | None:
    """Re-screen the given entities and everything downstream of them or of the given persons;
    returns None when the downstream set is left to the background worker."""
    return rescreen_changed(entity_ids=entity_ids, person_ids=person_ids, actor=actor, trigger="api")
