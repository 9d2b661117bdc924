"""Role × action permission matrix: every service checks the actor's permission itself."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from cases.models import Case, CaseStatus
from cases.roles import AUDITOR, INTEGRATION, INVESTIGATOR, MANAGER, ROLE_PERMISSIONS, roles_sync
from cases.services.cases import (
    case_add_link,
    case_add_note,
    case_assign,
    case_assign_to_me,
    case_open,
    case_start_review,
)
from cases.services.exemptions import exemption_approve, exemption_request
from cases.services.overrides import override_approve, override_propose

from .conftest import decide, make_user

pytestmark = pytest.mark.django_db

ROLES = [INVESTIGATOR, MANAGER, AUDITOR, INTEGRATION, None]


@pytest.fixture
def setup(entity):
    decide(entity, "block")
    proposer = make_user(INVESTIGATOR)
    case = Case.objects.get(subject=entity)
    case_start_review(case=case, actor=proposer)
    override = override_propose(case=case, outcome="allow", reason="r", actor=proposer)
    exemption = exemption_request(
        entity=entity, reason="r", expires_on=timezone.localdate() + datetime.timedelta(days=9), actor=proposer
    )
    other_case = case_open(subject=decide_other(), trigger="manual", actor=None)
    return {"case": case, "override": override, "exemption": exemption, "other": other_case, "proposer": proposer}


def decide_other():
    from tests.factories import CustomerFactory

    return CustomerFactory().entity


ACTIONS = {
    "open_case": lambda s, u: case_open(subject=decide_other(), trigger="manual", actor=u),
    "take_case": lambda s, u: case_assign_to_me(case=s["other"], actor=u),
    "assign_case": lambda s, u: case_assign(case=s["other"], user=s["proposer"], actor=u),
    "add_note": lambda s, u: case_add_note(case=s["other"], text="n", actor=u),
    "add_link": lambda s, u: case_add_link(case=s["other"], url="https://example.org", actor=u),
    "request_exemption": lambda s, u: exemption_request(
        entity=s["other"].subject, reason="r", expires_on=timezone.localdate() + datetime.timedelta(days=3), actor=u
    ),
    "approve_override": lambda s, u: override_approve(override=s["override"], actor=u),
    "approve_exemption": lambda s, u: exemption_approve(exemption=s["exemption"], actor=u),
}

ALLOWED = {
    INVESTIGATOR: {"open_case", "take_case", "add_note", "add_link", "request_exemption"},
    MANAGER: set(ACTIONS),
    AUDITOR: set(),
    INTEGRATION: set(),
    None: set(),
}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-role")
@pytest.mark.parametrize("action", list(ACTIONS))
def test_permission_matrix(setup, role, action):
    user = make_user(role)
    if role is None:
        user.is_staff = False
    if action in ALLOWED[role]:
        ACTIONS[action](setup, user)
    else:
        with pytest.raises(PermissionDenied):
            ACTIONS[action](setup, user)


def test_anonymous_and_inactive_users_are_refused(setup):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        case_add_note(case=setup["other"], text="n", actor=AnonymousUser())
    manager = make_user(MANAGER)
    manager.is_active = False
    manager.save()
    with pytest.raises(PermissionDenied):
        case_add_note(case=setup["other"], text="n", actor=manager)


def test_manager_approval_closes_case(setup):
    override_approve(override=setup["override"], actor=make_user(MANAGER))
    assert Case.objects.get(pk=setup["case"].pk).status == CaseStatus.CLOSED


def test_roles_sync_is_idempotent_and_exact():
    roles_sync()
    before = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    roles_sync()
    after = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert before == after
    assert {INVESTIGATOR, MANAGER, AUDITOR, INTEGRATION} <= set(after)
    for name in ROLE_PERMISSIONS[MANAGER]:
        assert name.split(".", 1)[1] in after[MANAGER]
    assert not any(c.startswith(("approve_", "add_", "change_", "delete_", "work_")) for c in after[AUDITOR])
    assert {"view_auditevent", "view_case", "view_decision", "view_historicalcase"} <= after[AUDITOR]
    assert not any(c.startswith("approve_") for c in after[INTEGRATION] | after[INVESTIGATOR])
    assert "view_auditevent" not in after[INVESTIGATOR]


def test_integration_users_are_not_staff(integration):
    assert not integration.is_staff
