"""Signals that decouple screening from case work.

``decisions_changed`` is sent by ``cases.services.screening`` after it has
stored decisions whose results changed, inside the same transaction, so a
receiver's writes (cases, audit events, effective decisions) commit or roll
back with the decisions themselves.

Arguments:
- ``changes``: list of ``DecisionChange`` (entity, previous Decision or None, new Decision)
- ``trigger``: why screening ran: "onboarding", "ownership_change", "periodic", "manual", "api",
  "import", "policy_change"
- ``actor``: the user who caused it, or None for the system
"""

from dataclasses import dataclass

from django.dispatch import Signal

decisions_changed = Signal()


@dataclass(frozen=True)
class DecisionChange:
    entity_id: int
    previous_decision_id: int | None
    decision_id: int
    previous_outcome: str | None
    outcome: str
