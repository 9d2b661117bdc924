"""Every admin URL and every API operation, enumerated rather than listed by hand, refuses who may not use it.

The admin's URLs come from each registered ModelAdmin's ``get_urls()`` (custom screens included), the
API's operations from its own OpenAPI schema, so a new screen or endpoint is covered the day it is
added; one whose URL needs an argument this file does not know fails here until it is taught.
Each request is made with real ids, and afterwards no row of the app may have been added, changed
or removed. One test per role makes every request and reports every one that failed, not the first.
"""

import datetime
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from cases.admin.casework import CASE_ACTIONS
from cases.models import (
    ApiToken,
    Case,
    DecisionChangeEvent,
    Exemption,
    Override,
    Person,
    Relationship,
    WebhookSubscription,
)
from cases.roles import AUDITOR, INVESTIGATOR
from cases.services import cases as case_services
from cases.services import queue
from cases.services.bods_import import bods_import_file
from cases.services.exemptions import exemption_request
from cases.services.overrides import override_propose
from cases.services.tokens import token_create
from cases.services.webhooks import webhooks_enqueue
from tests.admin.conftest import client_for, make_user, scenario  # noqa: F401 - scenario is a fixture

from .test_access import api_for

pytestmark = pytest.mark.django_db

# Columns that change on a read by design: the token's last use (to the minute).
READ_SIDE_EFFECTS = {ApiToken: {"last_used_at"}}


def _state() -> dict:
    """Every row of the app, as comparable values: any insert, update or delete shows."""
    state = {}
    for model in apps.get_app_config("cases").get_models():
        skip = READ_SIDE_EFFECTS.get(model, set())
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        state[model.__name__] = sorted(map(repr, model._default_manager.values_list(*fields)))
    return state


@pytest.fixture
def world(scenario, tmp_path):  # noqa: F811 - the imported fixture
    """The scenario's open case, in review, with a note, evidence, a pending override and exemption."""
    investigator = make_user(INVESTIGATOR, username="ivy")
    case = scenario["case"]
    case_services.case_assign_to_me(case=case, actor=investigator)
    case = case_services.case_start_review(case=Case.objects.get(pk=case.pk), actor=investigator)
    case_services.case_add_note(case=case, text="Register checked.", actor=investigator)
    case_services.case_attach_evidence(
        case=case, file=SimpleUploadedFile("register.txt", b"extract\n"), actor=investigator
    )
    override_propose(case=case, outcome="allow", reason="Stake sold.", actor=investigator)
    exemption_request(
        entity=case.subject,
        case=case,
        reason="Licence.",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        actor=investigator,
    )
    _one_row_for_every_other_admin(tmp_path, investigator)
    return scenario | {"case": Case.objects.get(pk=case.pk)}


def _one_row_for_every_other_admin(tmp_path, user) -> None:
    """A token, a webhook subscription and delivery (a queued task with it), an import run with its
    statements, and django-axes' records of a failed login: so every ModelAdmin's object pages exist."""
    from axes.models import AccessAttempt, AccessFailureLog

    from tests.bods.builders import entity, write_jsonl

    token_create(user=user, name="probe", scopes="read")
    WebhookSubscription.objects.create(name="crm", url="https://crm.example.com/hook", secret="s" * 32)
    webhooks_enqueue(event=DecisionChangeEvent.objects.order_by("seq").first())
    # The queued task (webhooks_enqueue queues it only after a commit, which tests never reach).
    queue.enqueue(queue.WEBHOOKS)
    bods_import_file(path=write_jsonl(tmp_path / "one.jsonl", [entity("probe-co", "Probe Co")]))
    AccessAttempt.objects.create(username="x", ip_address="127.0.0.1", user_agent="t", failures_since_start=1)
    AccessFailureLog.objects.create(username="x", ip_address="127.0.0.1", user_agent="t")
    # A restricted-list member (with an identifier) and a name match for it.
    from cases.models import Entity, NameMatch, RestrictedList, RestrictedListMember

    member = RestrictedListMember.objects.create(
        restricted_list=RestrictedList.objects.get(code="us-dod-1260h"), record_id="NK-probe", name="Probe Co"
    )
    member.identifiers.create(scheme="FTM", value="NK-probe")
    NameMatch.objects.create(
        entity=Entity.objects.get(external_id="probe-co"),
        candidate_member=member,
        candidate_name=member.name,
        matched_name=member.name,
        score=100,
    )


# ---------------------------------------------------------------- admin


