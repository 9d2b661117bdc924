"""Restricted lists, members and name matches in the admin: read-only, provenance shown, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import NameMatch, RestrictedList, RestrictedListMember
from cases.services.ftm_import import ftm_import_file
from cases.services.name_screening import name_screen_entity
from tests.factories import EntityFactory
from tests.sources.conftest import FTM

from .conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(db):
    ftm_import_file(path=FTM)
    customer = EntityFactory(name="Aero Dynamics Technologies BV", jurisdiction=None)
    name_screen_entity(entity=customer)
    return customer


def test_investigator_sees_lists_members_and_matches_read_only(investigator, loaded):
    client = client_for(investigator)
    lists = client.get("/admin/cases/restrictedlist/")
    assert lists.status_code == 200 and b"US DoD 1260H" in lists.content
    member = RestrictedListMember.objects.get(record_id="NK-milcorp")
    page = client.get(f"/admin/cases/restrictedlistmember/{member.pk}/change/")
    assert page.status_code == 200
    assert b"entities.ftm.json" in page.content  # provenance: the file it was loaded from
    assert b"us_dod_chinese_milcorps" in page.content
    assert client.post(f"/admin/cases/restrictedlistmember/{member.pk}/delete/").status_code == 403
    assert client.get("/admin/cases/restrictedlist/add/").status_code == 403
    matches = client.get("/admin/cases/namematch/")
    assert matches.status_code == 200 and b"AeroDynamics Technologies B.V." in matches.content


def test_list_pages_have_a_constant_query_count(investigator, loaded):
    client = client_for(investigator)
    client.get("/admin/cases/namematch/")

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = {url: queries(url) for url in ("/admin/cases/restrictedlistmember/", "/admin/cases/namematch/")}
    for index in range(5):
        member = RestrictedListMember.objects.create(
            restricted_list=RestrictedList.objects.get(code="us-ofac-sdn"), record_id=f"x-{index}", name=f"X {index}"
        )
        NameMatch.objects.create(
            entity=loaded, candidate_member=member, candidate_name=member.name, matched_name=member.name, score=90
        )
    assert {url: queries(url) for url in few} == few


def test_a_name_match_case_shows_its_candidates_and_scores(investigator, integration):
    from cases.models import Case
    from cases.services.screening_requests import screening_request_submit

    ftm_import_file(path=FTM)
    result = screening_request_submit(
        actor=integration,
        customer_reference="crm-77",
        entity={"external_id": "crm-77", "name": "Aero Dynamics Technologies BV", "jurisdiction": "NL"},
    )
    case = Case.objects.get(reference=result["case"])
    page = client_for(investigator).get(f"/admin/cases/case/{case.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="name-matches"' in html
    match = NameMatch.objects.get(entity=case.subject)
    assert match.candidate_name in html and str(match.score) in html
    assert match.candidate_member.restricted_list.name in html
