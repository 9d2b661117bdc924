"""Case workflow through the API: same services as the admin, role and four-eyes rules, integrations never approve."""

import datetime

import pytest
from django.utils import timezone

from cases.models import Case, CaseStatus, EffectiveDecision, Exemption
from tests.factories import CustomerFactory

from .conftest import decide, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def blocked_case(db):
    customer = CustomerFactory(entity__external_id="cust-1")
    decide(customer.entity, "block")
    return Case.objects.get(subject=customer.entity)


def test_read_cases(api, blocked_case):
    listed = api.get("/api/v1/cases/").json()["results"]
    assert [c["reference"] for c in listed] == [blocked_case.reference]
    detail = api.get(f"/api/v1/cases/{blocked_case.reference}/").json()
    assert detail["subject"] == "cust-1" and detail["status"] == "open" and detail["notes"] == []
    assert api.get("/api/v1/cases/", {"status": "closed"}).json()["results"] == []


def test_investigator_confirms(investigator_user, blocked_case):
    client = token_client(investigator_user)
    ref = blocked_case.reference
    assert (
        client.post(f"/api/v1/cases/{ref}/assign/", {}, format="json").json()["assignee"] == investigator_user.username
    )
    assert client.post(f"/api/v1/cases/{ref}/start-review/", format="json").json()["status"] == "in_review"
    notes = client.post(f"/api/v1/cases/{ref}/notes/", {"text": "Checked."}, format="json").json()["notes"]
    assert notes[-1]["text"] == "Checked."
    closed = client.post(f"/api/v1/cases/{ref}/confirm/", {"reason": "ok"}, format="json").json()
    assert closed["status"] == "closed" and closed["outcome"] == "block"
    again = client.post(f"/api/v1/cases/{ref}/confirm/", {}, format="json")
    assert again.status_code == 422 and again.json()["type"] == "validation_error"


def test_integration_cannot_work_or_approve(api, blocked_case, investigator_user, manager_user):
    ref = blocked_case.reference
    assert api.post(f"/api/v1/cases/{ref}/assign/", {}, format="json").status_code == 403
    investigator = token_client(investigator_user)
    investigator.post(f"/api/v1/cases/{ref}/start-review/", format="json")
    proposed = investigator.post(
        f"/api/v1/cases/{ref}/overrides/", {"outcome": "allow", "reason": "Stake sold."}, format="json"
    )
    assert proposed.status_code == 201 and proposed.json()["status"] == "proposed"
    override_id = proposed.json()["id"]
    assert api.post(f"/api/v1/overrides/{override_id}/approve/", {}, format="json").status_code == 403
    # The proposer cannot approve their own (four-eyes, enforced by the service).
    own = investigator.post(f"/api/v1/overrides/{override_id}/approve/", {}, format="json")
    assert own.status_code == 403
    manager = token_client(manager_user)
    approved = manager.post(f"/api/v1/overrides/{override_id}/approve/", {"note": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "applied"
    effective = EffectiveDecision.objects.get(entity=blocked_case.subject)
    assert (effective.outcome, effective.source) == ("allow", "override")
    decision = api.get("/api/v1/decisions/cust-1/").json()
    assert (decision["outcome"], decision["source"], decision["automatic_outcome"]) == ("allow", "override", "block")


def test_override_reject(investigator_user, manager_user, blocked_case):
    investigator = token_client(investigator_user)
    ref = blocked_case.reference
    investigator.post(f"/api/v1/cases/{ref}/start-review/", format="json")
    override_id = investigator.post(
        f"/api/v1/cases/{ref}/overrides/", {"outcome": "review", "reason": "Unsure."}, format="json"
    ).json()["id"]
    rejected = token_client(manager_user).post(f"/api/v1/overrides/{override_id}/reject/", {}, format="json")
    assert rejected.json()["status"] == "rejected"
    assert Case.objects.get(pk=blocked_case.pk).status == CaseStatus.IN_REVIEW


def test_exemption_request_and_approve(api, investigator_user, manager_user, manager2_user, blocked_case):
    ref = blocked_case.reference
    expires = (timezone.localdate() + datetime.timedelta(days=90)).isoformat()
    assert (
        api.post(f"/api/v1/cases/{ref}/exemptions/", {"reason": "x", "expires_on": expires}, format="json").status_code
        == 403
    )
    token_client(investigator_user).post(f"/api/v1/cases/{ref}/start-review/", format="json")  # the workflow's rule
    requested = token_client(investigator_user).post(
        f"/api/v1/cases/{ref}/exemptions/", {"reason": "Wind-down contract.", "expires_on": expires}, format="json"
    )
    assert requested.status_code == 201
    exemption_id = requested.json()["id"]
    assert api.post(f"/api/v1/exemptions/{exemption_id}/approve/", {}, format="json").status_code == 403
    approved = token_client(manager_user).post(f"/api/v1/exemptions/{exemption_id}/approve/", {}, format="json")
    assert approved.json()["status"] == "approved"
    decision = api.get("/api/v1/decisions/cust-1/").json()
    assert (decision["outcome"], decision["source"]) == ("allow", "exemption")
    assert decision["exemption"]["expires_on"] == expires
    too_long = token_client(investigator_user).post(
        f"/api/v1/cases/{ref}/exemptions/", {"reason": "x", "expires_on": "2999-01-01"}, format="json"
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["attr"] == "expires_on"
    assert api.get("/api/v1/exemptions/").status_code == 403  # integrations do not read exemptions
    assert token_client(manager2_user).get("/api/v1/exemptions/").json()["results"][0]["id"] == exemption_id


def test_exemption_request_follows_the_case_workflow(investigator_user, manager2_user, blocked_case):
    """Issue 13: a request on a case needs the case in review and comes from its assignee, as an override does."""
    ref = blocked_case.reference
    body = {
        "reason": "Wind-down contract.",
        "expires_on": (timezone.localdate() + datetime.timedelta(days=30)).isoformat(),
    }
    investigator = token_client(investigator_user)
    not_in_review = investigator.post(f"/api/v1/cases/{ref}/exemptions/", body, format="json")
    assert (
        not_in_review.status_code == 422 and "only while it is in review" in not_in_review.json()["errors"][0]["detail"]
    )
    investigator.post(f"/api/v1/cases/{ref}/start-review/", format="json")
    someone_else = token_client(manager2_user).post(f"/api/v1/cases/{ref}/exemptions/", body, format="json")
    assert someone_else.status_code == 403 and "assignee" in someone_else.json()["errors"][0]["detail"]
    investigator.post(f"/api/v1/cases/{ref}/confirm/", {}, format="json")
    assert Case.objects.get(pk=blocked_case.pk).status == CaseStatus.CLOSED
    on_closed = investigator.post(f"/api/v1/cases/{ref}/exemptions/", body, format="json")
    assert on_closed.status_code == 422
    assert not Exemption.objects.filter(case=blocked_case).exists()


def test_manager_assigns_to_someone(manager_user, investigator_user, blocked_case):
    client = token_client(manager_user)
    body = client.post(
        f"/api/v1/cases/{blocked_case.reference}/assign/", {"username": investigator_user.username}, format="json"
    ).json()
    assert body["assignee"] == investigator_user.username
    unknown = client.post(f"/api/v1/cases/{blocked_case.reference}/assign/", {"username": "ghost"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["attr"] == "username"
