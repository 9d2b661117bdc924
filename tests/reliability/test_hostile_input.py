"""Hostile input: every malformed, oversized or booby-trapped input gets a specific error and changes nothing.

* BODS files (through ``bods_import_file``): absurd numbers, NaN/Infinity, negative shares, pathological
  nesting, unpaired surrogates, and bidi/zero-width characters (the last are legitimate and must round-trip).
* Deep graphs: a 10,000-deep ownership chain and a 20,000-member ownership cycle screen correctly
  (no RecursionError, correct figures).
* The API: oversized, mis-typed, malformed and deeply nested bodies, NaN, out-of-range shares and
  control characters get a 4xx with the one JSON error shape, never a 5xx, and nothing is written.
* Evidence uploads: oversized files, HTML/SVG disguised as PDF and executables are refused, nothing stored.

Corpus files are generated into ``tmp_path``; nothing large is committed. Runs on SQLite and PostgreSQL.
"""

import json
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.bods import BodsError
from cases.models import (
    Case,
    CaseEvidence,
    CaseStatus,
    CurrentDecision,
    Customer,
    Decision,
    DirectOrIndirect,
    Entity,
    EntityType,
    Interest,
    InterestType,
    Person,
    Relationship,
)
from cases.roles import INTEGRATION, INVESTIGATOR
from cases.services.bods_import import bods_import_file
from cases.services.cases import case_attach_evidence
from cases.services.screening import screen_entities
from tests.api.conftest import token_client
from tests.bods.builders import entity, person, relationship, snapshot, write_array, write_jsonl
from tests.factories import CustomerFactory
from tests.services.conftest import decide, make_user

pytestmark = pytest.mark.django_db

PLACEHOLDER = "__HOSTILE__"


# -- BODS files --------------------------------------------------------------------------------


def _base_statements(share) -> list[dict]:
    return [
        entity("hx-e1", "Hostile Subject Ltd"),
        person("hx-p1", "Hostile Owner"),
        relationship("hx-r1", "hx-p1", "hx-e1", share),
    ]


def _write_with_raw(path, statements, raw: str, *, array: bool = False):
    """Write ``statements`` and put ``raw`` (JSON text json.dumps cannot produce) where PLACEHOLDER is."""
    (write_array if array else write_jsonl)(path, statements)
    text = path.read_text().replace(json.dumps(PLACEHOLDER), raw)
    path.write_text(text)
    return path


def _import_rejected(path) -> BodsError:
    before = snapshot()
    with pytest.raises(BodsError) as info:
        bods_import_file(path=path, progress=False)
    assert snapshot() == before
    return info.value


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "array"])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1e400", "share"),
        ("1" * 1000, "share"),
        ("-5", "share"),
        ("-0.00000001", "share"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "Infinity"),
    ],
    ids=["1e400", "1000-digits", "negative", "tiny-negative", "nan", "infinity", "minus-infinity"],
)
def test_bods_absurd_share_is_rejected(tmp_path, raw, expected, array):
    path = _write_with_raw(tmp_path / "shares.json", _base_statements(PLACEHOLDER), raw, array=array)
    error = _import_rejected(path)
    if expected == "share":
        assert error.position == 3, error.message
        assert "share" in error.message, error.message
    else:  # NaN/Infinity are not JSON: either the reader or the schema must say so, at statement 3
        assert "statement 3" in error.message or error.position == 3, error.message


@pytest.mark.parametrize(
    ("array", "depth"),
    [
        (False, 100_000),
        (True, 5_000),
        (True, 100_000),
    ],
    ids=["jsonl-100000", "array-5000", "array-100000"],
)
def test_bods_deeply_nested_field_is_a_bods_error_not_recursion(tmp_path, array, depth):
    """Nested arrays inside recordDetails.name: a clear BodsError at statement 1, never RecursionError."""
    statements = [entity("hx-deep", PLACEHOLDER)]
    path = _write_with_raw(tmp_path / "deep.json", statements, "[" * depth + "]" * depth, array=array)
    error = _import_rejected(path)
    assert isinstance(error, BodsError)
    assert "statement 1" in error.message, error.message


def test_bods_unpaired_surrogate_in_jsonl_is_rejected(tmp_path):
    path = _write_with_raw(tmp_path / "surrogate.jsonl", [entity("hx-sur", PLACEHOLDER)], '"Bad \\ud800 Ltd"')
    error = _import_rejected(path)
    assert "surrogate" in error.message and error.position == 1, error.message


