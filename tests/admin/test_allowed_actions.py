"""case_allowed_actions: the one answer to "what may this user do to this case now", checked against the
services it mirrors (a listed action succeeds, an unlisted one is refused), and the exemption date limit."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from cases.models import AuditEvent
from cases.services import cases as case_services
from cases.services import exemptions as exemption_services
from cases.services import overrides as override_services
from cases.services.cases import case_allowed_actions
from tests.api.conftest import token_client

from .conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(scenario):
    return scenario["case"]


def test_open_unassigned_case_for_an_investigator(case, investigator):
    allowed = case_allowed_actions(case=case, user=investigator)
    assert {"take", "start", "note", "evidence", "exemption-request", "rescreen"} <= allowed
    assert not {"assign", "confirm", "propose", "approve", "reject", "reopen", "unassign"} & allowed


def test_auditor_may_do_nothing(case, auditor):
    assert case_allowed_actions(case=case, user=auditor) == frozenset()


def test_in_review_only_the_assignee_may_decide(case, investigator, investigator2):
    case = case_services.case_start_review(case=case, actor=investigator)
    assert {"confirm", "propose", "unassign"} <= case_allowed_actions(case=case, user=investigator)
    other = case_allowed_actions(case=case, user=investigator2)
    assert not {"confirm", "propose", "unassign", "take"} & other
    with pytest.raises(PermissionDenied):
        case_services.case_confirm_outcome(case=case, actor=investigator2)


def test_four_eyes_the_proposer_may_not_approve_another_manager_may(case, manager, manager2):
    case_services.case_start_review(case=case, actor=manager)
    override = override_services.override_propose(case=case, outcome="allow", reason="sold", actor=manager)
    case.refresh_from_db()
    assert not {"approve", "reject"} & case_allowed_actions(case=case, user=manager)
    with pytest.raises(PermissionDenied):
        override_services.override_approve(override=override, actor=manager)
    assert {"approve", "reject"} <= case_allowed_actions(case=case, user=manager2)
    override_services.override_approve(override=override, actor=manager2, note="Register extract checked")
    case.refresh_from_db()
    assert "reopen" in case_allowed_actions(case=case, user=manager2)


def test_exemption_decision_needs_a_second_person(case, investigator, manager, manager2):
    case_services.case_start_review(case=case, actor=manager)  # exemptions are requested by the case's reviewer
    exemption = exemption_services.exemption_request(
        entity=case.subject,
        case=case,
        reason="Licence granted",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        actor=manager,
    )
    assert "exemption-approve" not in case_allowed_actions(case=case, user=manager)
    assert "exemption-approve" not in case_allowed_actions(case=case, user=investigator)
    assert {"exemption-approve", "exemption-reject"} <= case_allowed_actions(case=case, user=manager2)
    exemption_services.exemption_approve(exemption=exemption, actor=manager2, note="Licence on file")
    assert "exemption-revoke" in case_allowed_actions(case=case, user=manager)


@pytest.mark.parametrize("kind", ["override", "exemption"])
@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_the_managers_comment_is_in_the_audit_event(case, manager, manager2, kind, verb):
    if kind == "override":
        case_services.case_start_review(case=case, actor=manager)
        obj = override_services.override_propose(case=case, outcome="allow", reason="sold", actor=manager)
        getattr(override_services, f"override_{verb}")(override=obj, actor=manager2, note="Seen the sale contract")
    else:
        case_services.case_start_review(case=case, actor=manager)
        obj = exemption_services.exemption_request(
            entity=case.subject,
            reason="Licence",
            expires_on=timezone.localdate() + datetime.timedelta(days=30),
            actor=manager,
        )
        getattr(exemption_services, f"exemption_{verb}")(exemption=obj, actor=manager2, note="Seen the sale contract")
    event = AuditEvent.objects.get(action=f"{kind}.{verb.rstrip('e')}ed", target_id=str(obj.pk))
    assert event.reason == "Seen the sale contract"
    assert event.after["decision_note"] == "Seen the sale contract"
    assert event.before["decision_note"] is None


# ------------------------------------------------------------------ the exemption date limit on 29 February


@pytest.fixture
def leap_day(monkeypatch):
    day = datetime.date(2028, 2, 29)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)
    return day


def test_latest_expiry_on_29_february_is_28_february_next_year(leap_day):
    assert exemption_services.exemption_latest_expiry() == datetime.date(2029, 2, 28)
    assert exemption_services.exemption_latest_expiry(today=datetime.date(2028, 3, 1)) == datetime.date(2029, 3, 1)


def test_admin_date_picker_on_29_february_offers_the_services_limit(case, investigator, leap_day):
    html = client_for(investigator).get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert 'max="2029-02-28"' in html


def test_request_on_29_february_accepts_the_limit_and_refuses_a_day_more(case, investigator, leap_day):
    with pytest.raises(ValidationError, match="at most one year"):
        exemption_services.exemption_request(
            entity=case.subject, reason="Licence", expires_on=datetime.date(2029, 3, 1), actor=investigator
        )
    exemption = exemption_services.exemption_request(
        entity=case.subject, reason="Licence", expires_on=datetime.date(2029, 2, 28), actor=investigator
    )
    assert exemption.expires_on == datetime.date(2029, 2, 28)


# ------------------------------------------------------------------ the API reads the same answer


def test_api_case_detail_lists_the_allowed_actions(case, investigator):
    response = token_client(investigator).get(f"/api/v1/cases/{case.reference}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["allowed_actions"] == sorted(case_allowed_actions(case=case, user=investigator))
    assert "start" in body["allowed_actions"]


def test_case_page_post_with_bad_fields_names_the_field_and_changes_nothing(case, investigator):
    from django.contrib.messages import get_messages

    client = client_for(investigator)
    url = reverse("admin:cases_case_do", args=[case.pk, "exemption-request"])
    response = client.post(url, {"reason": "Licence", "expires_on": "next year"})
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(t.startswith("expires_on:") for t in texts), texts
    response = client.post(reverse("admin:cases_case_do", args=[case.pk, "approve"]), {"override": "999"})
    assert "override: No such override on this case." in [str(m) for m in get_messages(response.wsgi_request)]
    assert not case.subject.exemptions.exists()
