"""Defects found by fuzzing the API (docs/api.md, "Fuzzing"), one regression test each.

Every one was a 5xx, a response the OpenAPI schema does not describe, or a PostgreSQL-only failure
(NUL in a query parameter, a UTC offset beyond ±15:59): run this file on both databases.
"""

import base64
import datetime
import json
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from cases.models import AuditEvent, BodsStatement, Customer, Entity, IdempotencyKey, ImportRun, Relationship
from tests.factories import CustomerFactory, EntityFactory, stake

from .conftest import API_LISTS, decide, token_client

pytestmark = pytest.mark.django_db


def _assert_error(response, status: int, *, attr=None, code=None) -> list[dict]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content.decode("utf-8"))
    assert set(body) == {"type", "errors"} and body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"}, error
    if attr is not None:
        assert attr in [e["attr"] for e in body["errors"]], body
    if code is not None:
        assert code in [e["code"] for e in body["errors"]], body
    return body["errors"]


def _writes() -> dict:
    return {model.__name__: model.objects.count() for model in (AuditEvent, Entity, Customer, IdempotencyKey)}


@pytest.fixture
def reader(investigator_user):
    """Investigators may read every list (Integration tokens may not read overrides and exemptions)."""
    return token_client(investigator_user)


# -- list cursors: DRF passed any decoded position to the id filter (ValueError: a 500) -----------------


def _cursor(**fields) -> str:
    return base64.b64encode(urlencode(fields).encode()).decode()


@pytest.mark.parametrize("url", API_LISTS)
@pytest.mark.parametrize("position", ["abc", "\x00", "1.5", "9" * 30, "9" * 5000, "\u0661\u0662"])
def test_list_cursor_position_must_be_an_integer(reader, url, position):
    _assert_error(reader.get(url, {"cursor": _cursor(p=position)}), 400, attr="cursor", code="invalid")


@pytest.mark.parametrize("url", API_LISTS)
def test_list_cursor_that_is_not_ours_is_400_like_the_feed(reader, url):
    """DRF says 404 for an undecodable cursor; the docs and the change feed say 400 on ``cursor``."""
    _assert_error(reader.get(url, {"cursor": "not base64!"}), 400, attr="cursor")


def test_list_cursors_still_page(reader):
    for index in range(3):
        EntityFactory(external_id=f"page-{index}")
    seen, url = [], "/api/v1/entities/?limit=1"
    while url:
        page = reader.get(url).json()
        seen += [e["external_id"] for e in page["results"]]
        url = page["next"]
    assert seen == ["page-0", "page-1", "page-2"]
    previous = reader.get(reader.get("/api/v1/entities/?limit=2").json()["next"]).json()["previous"]
    assert [e["external_id"] for e in reader.get(previous).json()["results"]] == ["page-0", "page-1"]


# -- updated_since: overflow near year 1/9999 (both databases), offsets beyond ±15:59 (PostgreSQL) -------


@pytest.mark.parametrize("url", API_LISTS[:5])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+23:00"])
def test_updated_since_beyond_utc_range_is_400(reader, url, value):
    _assert_error(reader.get(url, {"updated_since": value}), 400, attr="updated_since")


def test_updated_since_with_offset_postgresql_cannot_take(reader):
    """ISO 8601 allows ±23:59, PostgreSQL ±15:59 ("time zone displacement out of range"): converted to UTC."""
    EntityFactory(external_id="recent")
    offset = datetime.timezone(-datetime.timedelta(hours=16, minutes=24))
    ids = lambda when: [  # noqa: E731
        e["external_id"]
        for e in reader.get("/api/v1/entities/", {"updated_since": when.astimezone(offset).isoformat()}).json()[
            "results"
        ]
    ]
    assert ids(timezone.now() - datetime.timedelta(days=1)) == ["recent"]
    assert ids(timezone.now() + datetime.timedelta(days=1)) == []