def test_bods_unpaired_surrogate_in_json_array_is_rejected(tmp_path):
    path = _write_with_raw(
        tmp_path / "surrogate.json", [entity("hx-sur", PLACEHOLDER)], '"Bad \\ud800 Ltd"', array=True
    )
    error = _import_rejected(path)
    assert "surrogate" in error.message and error.position == 1, error.message


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "array"])
def test_bods_bidi_and_zero_width_names_round_trip(tmp_path, array):
    entity_name = "Acme\u202eLtd\u202c \u200bHoldings\u200d\ufeff \u05d0\u05d1\u05d2"
    person_name = "\u2067Li\u200c Wei\u2069 \u200f"
    statements = [entity("hx-rtl-e", entity_name), person("hx-rtl-p", person_name)]
    statements.append(relationship("hx-rtl-r", "hx-rtl-p", "hx-rtl-e", Decimal("50")))
    path = (write_array if array else write_jsonl)(tmp_path / "rtl.json", statements)
    bods_import_file(path=path, progress=False)
    assert Entity.objects.get(external_id="hx-rtl-e").name == entity_name
    assert Person.objects.get(external_id="hx-rtl-p").name == person_name


# -- deep graphs -------------------------------------------------------------------------------


def _bulk_entities(prefix: str, count: int, jurisdiction: str = "GB") -> list[Entity]:
    rows = [
        Entity(
            external_id=f"{prefix}-{i}",
            name=f"{prefix} {i}",
            entity_type=EntityType.REGISTERED_ENTITY,
            jurisdiction_id=jurisdiction,
        )
        for i in range(count)
    ]
    Entity.objects.bulk_create(rows, batch_size=2000)
    return list(Entity.objects.filter(external_id__startswith=f"{prefix}-").order_by("pk"))


def _bulk_stakes(prefix: str, pairs: list[tuple[Entity, Entity]]) -> None:
    """(owner, subject) pairs, each a 100 % direct shareholding."""
    Relationship.objects.bulk_create(
        [
            Relationship(external_id=f"{prefix}-r{i}", subject=subject, interested_entity=owner)
            for i, (owner, subject) in enumerate(pairs)
        ],
        batch_size=2000,
    )
    rels = Relationship.objects.filter(external_id__startswith=f"{prefix}-r").values_list("pk", flat=True)
    Interest.objects.bulk_create(
        [
            Interest(
                relationship_id=pk,
                interest_type=InterestType.SHAREHOLDING,
                direct_or_indirect=DirectOrIndirect.DIRECT,
                share_exact=Decimal("100"),
            )
            for pk in rels
        ],
        batch_size=2000,
    )


def _payload(summary, external_id: str) -> dict:
    return next(p for p in summary.payloads if p["entity"] == external_id)


def test_10000_deep_chain_from_cn_root_blocks_the_bottom():
    depth = 10_000
    root = Entity.objects.create(external_id="cn-root", name="CN State Holdco", jurisdiction_id="CN")
    chain = _bulk_entities("chain", depth)
    owners = [root, *chain[:-1]]
    _bulk_stakes("chain", list(zip(owners, chain, strict=True)))
    bottom = chain[-1]
    summary = screen_entities(entity_ids=[bottom.pk], collect_payloads=True)
    payload = _payload(summary, bottom.external_id)
    assert payload["outcome"] == "block"
    assert payload["methods"]["look_through"]["high"] == 100.0
    assert CurrentDecision.objects.get(entity=bottom).decision.outcome == "block"


