"""Entities, persons, relationships: CRUD, filters, re-screening on writes, permissions, error shapes."""

import pytest

from cases.models import AuditEvent, CurrentDecision, Relationship
from tests.factories import EntityFactory, PersonFactory, stake

from .conftest import token_client

pytestmark = pytest.mark.django_db


def test_entity_create_screens_and_lists(api):
    response = api.post(
        "/api/v1/entities/",
        {
            "external_id": "e-1",
            "name": "Acme Ltd",
            "jurisdiction": "GB",
            "identifiers": [{"scheme": "GB-COH", "value": "0123"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["external_id"] == "e-1" and body["jurisdiction"] == "GB"
    assert body["current_outcome"] == "review"  # no disclosed owners: 100 % unknown
    assert AuditEvent.objects.filter(action="entity.created").exists()
    assert api.get("/api/v1/entities/e-1/").json()["identifiers"] == [
        {"scheme": "GB-COH", "scheme_name": "", "value": "0123", "uri": ""}
    ]


def test_entity_filters(api):
    EntityFactory(external_id="cn-1", name="Dragon Holdings", jurisdiction_id="CN")
    EntityFactory(external_id="gb-1", name="Thames Trading", jurisdiction_id="GB")
    ids = lambda params: [e["external_id"] for e in api.get("/api/v1/entities/", params).json()["results"]]  # noqa: E731
    assert ids({"jurisdiction": "CN"}) == ["cn-1"]
    assert ids({"q": "thames"}) == ["gb-1"]
    assert ids({"external_id": "cn-1,gb-1"}) == ["cn-1", "gb-1"]
    assert ids({"updated_since": "2999-01-01T00:00:00Z"}) == []
    api.patch("/api/v1/entities/cn-1/", {"name": "Dragon Holdings"}, format="json")
    assert ids({"outcome": "block"}) == ["cn-1"]


def test_entity_update_and_validation_errors(api):
    EntityFactory(external_id="e-2", jurisdiction_id="GB")
    response = api.patch("/api/v1/entities/e-2/", {"jurisdiction": "RU"}, format="json")
    assert response.status_code == 200
    assert response.json()["current_outcome"] == "block"  # a restricted root now
    bad = api.patch("/api/v1/entities/e-2/", {"jurisdiction": "XX"}, format="json")
    assert bad.status_code == 422
    assert bad.json() == {
        "type": "validation_error",
        "errors": [
            {"code": "invalid", "detail": "'XX' is not an ISO 3166-1 alpha-2 country code.", "attr": "jurisdiction"}
        ],
    }
    missing = api.post("/api/v1/entities/", {"external_id": "e-3"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["attr"] == "name"
    duplicate = api.post("/api/v1/entities/", {"external_id": "e-2", "name": "Dup"}, format="json")
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["attr"] == "external_id"


def test_person_crud_rescreens_what_they_own(api):
    response = api.post(
        "/api/v1/persons/", {"external_id": "p-1", "name": "Ann", "nationalities": ["GB"]}, format="json"
    )
    assert response.status_code == 201
    subject = EntityFactory(external_id="s-1")
    person = response.json()
    assert person["nationalities"] == ["GB"]
    rel = api.post(
        "/api/v1/relationships/",
        {
            "external_id": "r-1",
            "subject": "s-1",
            "interested_person": "p-1",
            "interests": [{"type": "shareholding", "share_exact": "60"}],
        },
        format="json",
    )
    assert rel.status_code == 201, rel.json()
    assert CurrentDecision.objects.get(entity=subject).outcome == "allow"  # 40 % undisclosed: at most 40 %
    api.patch("/api/v1/persons/p-1/", {"nationalities": ["CN"]}, format="json")
    assert CurrentDecision.objects.get(entity=subject).outcome == "block"
    assert api.get("/api/v1/persons/", {"jurisdiction": "CN"}).json()["results"][0]["external_id"] == "p-1"


def test_relationship_update_and_close_rescreen_downstream(api):
    cn = EntityFactory(external_id="cn", jurisdiction_id="CN")
    holding = EntityFactory(external_id="h")
    subject = EntityFactory(external_id="s")
    stake(holding, subject, 100)
    clean = PersonFactory(external_id="clean")
    stake(clean, holding, 49)
    response = api.post(
        "/api/v1/relationships/",
        {
            "external_id": "cn-h",
            "subject": "h",
            "interested_entity": "cn",
            "interests": [{"type": "shareholding", "share_exact": "51"}],
        },
        format="json",
    )
    assert response.status_code == 201
    assert CurrentDecision.objects.get(entity=subject).outcome == "block"  # downstream of h
    assert (
        api.patch(
            "/api/v1/relationships/cn-h/", {"interests": [{"type": "shareholding", "share_exact": "10"}]}, format="json"
        ).status_code
        == 200
    )
    assert CurrentDecision.objects.get(entity=subject).outcome == "review"
    assert api.delete("/api/v1/relationships/cn-h/").status_code == 204
    assert Relationship.objects.get(external_id="cn-h").is_closed
    assert (
        api.get("/api/v1/relationships/", {"subject": "h", "is_closed": "false"}).json()["results"][0][
            "interested_person"
        ]
        == "clean"
    )
    assert cn.pk


def test_relationship_validation(api):
    EntityFactory(external_id="s")
    both = api.post(
        "/api/v1/relationships/",
        {"external_id": "r", "subject": "s", "interests": [{"type": "shareholding", "share_exact": "10"}]},
        format="json",
    )
    assert both.status_code == 400 and both.json()["errors"][0]["attr"] == "interested_entity"
    unknown = api.post(
        "/api/v1/relationships/",
        {
            "external_id": "r",
            "subject": "s",
            "interested_person": "nobody",
            "interests": [{"type": "shareholding", "share_exact": "10"}],
        },
        format="json",
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["attr"] == "interested_person"
    share = api.post(
        "/api/v1/relationships/",
        {
            "external_id": "r",
            "subject": "s",
            "unspecified_reason": "unknown",
            "interests": [{"type": "shareholding", "share_exact": "101"}],
        },
        format="json",
    )
    assert share.status_code == 400 and share.json()["errors"][0]["attr"] == "interests.0.share_exact"


def test_roles_and_scopes(api, read_only_api, investigator_user, integration_user):
    assert read_only_api.get("/api/v1/entities/").status_code == 200
    denied = read_only_api.post("/api/v1/entities/", {"external_id": "x", "name": "X"}, format="json")
    assert denied.status_code == 403 and denied.json()["type"] == "client_error"
    investigator = token_client(investigator_user)
    forbidden = investigator.post("/api/v1/entities/", {"external_id": "x", "name": "X"}, format="json")
    assert forbidden.status_code == 403  # the service's require_perm: investigators do not create parties
    assert "cases.add_entity" in forbidden.json()["errors"][0]["detail"]


def test_json_404s(api, client):
    assert api.get("/api/v1/entities/nope/").json()["errors"][0]["code"] == "not_found"
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["type"] == "client_error"


def test_json_500(api, monkeypatch):
    from cases.api import views

    def boom(**kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(views, "entity_create", boom)
    response = api.post("/api/v1/entities/", {"external_id": "x", "name": "X"}, format="json")
    assert response.status_code == 500
    assert response.json() == {
        "type": "server_error",
        "errors": [{"code": "error", "detail": "A server error occurred.", "attr": None}],
    }
