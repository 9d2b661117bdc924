"""Concurrency on PostgreSQL: many clients acting on the same rows at once keep every compliance decision correct.

Real threads, each with its own database connection (closed at thread end), released together by a barrier.
PostgreSQL only: SQLite serialises writers, so these races cannot happen there.
"""

import datetime
import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from cases.models import (
    AuditEvent,
    Case,
    CaseNote,
    CaseStatus,
    CurrentDecision,
    Decision,
    OverrideStatus,
    Relationship,
)
from cases.roles import INVESTIGATOR, MANAGER
from cases.services.audit_verify import audit_verify
from cases.services.cases import case_add_note, case_assign, case_open, case_start_review
from cases.services.overrides import override_approve, override_propose, override_reject
from cases.services.relationships import relationship_update
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake
from tests.services.conftest import decide, make_user

from .conftest import postgres_only, run_concurrently

pytestmark = [pytest.mark.postgres_only, postgres_only, pytest.mark.django_db(transaction=True)]
AS_OF = datetime.date(2026, 6, 1)


def no_errors(outcomes):
    import traceback

    errors = [exc for _, exc in outcomes if exc is not None]
    assert errors == [], "".join(traceback.format_exception(errors[0]))


def assert_chain_intact():
    checked, problem = audit_verify()
    assert problem is None, problem
    assert checked == AuditEvent.objects.count()


def test_many_clients_noting_and_assigning_lose_no_update(seeded):
    """12 clients add notes and re-assign one case at once: every note and every assignment is recorded,
    the final assignee is the one the last audit event says, and the audit chain verifies."""
    customer = CustomerFactory()
    case = case_open(subject=customer.entity, trigger="manual", actor=None)
    investigators = [make_user(INVESTIGATOR) for _ in range(3)]
    manager = make_user(MANAGER)
    calls = []
    for i in range(8):
        calls.append(lambda i=i: case_add_note(case=case, text=f"note {i}", actor=investigators[i % 3]))
    for i in range(4):
        calls.append(lambda i=i: case_assign(case=case, user=investigators[i % 3], actor=manager))
    outcomes = run_concurrently(*calls)
    no_errors(outcomes)
    assert sorted(CaseNote.objects.filter(case=case, is_system=False).values_list("text", flat=True)) == sorted(
        f"note {i}" for i in range(8)
    )
    events = AuditEvent.objects.filter(target_type="cases.case", target_id=str(case.pk))
    assert events.filter(action="case.note_added").count() == 8
    assigned = events.filter(action="case.assigned").order_by("seq")
    assert assigned.count() == 4
    case.refresh_from_db()
    assert case.assignee.get_username() == assigned.last().after["assignee"]
    # Each assignment saw its predecessor's result (row lock): the "before" of one is the "after" of the previous.
    chain = list(assigned.values_list("before", "after"))
    for (_, previous_after), (before, _) in zip(chain, chain[1:], strict=False):
        assert before["assignee"] == previous_after["assignee"]
    assert_chain_intact()


def _pending_override():
    customer = CustomerFactory()
    investigator = make_user(INVESTIGATOR)
    decide(customer.entity, "block")
    case = Case.objects.get(subject=customer.entity, status=CaseStatus.OPEN)
    case_start_review(case=case, actor=investigator)
    return override_propose(case=case, outcome="allow", reason="Stake sold, see evidence", actor=investigator)


def test_two_managers_approving_one_override_approve_it_once(seeded):
    override = _pending_override()
    managers = [make_user(MANAGER) for _ in range(2)]
    outcomes = run_concurrently(*(lambda m=m: override_approve(override=override, actor=m) for m in managers))
    successes = [result for result, exc in outcomes if exc is None]
    failures = [exc for _, exc in outcomes if exc is not None]
    assert len(successes) == 1 and len(failures) == 1
    assert isinstance(failures[0], ValidationError)
    assert "cannot be approved" in failures[0].messages[0]
    override.refresh_from_db()
    assert override.status == OverrideStatus.APPLIED and override.approved_by_id == successes[0].approved_by_id
    assert AuditEvent.objects.filter(action="override.approved", target_id=str(override.pk)).count() == 1
    assert AuditEvent.objects.filter(action="case.closed_by_override").count() == 1
    assert_chain_intact()


def test_approve_racing_reject_has_one_winner(seeded):
    override = _pending_override()
    approver, rejecter = make_user(MANAGER), make_user(MANAGER)
    outcomes = run_concurrently(
        lambda: override_approve(override=override, actor=approver),
        lambda: override_reject(override=override, actor=rejecter, note="no"),
    )
    errors = [exc for _, exc in outcomes if exc is not None]
    assert len(errors) == 1 and isinstance(errors[0], ValidationError | PermissionDenied)
    override.refresh_from_db()
    case = Case.objects.get(pk=override.case_id)
    if override.status == OverrideStatus.APPLIED:
        assert case.status == CaseStatus.CLOSED and case.outcome == "allow"
    else:
        assert override.status == OverrideStatus.REJECTED and case.status == CaseStatus.IN_REVIEW
    assert_chain_intact()