def _admin_urls() -> list[tuple[str, str, dict]]:
    """(model, URL name, the arguments its pattern takes) for every named URL of every ModelAdmin."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            if isinstance(pattern, URLPattern) and pattern.name:
                arguments = dict(pattern.pattern.converters)
                if isinstance(pattern.pattern, RegexPattern):  # django-simple-history: positional groups
                    regex = pattern.pattern.regex
                    arguments = dict.fromkeys(regex.groupindex) or {"positional": regex.groups}
                found.append((model._meta.label, pattern.name, arguments))
    return found


def _admin_requests(model_label: str, name: str, arguments: dict) -> list[str]:
    """Every URL to try for one pattern: each case action, each kind of object."""
    model = apps.get_model(model_label)
    obj = model._default_manager.order_by("pk").first()
    if arguments and obj is None:
        raise AssertionError(f"give the world fixture a {model_label} row")
    if arguments == {"positional": 2} and name.endswith("_simple_history"):  # (object id, history id)
        history_id = obj.history.order_by("history_id").first().history_id
        return [reverse(f"admin:{name}", args=[obj.pk, history_id])]
    unknown = set(arguments) - {"object_id", "id", "action", "evidence_id"}
    assert not unknown, f"teach this test the URL argument(s) {unknown} of admin:{name}"
    kwargs = {argument: obj.pk for argument in ("object_id", "id") if argument in arguments}  # id: a password page
    if "evidence_id" in arguments:
        kwargs["evidence_id"] = obj.evidence.first().pk
    if "action" in arguments:
        return [reverse(f"admin:{name}", kwargs=kwargs | {"action": action}) for action in CASE_ACTIONS]
    return [reverse(f"admin:{name}", kwargs=kwargs)]


ADMIN_URLS = _admin_urls()


# A write statement and the table it writes. Reads' side effects are allowed: the session row (login,
# messages) and an API token's last use.
_TOKEN_LAST_USED = re.compile(r'\s*SET\s+"last_used_at"\s*=\s*[^,]*?\s+WHERE')  # that one column only
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+"?(\w+)"?(.*)', re.IGNORECASE | re.DOTALL)


def _written_tables(queries) -> set[str]:
    tables = set()
    for query in queries:
        match = _WRITE.match(query["sql"])
        if match is None or match.group(1) == "django_session":
            continue
        if match.group(1) == "cases_apitoken" and _TOKEN_LAST_USED.match(match.group(2)):
            continue
        tables.add(match.group(1))
    return tables


def _refusals(requests, expected_statuses) -> list[str]:
    """Make each ``(label, call)`` request; what answered otherwise, or wrote, as one line each.

    Each request's SQL is captured and must hold no write; the whole database is also compared before
    and after all of them (``_state``), which would see a write the capture could not (none known).
    """
    problems = []
    before = _state()
    for label, call in requests:
        with CaptureQueriesContext(connection) as queries:
            response = call()
        if response.status_code not in expected_statuses:
            problems.append(f"{label}: {response.status_code} {response.content[:120]!r}")
        written = _written_tables(queries.captured_queries)
        if written:
            problems.append(f"{label}: wrote to {sorted(written)}")
    if _state() != before:
        problems.append("the database changed")
    return problems


def test_staff_without_permissions_is_refused_every_admin_url(world):
    client = client_for(make_user(None, username="nobody"))
    form = {"text": "x", "reason": "x", "action": "delete_selected"}
    requests = [
        (f"{method.upper()} {url}", lambda method=method, url=url: getattr(client, method)(url, form))
        for model_label, name, arguments in ADMIN_URLS
        for url in _admin_requests(model_label, name, arguments)
        for method in ("get", "post")
    ]
    assert _refusals(requests, {403}) == []


def test_auditor_posts_to_every_admin_url_change_nothing(world):
    """The auditor may read everything (so a POST may answer with a page or a redirect) and change nothing."""
    client = client_for(make_user(AUDITOR, username="audrey"))
    case = world["case"]
    form = {
        "text": "x",
        "reason": "x",
        "url": "https://example.com/x",
        "outcome": "allow",
        "override": Override.objects.get().pk,
        "exemption": Exemption.objects.get().pk,
        "user": case.assignee_id,
        "expires_on": str(timezone.localdate() + datetime.timedelta(days=10)),
        "action": "delete_selected",
        "_selected_action": [case.pk],
        "post": "yes",
    }
    requests = [
        (f"POST {url}", lambda url=url: client.post(url, form))
        for model_label, name, arguments in ADMIN_URLS
        for url in _admin_requests(model_label, name, arguments)
    ]
    assert _refusals(requests, {200, 302, 403}) == []


def test_the_admin_url_enumeration_reaches_the_custom_screens():
    names = {name for _, name, _ in ADMIN_URLS}
    assert {"cases_case_do", "cases_case_evidence", "cases_entity_graph", "cases_entity_open_case"} <= names
    assert len(ADMIN_URLS) > 50


# ---------------------------------------------------------------- API


def _api_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    methods = ("get", "post", "put", "patch", "delete")
    return [(path, method) for path, item in schema["paths"].items() for method in methods if method in item]


API_OPERATIONS = _api_operations()


def _api_url(path: str, world) -> str:
    values = {
        "{external_id}": world["subject"].external_id,
        "{reference}": world["case"].reference,
        "{id}": str(Override.objects.get().pk if "/overrides/" in path else Exemption.objects.get().pk),
        "{code}": "us-dod-1260h",
    }
    if path.startswith("/api/v1/persons/"):
        values["{external_id}"] = Person.objects.order_by("pk").first().external_id
    if path.startswith("/api/v1/relationships/"):
        values["{external_id}"] = Relationship.objects.filter(subject=world["subject"]).first().external_id
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"teach this test the path parameter of {path}"
    return path


def _api_requests(client, world, body: dict, *, writes_only: bool = False):
    for path, method in API_OPERATIONS:
        if writes_only and method == "get":
            continue
        url, send = _api_url(path, world), getattr(client, method)
        yield f"{method.upper()} {url}", lambda url=url, send=send: send(url, body, format="json")


def test_token_of_a_user_without_permissions_is_refused_every_operation(world):
    client = api_for(make_user(None, username="nobody"))
    assert _refusals(_api_requests(client, world, {}), {403}) == []


def test_auditor_token_is_refused_every_write(world):
    client = api_for(make_user(AUDITOR, username="audrey"))
    body = {"reason": "x", "text": "x", "outcome": "allow", "name": "x", "expires_on": "2030-01-01"}
    assert _refusals(_api_requests(client, world, body, writes_only=True), {403}) == []


def test_the_api_enumeration_reaches_every_resource():
    paths = {path for path, _ in API_OPERATIONS}
    assert "/api/v1/screening-requests/" in paths and "/api/v1/overrides/{id}/approve/" in paths
    assert len(API_OPERATIONS) >= 30