# -- NUL in ids: PostgreSQL refuses to compare a text column with it (DataError: a 500) ---------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/v1/entities/a%00b/"),
        ("GET", "/api/v1/persons/%00/"),
        ("GET", "/api/v1/relationships/%00/"),
        ("GET", "/api/v1/decisions/%00/"),
        ("GET", "/api/v1/cases/%00/"),
        ("PATCH", "/api/v1/entities/%00/"),
        ("PUT", "/api/v1/persons/%00/"),
        ("DELETE", "/api/v1/relationships/%00/"),
        ("POST", "/api/v1/cases/%00/notes/"),
    ],
)
def test_nul_in_an_id_is_not_found(investigator_user, api, method, url):
    client = token_client(investigator_user) if "/cases/" in url else api
    before = _writes()
    response = client.generic(method, url, json.dumps({"name": "x", "text": "x"}), content_type="application/json")
    _assert_error(response, 404, code="not_found")
    assert _writes() == before


@pytest.mark.parametrize("raw", ["a\x00b.secret", "\x00.\x00", "ABC.secret", "k\u00e9y.secret"])
def test_malformed_token_key_is_401(client, raw):
    _assert_error(client.get("/api/v1/entities/", HTTP_AUTHORIZATION=f"Token {raw}"), 401)


# -- Idempotency-Key and error details: what PostgreSQL cannot store, or UTF-8 cannot encode ----------------