def test_concurrent_screenings_of_a_flipped_customer_open_one_case(seeded):
    """A customer's owner becomes restricted; 6 screenings of it run at once: one new decision, one case."""
    customer = CustomerFactory()
    subject = customer.entity
    owner = EntityFactory(jurisdiction_id="GB")
    stake(PersonFactory(nationalities=["GB"]), owner, 100)
    relationship = stake(owner, subject, 100)
    screen_entities(entity_ids=[subject.pk], as_of=AS_OF)
    assert CurrentDecision.objects.get(entity=subject).outcome == "allow"
    assert not Case.objects.filter(subject=subject).exists()
    # The flip: the owner is now owned by a Russian company.
    owner_rel = Relationship.objects.get(subject=owner)
    owner_rel.interests.all().delete()
    stake(EntityFactory(jurisdiction_id="RU"), owner, 100)
    del relationship, owner_rel

    outcomes = run_concurrently(*(lambda: screen_entities(entity_ids=[subject.pk], as_of=AS_OF) for _ in range(6)))
    no_errors(outcomes)
    assert CurrentDecision.objects.get(entity=subject).outcome == "block"
    assert list(Decision.objects.filter(entity=subject).order_by("pk").values_list("outcome", flat=True)) == [
        "allow",
        "block",
    ]
    assert Case.objects.filter(subject=subject).count() == 1
    assert AuditEvent.objects.filter(action="decision.changed", target_id=str(subject.pk)).count() == 2
    assert_chain_intact()


def test_concurrent_first_screenings_store_one_decision(seeded):
    """Six screenings of a never-screened entity at once store one decision, not six identical ones."""
    subject = CustomerFactory().entity
    stake(EntityFactory(jurisdiction_id="CN"), subject, 80)
    stake(PersonFactory(nationalities=["GB"]), subject, 20)
    outcomes = run_concurrently(*(lambda: screen_entities(entity_ids=[subject.pk], as_of=AS_OF) for _ in range(6)))
    no_errors(outcomes)
    assert Decision.objects.filter(entity=subject).count() == 1
    assert CurrentDecision.objects.get(entity=subject).outcome == "block"
    assert Case.objects.filter(subject=subject).count() == 1
    assert_chain_intact()


def test_concurrent_stake_edits_leave_one_writers_interests(seeded):
    """Eight API-style edits of one relationship's interests at once: the result is exactly one writer's
    interests (never a union or a mix), the stored decision matches it, and the audit chain verifies."""
    investigator = make_user(None, is_superuser=True)
    subject = CustomerFactory().entity
    relationship = stake(EntityFactory(jurisdiction_id="RU"), subject, 10)
    stake(PersonFactory(nationalities=["GB"]), subject, 40)
    shares = [5, 15, 25, 35, 45, 55, 58, 60]
    outcomes = run_concurrently(
        *(
            lambda s=s: relationship_update(
                actor=investigator,
                relationship=relationship,
                interests=[
                    {"interest_type": "shareholding", "direct_or_indirect": "direct", "share_exact": Decimal(s)}
                ],
            )
            for s in shares
        )
    )
    no_errors(outcomes)
    interests = list(relationship.interests.values_list("share_exact", flat=True))
    assert len(interests) == 1 and int(interests[0]) in shares
    last = AuditEvent.objects.filter(action="relationship.updated").order_by("seq").last()
    # The last audited write is the one that stands.
    assert last.after["interests"] == [str(i) for i in relationship.interests.all()]
    # The stored decision is the decision of the final data: screening again changes nothing.
    summary = screen_entities(entity_ids=[subject.pk])
    assert summary.changed == 0
    expected = "block" if int(interests[0]) > 50 else "review"
    assert CurrentDecision.objects.get(entity=subject).outcome == expected
    assert_chain_intact()


def test_no_decision_from_half_written_data(seeded):
    """A writer switches a group between two ownership structures (several relationships, two levels, one
    transaction each) while 4 screeners run continuously: every stored decision is the decision of
    state A or of state B, never of a mix."""
    subject = EntityFactory(external_id="GROUP-S")
    holding_a, holding_b = EntityFactory(jurisdiction_id="GB"), EntityFactory(jurisdiction_id="GB")
    via_a = stake(holding_a, subject, 100)  # state A: S <- HA <- GB person
    via_b = stake(holding_b, subject, 100)  # state B: S <- HB <- RU company
    stake(PersonFactory(nationalities=["GB"]), holding_a, 100)
    top_b = stake(EntityFactory(jurisdiction_id="RU"), holding_b, 100)

    def set_state(state: str) -> None:
        with transaction.atomic():
            Relationship.objects.filter(pk=via_a.pk).update(is_closed=state != "A")
            time.sleep(0.001)  # a multi-statement writer: readers must never see this in-between state
            Relationship.objects.filter(pk=via_b.pk).update(is_closed=state != "B")
            Relationship.objects.filter(pk=top_b.pk).update(is_closed=state != "B")

    fingerprints = {}
    for state in ("A", "B"):
        set_state(state)
        screen_entities(entity_ids=[subject.pk], as_of=AS_OF)
        fingerprints[state] = CurrentDecision.objects.get(entity=subject).decision.result_fingerprint
    assert CurrentDecision.objects.get(entity=subject).outcome == "block"
    stop = threading.Event()

    def writer():
        flips = 0
        while not stop.is_set():
            set_state("A" if flips % 2 else "B")
            flips += 1
        return flips

    def screener():
        runs = 0
        while not stop.is_set():
            screen_entities(entity_ids=[subject.pk], as_of=AS_OF)
            runs += 1
        return runs

    timer = threading.Timer(4.0, stop.set)
    timer.start()
    outcomes = run_concurrently(writer, screener, screener, screener, screener)
    timer.cancel()
    no_errors(outcomes)
    assert all(runs > 0 for runs, _ in outcomes)
    stored = set(Decision.objects.filter(entity=subject).values_list("result_fingerprint", flat=True))
    outcomes_seen = set(Decision.objects.filter(entity=subject).values_list("outcome", flat=True))
    assert stored <= set(fingerprints.values()), f"decisions from half-written data: outcomes {outcomes_seen}"
    assert_chain_intact()
