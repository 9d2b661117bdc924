"""Restricted lists, their members and entity provenance over the API (read-only)."""

import pytest

from cases.services.ftm_import import ftm_import_file
from cases.services.gleif_import import gleif_import_file
from tests.sources.conftest import FTM, LEI_CSV

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(db):
    gleif_import_file(path=LEI_CSV)
    ftm_import_file(path=FTM)


def test_lists_and_members_with_identifiers_and_provenance(api, loaded):
    lists = api.get("/api/v1/restricted-lists/").json()["results"]
    assert {row["code"] for row in lists} >= {"us-dod-1260h", "us-bis-entity-list", "us-ofac-sdn", "us-ofac-ns-cmic"}
    one = api.get("/api/v1/restricted-lists/us-dod-1260h/").json()
    assert one["kind"] == "military" and one["version"]
    found = api.get("/api/v1/restricted-list-members/", {"identifier": "5299000AERODYN000018"}).json()["results"]
    assert [(m["restricted_list"], m["record_id"]) for m in found] == [("us-dod-1260h", "NK-milcorp")]
    assert {"scheme": "FTM", "value": "NK-milcorp"} in found[0]["identifiers"]
    assert found[0]["provenance"]["file"] == "entities.ftm.json"
    assert api.get("/api/v1/restricted-list-members/", {"identifier": "nothing"}).json()["results"] == []


def test_lists_are_read_only(api, loaded):
    assert api.post("/api/v1/restricted-lists/", {"code": "x"}, format="json").status_code == 405
    assert api.delete("/api/v1/restricted-lists/us-dod-1260h/").status_code == 405


def test_entity_shows_its_provenance(api, loaded):
    body = api.get("/api/v1/entities/5493002LUXSUB0000011/").json()
    assert body["provenance"]["recordId"] == "5493002LUXSUB0000011"
    assert body["provenance"]["file"] == LEI_CSV.name
    assert body["provenance"]["additionalSources"]["ftm"]["recordId"] == "NK-luxsub"
