"""A customer from sign-up to decision through the API: the happy path end to end."""

from cases.models import Case, DecisionChangeEvent


def test_screening_request_returns_decision_and_case(api):
    body = {
        "customer_reference": "CRM-1",
        "entity": {"external_id": "acme", "name": "Acme Ltd", "jurisdiction": "GB"},
        "owners": [
            {
                "person": {"external_id": "li", "name": "Li Wei", "nationalities": ["CN"]},
                "interests": [{"type": "shareholding", "share_exact": "55"}],
            },
            {
                "person": {"external_id": "jane", "name": "Jane Roe", "nationalities": ["GB"]},
                "interests": [{"type": "shareholding", "share_exact": "45"}],
            },
        ],
    }
    response = api.post("/api/v1/screening-requests/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["decision"]["outcome"] == "block"
    assert data["decision"]["source"] == "automatic"
    assert data["decision"]["methods"]["look_through"]["low"] == 55.0
    assert data["case"] == Case.objects.get().reference
    assert DecisionChangeEvent.objects.filter(entity_external_id="acme").count() == 1

    detail = api.get("/api/v1/decisions/acme/")
    assert detail.status_code == 200
    assert detail.json()["outcome"] == "block"
    etag = detail["ETag"]
    assert api.get("/api/v1/decisions/acme/", HTTP_IF_NONE_MATCH=etag).status_code == 304

    feed = api.get("/api/v1/decisions/changes/").json()
    assert [e["entity"] for e in feed["results"]] == ["acme"]
    again = api.get("/api/v1/decisions/changes/", {"cursor": feed["next_cursor"]}).json()
    assert again["results"] == [] and again["next_cursor"] == feed["next_cursor"]
