"""Receivers of ``cases.signals.decisions_changed`` (connected in ``CasesConfig.ready``).

Runs inside the screening adapter's transaction, so everything here commits or
rolls back with the decisions. For each change:

1. audit the decision change (actor = the signal's actor, or the system);
2. end an approved exemption early if the new decision differs materially
   (outcome or figures) from the one it was approved on; the case reopens;
3. for an active customer, recompute the effective decision, and open a case
   (idempotent) when the new outcome is review or block, or the outcome changed at all.

Cases are opened as the system (actor None): the user whose action triggered the
screening (e.g. an Integration account) need not be allowed to work cases.
"""

from django.dispatch import receiver

from cases.models import CaseStatus, CaseTrigger, Customer, Decision, Entity, Outcome
from cases.signals import decisions_changed

SIGNAL_TRIGGER_TO_CASE_TRIGGER = {
    "onboarding": CaseTrigger.ONBOARDING,
    "ownership_change": CaseTrigger.OWNERSHIP_CHANGE,
    "import": CaseTrigger.OWNERSHIP_CHANGE,
    "periodic": CaseTrigger.PERIODIC,
    "policy_change": CaseTrigger.POLICY_CHANGE,
    "manual": CaseTrigger.MANUAL,
    "api": CaseTrigger.API,
    "exemption_expiry": CaseTrigger.EXEMPTION_EXPIRY,
}


def case_trigger_for(trigger: str | None) -> str:
    return SIGNAL_TRIGGER_TO_CASE_TRIGGER.get(trigger or "", CaseTrigger.MANUAL)


def needs_case(*, previous_outcome: str | None, outcome: str) -> bool:
    if outcome in (Outcome.REVIEW, Outcome.BLOCK):
        return True
    return previous_outcome is not None and previous_outcome != outcome


@receiver(decisions_changed, dispatch_uid="cases.receivers.on_decisions_changed")
def on_decisions_changed(sender, changes=(), trigger=None, actor=None, **kwargs) -> None:
    from cases.services.audit import audit_record
    from cases.services.cases import case_open, default_priority, system_note
    from cases.services.effective import effective_recompute
    from cases.services.exemptions import exemption_end_if_material_change

    for change in changes:
        entity = Entity.objects.get(pk=change.entity_id)
        decision = Decision.objects.get(pk=change.decision_id)
        audit_record(
            actor=actor,
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
        exemption_end_if_material_change(entity=entity, decision=decision, actor=actor)
        if not Customer.objects.filter(entity=entity, is_active=True).exists():
            continue
        effective_recompute(entity=entity, actor=actor, reason=f"new decision {decision.pk}")
        if needs_case(previous_outcome=change.previous_outcome, outcome=decision.outcome):
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
