"""The admin's replay page and evidence report, one click from the case page (issue 13)."""

import pytest

from cases.models import Case, CurrentDecision
from cases.roles import INTEGRATION, INVESTIGATOR
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, stake

from .conftest import client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def decision():
    customer = CustomerFactory(entity__external_id="cust-r", entity__name="Replay Ltd")
    stake(EntityFactory(external_id="ru-top", name="Volga Holdings", jurisdiction_id="RU"), customer.entity, 60)
    screen_entities(entity_ids=[customer.entity.pk])
    return CurrentDecision.objects.get(entity=customer.entity).decision


def test_case_page_links_to_replay_and_report(decision):
    client = client_for(make_user(INVESTIGATOR))
    case = Case.objects.get(subject=decision.entity)
    page = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert f"/admin/cases/decision/{decision.pk}/replay/" in page
    assert f"/admin/cases/decision/{decision.pk}/report.pdf" in page


def test_replay_page_answers_from_one_page(decision, django_assert_max_num_queries):
    client = client_for(make_user(INVESTIGATOR))
    with django_assert_max_num_queries(40):
        response = client.get(f"/admin/cases/decision/{decision.pk}/replay/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "same outcome, figures, reasons and paths" in page
    assert "input fingerprint match): <strong>yes" in page
    assert decision.input.fingerprint in page


def test_report_download_and_permission(decision):
    response = client_for(make_user(INVESTIGATOR)).get(f"/admin/cases/decision/{decision.pk}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    integration = client_for(make_user(INTEGRATION))  # not staff: no admin at all
    assert integration.get(f"/admin/cases/decision/{decision.pk}/replay/").status_code == 302
