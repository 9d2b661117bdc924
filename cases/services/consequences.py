"""What follows a stored decision whose result changed: one explicit call, no signal.

The screening adapter (``cases.services.screening``) calls ``decision_consequences``
in the transaction that stored the decisions, so the consequences commit or roll
back with them. For each change:

1. audit the decision change (actor = the caller's actor, or the system);
2. end an approved exemption early if the new decision differs materially
   (outcome or figures) from the one it was approved on; the case reopens;
3. for an active customer, recompute the effective decision, and open a case
   (idempotent) when the new outcome is review or block, or the outcome changed at
   all; a case already open on another decision gets a system note instead.

Cases are opened as the system (actor None): the user whose action triggered the
screening (e.g. an Integration account) need not be allowed to work cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from cases.models import CaseStatus, CaseTrigger, Customer, Decision, Entity, Exemption, ExemptionStatus, Outcome
from cases.selectors.screening_input import ids_in

from .audit import AuditEntry, audit_append_many
from .cases import case_open, default_priority, system_note
from .effective import effective_recompute
from .exemptions import exemption_end_if_material_change

SCREENING_TRIGGER_TO_CASE_TRIGGER = {
    "onboarding": CaseTrigger.ONBOARDING,
    "ownership_change": CaseTrigger.OWNERSHIP_CHANGE,
    "import": CaseTrigger.OWNERSHIP_CHANGE,
    "periodic": CaseTrigger.PERIODIC,
    "policy_change": CaseTrigger.POLICY_CHANGE,
    "manual": CaseTrigger.MANUAL,
    "api": CaseTrigger.API,
    "exemption_expiry": CaseTrigger.EXEMPTION_EXPIRY,
}


class DecisionChange:
    """A newly stored decision and the one it replaced (None for an entity's first decision).

    ``decision`` is the saved ``Decision``. A portfolio run hands over thousands of changes of which only
    customers and exempted entities need the instance, so the adapter may pass ``build`` (a function
    returning it, called at most once, on first access) with the ``facts`` the audit event names instead.
    """

    __slots__ = ("_build", "_decision", "facts", "previous_decision_id", "previous_outcome")

    def __init__(
        self,
        decision: Decision | None = None,
        previous_decision_id: int | None = None,
        previous_outcome: str | None = None,
        *,
        build: Callable[[], Decision] | None = None,
        facts: DecisionFacts | None = None,
    ) -> None:
        if (decision is None) == (build is None) or (build is not None and facts is None):
            raise TypeError("DecisionChange needs a decision, or build and facts")
        self._decision, self._build = decision, build
        self.facts = facts if facts is not None else DecisionFacts.of(decision)
        self.previous_decision_id, self.previous_outcome = previous_decision_id, previous_outcome

    @property
    def decision(self) -> Decision:
        if self._decision is None:
            self._decision, self._build = self._build(), None
        return self._decision

    def __repr__(self) -> str:
        return f"DecisionChange(decision {self.facts.decision_id}, previous {self.previous_decision_id})"


class DecisionFacts(NamedTuple):
    """The columns of a new decision that its audit event records (a tuple: a portfolio chunk makes thousands)."""

    decision_id: int
    entity_id: int
    outcome: str
    look_through_low: float
    look_through_high: float
    control_chain_low: float
    control_chain_high: float
    policy_id: int

    @classmethod
    def of(cls, decision: Decision) -> DecisionFacts:
        return cls(
            decision.pk,
            decision.entity_id,
            decision.outcome,
            decision.look_through_low,
            decision.look_through_high,
            decision.control_chain_low,
            decision.control_chain_high,
            decision.policy_id,
        )


def case_trigger_for(trigger: str | None) -> str:
    return SCREENING_TRIGGER_TO_CASE_TRIGGER.get(trigger or "", CaseTrigger.MANUAL)


def needs_case(*, previous_outcome: str | None, outcome: str) -> bool:
    if outcome in (Outcome.REVIEW, Outcome.BLOCK):
        return True
    return previous_outcome is not None and previous_outcome != outcome


def decision_consequences(*, changes: Sequence[DecisionChange], trigger: str | None, actor) -> None:
    """Audit every change, then do the per-entity work only where it is needed.

    A portfolio re-screen hands over thousands of changes at once; most concern
    non-customer entities with no exemption, which need only their audit event, so
    that part is a constant number of queries and only customers and exempted
    entities cost queries each. Must run inside the transaction that stored the decisions.
    """
    if not changes:
        return
    entity_ids = [change.facts.entity_id for change in changes]
    # ids_in: one array parameter on PostgreSQL, not a placeholder per id (a portfolio chunk is thousands).
    # The audit targets need only each entity's label (``str(entity)``): plain rows, no instance per entity.
    labels = {
        pk: f"{name} [{external_id}]"[:500]
        for pk, name, external_id in Entity.objects.filter(pk__in=ids_in(entity_ids)).values_list(
            "pk", "name", "external_id"
        )
    }
    audit_append_many(
        actor=actor,
        entries=[_decision_audit_entry(change, labels[change.facts.entity_id], trigger) for change in changes],
    )
    exempted = set(
        Exemption.objects.filter(entity_id__in=ids_in(entity_ids), status=ExemptionStatus.APPROVED).values_list(
            "entity_id", flat=True
        )
    )
    customers = set(
        Customer.objects.filter(entity_id__in=ids_in(entity_ids), is_active=True).values_list("entity_id", flat=True)
    )
    if not exempted and not customers:
        return
    entities = {
        e.pk: e
        for e in Entity.objects.only("id", "name", "external_id").filter(pk__in=ids_in(sorted(exempted | customers)))
    }
    for change in changes:
        entity_id = change.facts.entity_id
        if entity_id in exempted:
            exemption_end_if_material_change(entity=entities[entity_id], decision=change.decision, actor=actor)
        if entity_id in customers:
            _customer_consequences(change=change, entity=entities[entity_id], trigger=trigger, actor=actor)


#: ``audit._target_parts`` of an Entity (app label and model name); its label is ``str(entity)``, which
#: ``decision_consequences`` builds from the row as ``Entity.__str__`` does (a test compares the two).
_ENTITY_TARGET = f"{Entity._meta.app_label}.{Entity._meta.model_name}"


def _plain_float(value) -> float:
    """What ``audit._jsonable`` makes of a figure (no negative zero); anything but a finite float is refused."""
    if type(value) is not float or value - value != 0:
        raise TypeError(value)
    return value + 0.0


def _decision_audit_entry(change: DecisionChange, label: str, trigger: str | None) -> AuditEntry:
    facts = change.facts
    before = {"decision_id": change.previous_decision_id, "outcome": change.previous_outcome}
    after = {
        "decision_id": facts.decision_id,
        "outcome": facts.outcome,
        "look_through": [facts.look_through_low, facts.look_through_high],
        "control_chain": [facts.control_chain_low, facts.control_chain_high],
        "policy_id": facts.policy_id,
    }
    previous_id, previous_outcome = change.previous_decision_id, change.previous_outcome
    plain = (
        (previous_id is None or type(previous_id) is int)
        and (previous_outcome is None or type(previous_outcome) is str)
        and type(facts.decision_id) is int
        and type(facts.outcome) is str
        and type(facts.policy_id) is int
    )
    if plain:
        try:
            after["look_through"] = [_plain_float(facts.look_through_low), _plain_float(facts.look_through_high)]
            after["control_chain"] = [_plain_float(facts.control_chain_low), _plain_float(facts.control_chain_high)]
        except TypeError:
            plain = False
    return AuditEntry(
        action="decision.changed",
        target=(_ENTITY_TARGET, facts.entity_id, label),
        before=before,
        after=after,
        reason=f"trigger={trigger or 'unknown'}",
        plain=plain,
    )


def _customer_consequences(*, change: DecisionChange, entity: Entity, trigger: str | None, actor) -> None:
    decision = change.decision
    effective_recompute(entity=entity, actor=actor, reason=f"new decision {decision.pk}")
    if not needs_case(previous_outcome=change.previous_outcome, outcome=decision.outcome):
        return
    case = case_open(
        subject=entity,
        trigger=case_trigger_for(trigger),
        actor=None,
        decision=decision,
        priority=default_priority(decision.outcome),
    )
    if case.opened_on_decision_id != decision.pk and case.status != CaseStatus.CLOSED:
        system_note(
            case=case,
            text=(
                f"New screening decision {decision.pk}: {change.previous_outcome or 'none'} → "
                f"{decision.outcome} (trigger {trigger or 'unknown'}) while this case was open."
            ),
        )