@pytest.mark.parametrize("key", ["\x00", "retry\x00-1", "a\x01b", "del\x7f"])
def test_idempotency_key_with_control_characters_is_400(api, key):
    before = _writes()
    response = api.post(
        "/api/v1/entities/", {"external_id": "idem", "name": "Idem Ltd"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    _assert_error(response, 400, attr="Idempotency-Key")
    assert _writes() == before


@pytest.mark.parametrize("idempotency_key", [None, "quoted-1"])
@pytest.mark.parametrize(("value", "shown"), [("\ud800", "\\ud800"), ("\x00", "\\u0000"), ("\udfff x", "\\udfff x")])
def test_error_detail_quoting_unencodable_input(api, value, shown, idempotency_key):
    """'"<input>" is not a valid choice.': a lone surrogate failed to encode (500), a NUL failed to be stored
    with the Idempotency-Key's response (PostgreSQL, 500). Both are shown escaped."""
    body = json.dumps({"external_id": "choice", "name": "Choice Ltd", "entity_type": value})
    extra = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    before = Entity.objects.count()
    for attempt in range(2 if idempotency_key else 1):
        response = api.generic("POST", "/api/v1/entities/", body, content_type="application/json", **extra)
        errors = _assert_error(response, 400, attr="entity_type", code="invalid_choice")
        assert errors[0]["detail"] == f'"{shown}" is not a valid choice.', errors
        assert response.get("Idempotent-Replayed") == ("true" if attempt else None)
    assert Entity.objects.count() == before


# -- BODS in a screening request: unstorable text the BODS validator crashed on -----------------------------


def _statement(**changes) -> dict:
    statement = {
        "statementId": "b1f3c5e7-0000-4000-8000-00000000f001",
        "declarationSubject": "fuzz-bods-1",
        "statementDate": "2026-01-01",
        "recordId": "fuzz-bods-1",
        "recordType": "entity",
        "recordStatus": "new",
        "recordDetails": {
            "isComponent": False,
            "entityType": {"type": "registeredEntity"},
            "name": "Fuzz Ltd",
            "jurisdiction": {"code": "GB", "name": "United Kingdom"},
        },
        "publicationDetails": {"publicationDate": "2026-01-01", "bodsVersion": "0.4", "publisher": {"name": "CRM"}},
    }
    return statement | changes


@pytest.mark.parametrize(
    ("statement", "where"),
    [
        (_statement(**{"\ud800": 1}), "statement 1: a key: text contains an unpaired UTF-16 surrogate (U+D800)"),
        (
            _statement(recordDetails=_statement()["recordDetails"] | {"x\x00": 1}),
            "statement 1: recordDetails (a key): text contains a NUL character (U+0000)",
        ),
        (
            _statement(statementId="b1f3c5e7-0000-4000-8000-00000000f00\x00"),
            "statement 1: statementId: text contains a NUL character (U+0000)",
        ),
    ],
    ids=["surrogate-key", "nul-nested-key", "nul-statement-id"],
)
def test_bods_statement_with_unstorable_text_is_422(api, statement, where):
    """A surrogate in a key crashed the BODS schema check (UnicodeEncodeError); a NUL statementId was quoted
    in the failed import's stored message (PostgreSQL DataError). Both 500s; now 422 and nothing written."""
    before = _writes() | {"BodsStatement": BodsStatement.objects.count(), "ImportRun": ImportRun.objects.count()}
    body = {"customer_reference": "FUZZ-BODS", "entity_external_id": "fuzz-bods-1", "bods": [statement]}
    response = api.generic("POST", "/api/v1/screening-requests/", json.dumps(body), content_type="application/json")
    errors = _assert_error(response, 422, attr="bods")
    assert errors[0]["detail"].startswith(where), errors
    after = _writes() | {"BodsStatement": BodsStatement.objects.count(), "ImportRun": ImportRun.objects.count()}
    assert after == before


def test_bods_statement_with_odd_but_storable_text_is_imported(api):
    name = "\u202eLtd\u200b \U0001f600"
    body = {"customer_reference": "FUZZ-OK", "entity_external_id": "fuzz-bods-1", "bods": [_statement()]}
    body["bods"][0]["recordDetails"]["name"] = name
    response = api.post("/api/v1/screening-requests/", body, format="json")
    assert response.status_code == 201, response.content[:500]
    assert Entity.objects.get(external_id="fuzz-bods-1").name == name


# -- schema: proposing an override / requesting an exemption answers 201, documented as 200 --------------


@pytest.mark.parametrize("action", ["overrides", "exemptions"])
def test_case_actions_that_create_are_documented_as_201(client, investigator_user, action):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    responses = paths[f"/api/v1/cases/{{reference}}/{action}/"]["post"]["responses"]
    assert "201" in responses and "200" not in responses
    customer = CustomerFactory()
    decide(customer.entity, "block")
    reference = customer.entity.cases.get().reference
    investigator = token_client(investigator_user)
    investigator.post(f"/api/v1/cases/{reference}/assign/", {}, format="json")
    investigator.post(f"/api/v1/cases/{reference}/start-review/", format="json")
    body = (
        {"outcome": "allow", "reason": "Stake sold."}
        if action == "overrides"
        else {"reason": "Charity.", "expires_on": str(timezone.localdate() + datetime.timedelta(days=30))}
    )
    response = investigator.post(f"/api/v1/cases/{reference}/{action}/", body, format="json")
    assert response.status_code == 201, response.content[:300]


# -- PATCH: DRF's partial mode reached into nested items (a KeyError in the service: a 500) ----------------


@pytest.mark.parametrize(
    ("url", "body", "attr"),
    [
        ("/api/v1/entities/patch-e/", {"identifiers": [{}]}, "identifiers.0.value"),
        ("/api/v1/entities/patch-e/", {"identifiers": [{"scheme": "GB-COH"}]}, "identifiers.0.value"),
        ("/api/v1/relationships/patch-r/", {"interests": [{"share_exact": "10"}]}, "interests.0.type"),
    ],
)
def test_patch_validates_nested_items_whole(api, url, body, attr):
    subject = EntityFactory(external_id="patch-e")
    relationship = stake(EntityFactory(), subject, 30)
    Relationship.objects.filter(pk=relationship.pk).update(external_id="patch-r")
    before = _writes()
    _assert_error(api.patch(url, body, format="json"), 400, attr=attr, code="required")
    assert _writes() == before


def test_patch_with_whole_nested_items_still_works(api):
    EntityFactory(external_id="patch-e")
    response = api.patch("/api/v1/entities/patch-e/", {"identifiers": [{"value": "0123"}]}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["identifiers"] == [{"scheme": "", "scheme_name": "", "value": "0123", "uri": ""}]
