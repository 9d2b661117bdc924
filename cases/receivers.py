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

from cases.models import CaseStatus, CaseTrigger, Customer, Decision, Entity, Exemption, ExemptionStatus, Outcome
from cases.selectors.screening_input import ids_in
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
    """Handle a batch of changes with a constant number of queries plus per-customer work.

    A portfolio re-screen sends thousands of changes at once; most concern
    non-customer entities with no exemption, which need only their audit event.
    """
    from cases.services.audit import audit_record_many

    if not changes:
        return
    entity_ids = [change.entity_id for change in changes]
    # ids_in: one array parameter on PostgreSQL, not a placeholder per id (a portfolio chunk is thousands).
    entities = {e.pk: e for e in Entity.objects.only("id", "name", "external_id").filter(pk__in=ids_in(entity_ids))}
    # The screening adapter passes the decisions it just created; other senders may not.
    decisions = kwargs.get("decisions") or Decision.objects.in_bulk([change.decision_id for change in changes])
    audit_record_many(
        actor=actor,
        entries=[
            _decision_audit_entry(change, entities[change.entity_id], decisions[change.decision_id], trigger)
            for change in changes
        ],
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
        if change.entity_id in exempted or change.entity_id in customers:
            _handle_customer_or_exempted(
                change=change,
                entity=entities[change.entity_id],
                decision=decisions[change.decision_id],
                is_customer=change.entity_id in customers,
                trigger=trigger,
                actor=actor,
            )


def _decision_audit_entry(change, entity, decision, trigger):
    from cases.services.audit import AuditEntry

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


def _handle_customer_or_exempted(*, change, entity, decision, is_customer, trigger, actor) -> None:
    from cases.services.cases import case_open, default_priority, system_note
    from cases.services.effective import effective_recompute
    from cases.services.exemptions import exemption_end_if_material_change

    exemption_end_if_material_change(entity=entity, decision=decision, actor=actor)
    if not is_customer:
        return
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
