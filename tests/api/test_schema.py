"""OpenAPI: the schema validates, Swagger UI is served offline, throttling, and a bounded schemathesis run."""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

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


# -- schemathesis: generated requests against the schema, in-process (WSGI), bounded ------------------------

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
FUZZED = schema.include(path_regex=r"^/api/v1/(entities|persons|relationships|decisions|screening-requests|cases)/")


@pytest.fixture
def fuzz_token(db, settings):
    # The WSGI app fires request_started/finished; their close_old_connections would close the test's
    # connection (it is inside the test transaction). Django's test Client disconnects it the same way.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/minute", "screening": "100000/minute"},
    }
    from cases.roles import INTEGRATION

    customer = CustomerFactory(entity__external_id="fuzz-co")
    stake(PersonFactory(external_id="fuzz-p", nationalities=["CN"]), customer.entity, 60)
    decide(customer.entity, "block")
    EntityFactory(external_id="fuzz-other")
    _, plaintext = token_create(user=make_user(INTEGRATION), name="fuzz", scopes="read,write")
    yield plaintext
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@FUZZED.parametrize()
@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_schema(case, fuzz_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
