"""OpenAPI: the schema validates, Swagger UI is served offline, throttling, and a bounded schemathesis run."""

import datetime
import json
import os
import zlib

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db.models import Max
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cases.models import (
    AuditEvent,
    Case,
    CaseNote,
    Customer,
    Decision,
    DecisionChangeEvent,
    EffectiveDecision,
    Entity,
    EntityIdentifier,
    Exemption,
    Interest,
    Jurisdiction,
    Override,
    Person,
    Relationship,
)
from cases.roles import INTEGRATION, INVESTIGATOR, MANAGER
from cases.services.cases import case_assign_to_me, case_start_review
from cases.services.exemptions import exemption_request
from cases.services.overrides import override_propose
from cases.services.tokens import token_create
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake

from .conftest import decide, make_user

pytestmark = pytest.mark.django_db


def test_schema_documents_every_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for expected in [
        "/api/v1/entities/",
        "/api/v1/entities/{external_id}/",
        "/api/v1/persons/",
        "/api/v1/relationships/{external_id}/",
        "/api/v1/decisions/{external_id}/",
        "/api/v1/decisions/changes/",
        "/api/v1/screening-requests/",
        "/api/v1/cases/{reference}/overrides/",
        "/api/v1/overrides/{id}/approve/",
        "/api/v1/exemptions/{id}/approve/",
    ]:
        assert expected in paths, expected
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary") or operation.get("description"), f"{method} {path}"
    for path, operations in paths.items():
        for method, operation in operations.items():
            bodies = [r.get("content", {}) for code, r in operation["responses"].items() if code.startswith("2")]
            bodies.append(operation.get("requestBody", {}).get("content", {}))
            if any(bodies):
                assert any(media.get("examples") for body in bodies for media in body.values()), f"{method} {path}"
    examples = str(paths["/api/v1/screening-requests/"]["post"])
    assert "Simple JSON owners" in examples and "BODS 0.4 statements" in examples


def test_swagger_ui_is_offline(client):
    page = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in page
    assert "cdn" not in page.lower() and "unpkg" not in page and "jsdelivr" not in page


def test_throttled_per_token(api, settings, integration_user):
    from .conftest import token_client

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "screening": "1/minute"},
    }
    for _ in range(3):
        assert api.get("/api/v1/entities/").status_code == 200
    throttled = api.get("/api/v1/entities/")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert throttled.json()["errors"][0]["code"] == "throttled"
    assert token_client(integration_user).get("/api/v1/entities/").status_code == 200  # another token, own budget
    cache.clear()


# -- schemathesis: generated requests against the schema, in-process (WSGI) --------------------------------
#
# Every operation, each example as one of four tokens (Integration read/write and read-only, Investigator,
# Manager), with path ids that exist three times in four (else the generated one), so that PATCH, case
# actions and approvals reach the services. Checks: schemathesis' (no 5xx; documented status, content type
# and body) and ours: every error has the one JSON error shape, and an error response wrote nothing.
# API_FUZZ_EXAMPLES examples per operation: 2 in CI, derandomized. A deep run: docs/api.md, "Fuzzing".

FUZZ_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "2"))
FUZZ_DERANDOMIZE = os.environ.get("API_FUZZ_DERANDOMIZE", "1") != "0"
FUZZ_ROLES = ("integration", "read-only", "investigator", "manager")

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
FUZZED = schema.include(path_regex=r"^/api/v1/")
WRITTEN = (
    AuditEvent,
    Entity,
    EntityIdentifier,
    Person,
    Relationship,
    Interest,
    Customer,
    Decision,
    EffectiveDecision,
    DecisionChangeEvent,
    Case,
    CaseNote,
    Override,
    Exemption,
    Jurisdiction,
)


def _written() -> dict:
    """Row counts, and the last change of what has updated_at: every service write audits or adds a row."""
    counts = {model.__name__: model.objects.count() for model in WRITTEN}
    for model in (Entity, Person, Relationship, Case):
        counts[f"{model.__name__}.updated_at"] = model.objects.aggregate(last=Max("updated_at"))["last"]
    return counts


def _pick(value, options):
    """Deterministic in the generated value, so hypothesis can replay and shrink an example."""
    return options[zlib.crc32(repr(value).encode("utf-8", "surrogatepass")) % len(options)]


@pytest.fixture
def fuzz_world(db, settings):
    # The WSGI app fires request_started/finished; their close_old_connections would close the test's
    # connection (it is inside the test transaction). Django's test Client disconnects it the same way.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute", "screening": "1000000/minute"},
    }
    customer = CustomerFactory(entity__external_id="fuzz-co")
    stake(PersonFactory(external_id="fuzz-p", nationalities=["CN"]), customer.entity, 60)
    decide(customer.entity, "block")
    other = EntityFactory(external_id="fuzz-other")
    Relationship.objects.filter(pk=stake(other, customer.entity, 10).pk).update(external_id="fuzz-rel")
    reviewed = CustomerFactory(entity__external_id="fuzz-co2")
    decide(reviewed.entity, "review")
    integration, investigator, manager = make_user(INTEGRATION), make_user(INVESTIGATOR), make_user(MANAGER)
    assigned = case_assign_to_me(case=reviewed.entity.cases.get(), actor=investigator)
    in_review = case_start_review(case=assigned, actor=investigator)
    override = override_propose(case=in_review, outcome="allow", reason="fuzz", actor=investigator)
    expires = timezone.localdate() + datetime.timedelta(days=30)
    exemption = exemption_request(
        entity=reviewed.entity, case=in_review, reason="fuzz", expires_on=expires, actor=investigator
    )
    tokens = {
        "integration": token_create(user=integration, name="fuzz", scopes="read,write")[1],
        "read-only": token_create(user=integration, name="fuzz-read", scopes="read")[1],
        "investigator": token_create(user=investigator, name="fuzz", scopes="read,write")[1],
        "manager": token_create(user=manager, name="fuzz", scopes="read,write")[1],
    }
    known = {
        "external_id": ["fuzz-co", "fuzz-co2", "fuzz-p", "fuzz-other", "fuzz-rel"],
        "reference": [customer.entity.cases.get().reference, in_review.reference],
        "id": [str(override.pk), str(exemption.pk)],
    }
    yield tokens, known
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _assert_one_error_shape(response) -> None:
    if response.status_code in (204, 304):
        assert not response.content
        return
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
    if response.status_code < 300 and content_type[0] == "application/pdf":  # the documented evidence report
        assert response.content.startswith(b"%PDF")
        return
    assert content_type[0].startswith("application/json"), (response.status_code, content_type)
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert set(body) == {"type", "errors"} and body["errors"], body
        assert body["type"] in ("validation_error", "client_error"), body
        for error in body["errors"]:
            assert set(error) == {"code", "detail", "attr"} and isinstance(error["detail"], str), error


@FUZZED.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=FUZZ_DERANDOMIZE, suppress_health_check=list(HealthCheck)
)
def test_api_conforms_to_schema(case, fuzz_world):
    tokens, known = fuzz_world
    role = _pick((case.body, case.query, case.path_parameters), FUZZ_ROLES)
    for name, value in (case.path_parameters or {}).items():
        if name in known and _pick(value, (False, True, True, True)):
            case.path_parameters[name] = _pick((value, name), known[name])
    before = _written()
    response = case.call(headers={"Authorization": f"Token {tokens[role]}"})
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    _assert_one_error_shape(response)
    if response.status_code >= 400:
        assert _written() == before, f"{case.operation.label} answered {response.status_code} but wrote"
