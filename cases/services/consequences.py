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

from collections.abc import Sequence
from dataclasses import dataclass

from cases.models import CaseStatus, CaseTrigger, Customer, Decision, Entity, Exemption, ExemptionStatus, Outcome
from cases.selectors.screening_input import ids_in

from .audit import AuditEntry, audit_record_many
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


@dataclass(frozen=True)
class DecisionChange:
    """A newly stored decision and the one it replaced (None for an entity's first decision)."""

    decision: Decision
    previous_decision_id: int | None
    previous_outcome: str | None


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
    entity_ids = [change.decision.entity_id for change in changes]
    # ids_in: one array parameter on PostgreSQL, not a placeholder per id (a portfolio chunk is thousands).
    entities = {e.pk: e for e in Entity.objects.only("id", "name", "external_id").filter(pk__in=ids_in(entity_ids))}
    audit_record_many(
        actor=actor,
        entries=[_decision_audit_entry(change, entities[change.decision.entity_id], trigger) for change in changes],
    )
    exempted = set(
        Exemption.objects.filter(entity_id__in=ids_in(entity_ids), status=ExemptionStatus.APPROVED).values_list(
            "entity_id", flat=True
        )
    )
    customers = set(
        Customer.objects.filter(entity_id__in=ids_in(entity_ids), is_active=True).values_list("entity_id", flat=True)
    )
    for change in changes:
        entity_id = change.decision.entity_id
        if entity_id in exempted:
            exemption_end_if_material_change(entity=entities[entity_id], decision=change.decision, actor=actor)
        if entity_id in customers:
            _customer_consequences(change=change, entity=entities[entity_id], trigger=trigger, actor=actor)


def _decision_audit_entry(change: DecisionChange, entity: Entity, trigger: str | None) -> AuditEntry:
    decision = change.decision
    return AuditEntry(
        action="decision.changed",
        target=entity,
        before={"decision_id": change.previous_decision_id, "outcome": change.previous_outcome},
        after={
            "decision_id": decision.pk,
            "outcome": decision.outcome,
            "look_through": [decision.look_through_low, decision.look_through_high],
            "control_chain": [decision.control_chain_low, decision.control_chain_high],
            "policy_id": decision.policy_id,
        },
        reason=f"trigger={trigger or 'unknown'}",
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