def test_100000_member_cycle_is_review_with_high_100():
    """A closed ownership cycle (each member owns the next 100 %), no outside owner: review, look-through high 100.

    100,000 members. The fixture is written with the importer's raw writer (``TableWriter``): the ORM's
    ``bulk_create`` alone would take about 20 s on SQLite. Screening one member loads the whole cycle
    (its upstream closure, found with one recursive query rather than 100,000 breadth-first levels).
    """
    from cases.services.bulk_sql import TableWriter

    size = 100_000

    def write(model, rows, **template):
        # Every column the ORM would write, from one model instance; then the per-row values.
        instance = model(**template)
        base = {f.attname: f.pre_save(instance, True) for f in model._meta.concrete_fields if not f.primary_key}
        TableWriter(model).insert(list(base), [{**base, **row} for row in rows])

    write(
        Entity,
        ({"external_id": f"ring-{i}", "name": f"ring {i}"} for i in range(size)),
        external_id="ring",
        name="ring",
        entity_type=EntityType.REGISTERED_ENTITY,
        jurisdiction_id="GB",
    )
    ring = dict(Entity.objects.filter(external_id__startswith="ring-").values_list("external_id", "pk"))
    ids = [ring[f"ring-{i}"] for i in range(size)]
    write(
        Relationship,
        (
            {"external_id": f"ring-r{i}", "interested_entity_id": ids[i], "subject_id": ids[(i + 1) % size]}
            for i in range(size)
        ),
        external_id="ring-r",
        subject_id=ids[0],
        interested_entity_id=ids[0],
    )
    stakes = Relationship.objects.filter(external_id__startswith="ring-r").values_list("pk", flat=True)
    write(
        Interest,
        ({"relationship_id": pk} for pk in stakes),
        relationship_id=0,
        interest_type=InterestType.SHAREHOLDING,
        direct_or_indirect=DirectOrIndirect.DIRECT,
        share_exact=Decimal("100"),
    )
    assert Interest.objects.filter(relationship__external_id__startswith="ring-r").count() == size
    member = ids[size // 2]
    summary = screen_entities(entity_ids=[member], collect_payloads=True)
    assert summary.screened == 1
    payload = _payload(summary, f"ring-{size // 2}")
    assert payload["outcome"] == "review"
    assert payload["methods"]["look_through"]["high"] == 100.0
    assert "Ownership cycle without outside owners" in payload["reasons"]


# -- API -----------------------------------------------------------------------------------------


@pytest.fixture
def api():
    cache.clear()
    return token_client(make_user(INTEGRATION))


def _counts() -> dict:
    models = (Entity, Person, Relationship, Interest, Customer, Decision, Case)
    return {model.__name__: model.objects.count() for model in models}


def _screening_body(**overrides) -> dict:
    body = {
        "customer_reference": "HX-1",
        "entity": {"external_id": "hx-api-1", "name": "Hostile Api Ltd", "jurisdiction": "GB"},
        "owners": [
            {
                "person": {"external_id": "hx-api-p1", "name": "Jane Roe", "nationalities": ["GB"]},
                "interests": [{"type": "shareholding", "share_exact": "55"}],
            }
        ],
    }
    body.update(overrides)
    return body


SCREENING = "/api/v1/screening-requests/"
ENTITIES = "/api/v1/entities/"


def _assert_error(response, statuses, *, attr=None, type_=None) -> list[dict]:
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert body["type"] in ("validation_error", "client_error"), body
    if type_:
        assert body["type"] == type_, body
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"} and error["detail"], error
    if attr is not None:
        assert attr in [e["attr"] for e in body["errors"]], body
    return body["errors"]


def _post(api, url, data: bytes | str, content_type="application/json"):
    return api.generic("POST", url, data, content_type=content_type)


@pytest.mark.parametrize("url", [SCREENING, ENTITIES])
def test_api_body_over_upload_limit(api, url):
    before = _counts()
    padding = "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    body = json.dumps(_screening_body() | {"padding": padding} if url == SCREENING else {"name": padding})
    errors = _assert_error(_post(api, url, body), (413,))
    assert errors[0]["code"] == "request_too_large", errors
    assert _counts() == before


@pytest.mark.parametrize("url", [SCREENING, ENTITIES])
@pytest.mark.parametrize("content_type", ["text/html", "application/xml", "text/plain", "multipart/form-data"])
def test_api_wrong_content_type(api, url, content_type):
    before = _counts()
    data = "<html><body>hi</body></html>" if "html" in content_type else "<entity><name>x</name></entity>"
    response = _post(api, url, data, content_type=content_type)
    errors = _assert_error(response, (415,))
    assert errors[0]["code"] == "unsupported_media_type"
    assert _counts() == before


@pytest.mark.parametrize("url", [SCREENING, ENTITIES])
@pytest.mark.parametrize(
    "data", ['{"customer_reference": "X",', "{'single': 'quotes'}", "", "\xff\xfe", '{"a": 1} trailing']
)
def test_api_malformed_json(api, url, data):
    before = _counts()
    errors = _assert_error(_post(api, url, data.encode("latin-1")), (400,))
    assert errors[0]["code"] in ("parse_error", "required", "invalid"), errors
    assert _counts() == before


@pytest.mark.parametrize("url", [SCREENING, ENTITIES])
def test_api_deeply_nested_json(api, url):
    before = _counts()
    depth = 100_000
    data = '{"customer_reference": "HX-deep", "entity": ' + "[" * depth + "]" * depth + "}"
    _assert_error(_post(api, url, data), (400,))
    assert _counts() == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_api_nan_in_share(api, literal):
    before = _counts()
    text = json.dumps(_screening_body()).replace('"share_exact": "55"', f'"share_exact": {literal}')
    errors = _assert_error(_post(api, SCREENING, text), (400, 422))
    if literal == "1e400":  # valid JSON (a float overflowing to inf): refused by the field
        assert "owners.0.interests.0.share_exact" in [e["attr"] for e in errors], errors
    else:  # not JSON at all: refused by the parser, naming the literal
        assert errors[0]["code"] == "parse_error" and literal in errors[0]["detail"], errors
    assert _counts() == before


@pytest.mark.parametrize("share", ["-1", "100.00000001", "101", "1e3", "-0.5"])
def test_api_share_out_of_range(api, share):
    before = _counts()
    body = _screening_body()
    body["owners"][0]["interests"][0]["share_exact"] = share
    _assert_error(api.post(SCREENING, body, format="json"), (400, 422), attr="owners.0.interests.0.share_exact")
    assert _counts() == before


def test_api_relationship_share_out_of_range(api):
    Entity.objects.create(external_id="hx-s", name="S", jurisdiction_id="GB")
    Entity.objects.create(external_id="hx-o", name="O", jurisdiction_id="GB")
    before = _counts()
    body = {
        "external_id": "hx-rel",
        "subject": "hx-s",
        "interested_entity": "hx-o",
        "interests": [{"type": "shareholding", "share_exact": "150"}],
    }
    _assert_error(api.post("/api/v1/relationships/", body, format="json"), (400, 422), attr="interests.0.share_exact")
    assert _counts() == before


@pytest.mark.parametrize(
    ("name", "why"),
    [("Bad\x00Ltd", "NUL"), ("Bad\ud800Ltd", "surrogate"), ("Bad\udfffLtd", "surrogate")],
    ids=["nul", "high-surrogate", "low-surrogate"],
)
@pytest.mark.parametrize("url", [SCREENING, ENTITIES])
def test_api_unstorable_characters_in_names(api, url, name, why):
    before = _counts()
    entity_body = {"external_id": "hx-ctl", "name": name, "jurisdiction": "GB"}
    body = _screening_body(entity=entity_body) if url == SCREENING else entity_body
    # json.dumps escapes both as \u0000 / \ud800: valid JSON the parser turns back into the raw character.
    response = _post(api, url, json.dumps(body))
    _assert_error(response, (400,), attr="entity.name" if url == SCREENING else "name")
    assert _counts() == before


@pytest.mark.parametrize("url", [SCREENING, ENTITIES])
def test_api_other_control_and_bidi_characters_are_stored_verbatim(api, url):
    name = "Ctl\x07\x1b[31m\u202eLtd\u200b"
    entity_body = {"external_id": "hx-ctl-ok", "name": name, "jurisdiction": "GB"}
    body = _screening_body(entity=entity_body) if url == SCREENING else entity_body
    response = api.post(url, body, format="json")
    assert response.status_code in (200, 201), response.content[:500]
    assert Entity.objects.get(external_id="hx-ctl-ok").name == name


# -- evidence uploads ------------------------------------------------------------------------------


@pytest.fixture
def case_and_investigator(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    customer = CustomerFactory()
    decide(customer.entity, "review")
    case = Case.objects.get(subject=customer.entity, status=CaseStatus.OPEN)
    return case, make_user(INVESTIGATOR), tmp_path


def _stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("report.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "does not match its .pdf"),
        ("report.pdf", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "does not match its .pdf"),
        ("report.pdf", b"\n%PDF-1.7 leading newline", "does not match its .pdf"),
        ("setup.exe", b"MZ\x90\x00\x03", "File type .exe is not allowed"),
        ("report.pdf.exe", b"%PDF-1.7\n", "File type .exe is not allowed"),
        ("image.svg", b"<svg/>", "File type .svg is not allowed"),
        ("page.html", b"<html></html>", "File type .html is not allowed"),
    ],
)
def test_evidence_disguised_or_forbidden_type(case_and_investigator, name, content, message):
    case, investigator, media = case_and_investigator
    with pytest.raises(ValidationError) as info:
        case_attach_evidence(case=case, file=SimpleUploadedFile(name, content), actor=investigator)
    assert message in str(info.value.message_dict["file"])
    assert not CaseEvidence.objects.exists() and not _stored_files(media)


def test_evidence_over_size_limit(case_and_investigator, settings):
    case, investigator, media = case_and_investigator
    settings.EVIDENCE_MAX_BYTES = 64 * 1024
    content = b"%PDF-1.7\n" + b"0" * settings.EVIDENCE_MAX_BYTES
    with pytest.raises(ValidationError) as info:
        case_attach_evidence(case=case, file=SimpleUploadedFile("big.pdf", content), actor=investigator)
    assert "larger than the limit of 65536 bytes" in str(info.value.message_dict["file"])
    assert not CaseEvidence.objects.exists() and not _stored_files(media)


def test_evidence_over_size_limit_with_lying_size(case_and_investigator, settings):
    """An upload object reporting a small size is still cut off by reading at most limit+1 bytes."""
    case, investigator, media = case_and_investigator
    settings.EVIDENCE_MAX_BYTES = 1024
    upload = SimpleUploadedFile("big.pdf", b"%PDF-1.7\n" + b"0" * 4096)
    upload.size = 10
    with pytest.raises(ValidationError, match="larger than the limit"):
        case_attach_evidence(case=case, file=upload, actor=investigator)
    assert not CaseEvidence.objects.exists() and not _stored_files(media)
