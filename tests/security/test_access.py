"""Object-level access: every API endpoint and admin action checks the actor's permission; evidence
files are only served, as downloads, to people who may view the case."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from cases.models import Case, Override
from cases.roles import AUDITOR, INTEGRATION, INVESTIGATOR, MANAGER
from cases.services import cases as case_services
from cases.services.tokens import token_create, token_revoke
from tests.admin.conftest import client_for, make_user
from tests.api.conftest import API_LISTS
from tests.factories import CustomerFactory
from tests.services.conftest import decide

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    from cases.api import auth
    from cases.services import tokens

    cache.clear()
    tokens._token_cache._data.clear()
    auth._permission_cache._data.clear()


@pytest.fixture
def case(db) -> Case:
    customer = CustomerFactory(entity__external_id="sec-1")
    decide(customer.entity, "block")
    return Case.objects.get(subject=customer.entity)


def api_for(user, scopes="read,write") -> APIClient:
    _, plaintext = token_create(user=user, name=f"t-{user.username}", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    client.token = plaintext
    return client


# ---------------------------------------------------------------- API


@pytest.mark.parametrize("url", API_LISTS)
def test_token_of_a_user_without_permissions_reads_nothing(case, url):
    nobody = api_for(make_user(None, username="nobody"))
    assert nobody.get(url).status_code == 403


def test_token_without_permission_cannot_read_or_act_on_a_case(case):
    nobody = api_for(make_user(None, username="nobody"))
    ref = case.reference
    assert nobody.get(f"/api/v1/cases/{ref}/").status_code == 403
    for action in ("assign", "start-review", "notes", "confirm", "overrides"):
        assert (
            nobody.post(f"/api/v1/cases/{ref}/{action}/", {"text": "x", "reason": "x"}, format="json").status_code
            == 403
        )
    case.refresh_from_db()
    assert case.status == "open" and case.assignee_id is None and not case.notes.exists()


def test_integration_reads_cases_but_never_works_or_decides_them(case):
    integration = api_for(make_user(INTEGRATION, username="robot"))
    ref = case.reference
    assert integration.get(f"/api/v1/cases/{ref}/").status_code == 200
    valid = {"text": "x", "reason": "x", "outcome": "allow", "expires_on": str(date.today() + timedelta(days=30))}
    for action in ("assign", "start-review", "notes", "confirm", "overrides", "exemptions"):
        response = integration.post(f"/api/v1/cases/{ref}/{action}/", valid, format="json")
        assert response.status_code in (403, 404, 405), (action, response.status_code)
    case.refresh_from_db()
    assert case.status == "open" and not case.notes.exists()


def test_investigator_cannot_approve_an_override(case):
    investigator_user = make_user(INVESTIGATOR, username="ivy")
    investigator2 = api_for(make_user(INVESTIGATOR, username="ian"))
    investigator = api_for(investigator_user)
    ref = case.reference
    investigator.post(f"/api/v1/cases/{ref}/assign/", {}, format="json")
    investigator.post(f"/api/v1/cases/{ref}/start-review/", format="json")
    proposed = investigator.post(
        f"/api/v1/cases/{ref}/overrides/", {"outcome": "allow", "reason": "sold"}, format="json"
    )
    assert proposed.status_code == 201
    override_id = proposed.json()["id"]
    assert investigator2.post(f"/api/v1/overrides/{override_id}/approve/", {}, format="json").status_code == 403
    assert Override.objects.get(pk=override_id).status == "proposed"
    # Nor in the admin.
    client_for(make_user(INVESTIGATOR, username="ines")).post(
        f"/admin/cases/case/{case.pk}/do/approve/", {"override": override_id}
    )
    assert Override.objects.get(pk=override_id).status == "proposed"


def test_read_only_token_cannot_write(case):
    reader = api_for(make_user(MANAGER, username="mona"), scopes="read")
    assert reader.get(f"/api/v1/cases/{case.reference}/").status_code == 200
    assert reader.post(f"/api/v1/cases/{case.reference}/assign/", {}, format="json").status_code == 403


def test_revoked_token_is_refused_at_once_for_writes(case):
    user = make_user(MANAGER, username="mona")
    client = api_for(user)
    from cases.models import ApiToken

    token = ApiToken.objects.get(user=user)
    token_revoke(token=token)
    assert client.post(f"/api/v1/cases/{case.reference}/assign/", {}, format="json").status_code == 401


def test_tokens_are_stored_only_as_peppered_hmac(case):
    from cases.models import ApiToken
    from cases.services.tokens import token_digest

    user = make_user(INTEGRATION, username="robot")
    _, plaintext = token_create(user=user, name="x", scopes="read")
    key, secret = plaintext.split(".")
    row = ApiToken.objects.get(key=key)
    stored = " ".join(str(v) for v in ApiToken.objects.filter(pk=row.pk).values().get().values())
    assert secret not in stored and row.digest == token_digest(secret) and len(row.digest) == 64


# ---------------------------------------------------------------- admin actions


@pytest.mark.parametrize("action", ["take", "start", "note", "evidence", "link", "confirm", "propose", "rescreen"])
def test_auditor_cannot_run_case_actions(case, action):
    auditor = client_for(make_user(AUDITOR, username="audrey"))
    auditor.post(f"/admin/cases/case/{case.pk}/do/{action}/", {"text": "x", "url": "https://e.example", "reason": "x"})
    case.refresh_from_db()
    assert case.status == "open" and case.assignee_id is None
    assert not case.notes.exists() and not case.evidence.exists()


def test_staff_without_permissions_cannot_see_a_case(case):
    staff = client_for(make_user(None, username="nobody"))
    assert staff.get(f"/admin/cases/case/{case.pk}/change/").status_code == 403
    assert staff.post(f"/admin/cases/case/{case.pk}/do/take/").status_code == 403


# ---------------------------------------------------------------- evidence files


@pytest.fixture
def evidence(case):
    investigator = make_user(INVESTIGATOR, username="ivy")
    upload = SimpleUploadedFile("report.txt", b"<html><script>alert(1)</script></html>\n")
    return case_services.case_attach_evidence(case=case, file=upload, actor=investigator)


def test_evidence_is_downloaded_never_rendered(evidence):
    url = f"/admin/cases/case/{evidence.case_id}/evidence/{evidence.pk}/"
    response = client_for(make_user(AUDITOR, username="audrey")).get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;") and "report.txt" in response["Content-Disposition"]
    assert response["Content-Type"] == "text/plain"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content).startswith(b"<html>")


def test_evidence_with_an_unexpected_stored_type_is_served_as_octet_stream(evidence):
    type(evidence).objects.filter(pk=evidence.pk).update(content_type="text/html")
    response = client_for(make_user(MANAGER, username="mona")).get(
        f"/admin/cases/case/{evidence.case_id}/evidence/{evidence.pk}/"
    )
    assert response["Content-Type"] == "application/octet-stream"


def test_evidence_needs_permission_to_view_the_case(evidence):
    url = f"/admin/cases/case/{evidence.case_id}/evidence/{evidence.pk}/"
    assert Client().get(url).status_code == 302  # to the login page
    assert client_for(make_user(None, username="nobody")).get(url).status_code == 403
    # An integration account is not staff: no admin at all.
    assert client_for(make_user(INTEGRATION, username="robot")).get(url).status_code == 302


def test_evidence_of_another_case_is_not_reachable_through_this_one(evidence):
    other = CustomerFactory(entity__external_id="sec-2")
    decide(other.entity, "block")
    other_case = Case.objects.get(subject=other.entity)
    manager = client_for(make_user(MANAGER, username="mona"))
    assert manager.get(f"/admin/cases/case/{other_case.pk}/evidence/{evidence.pk}/").status_code == 404


def test_media_url_is_not_served(evidence, client):
    assert client.get(f"/media/{evidence.file.name}").status_code == 404
    superuser = client_for(make_user(None, username="root", is_superuser=True))
    assert superuser.get(f"/media/{evidence.file.name}").status_code == 404


def test_case_page_links_the_download(evidence):
    page = client_for(make_user(INVESTIGATOR, username="ian")).get(f"/admin/cases/case/{evidence.case_id}/change/")
    assert f"/admin/cases/case/{evidence.case_id}/evidence/{evidence.pk}/" in page.content.decode()
