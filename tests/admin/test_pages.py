"""Every admin changelist and change page renders for the superuser, and for each role as its permissions allow."""

import pytest
from django.contrib import admin
from django.urls import reverse

from cases.models import AuditEvent, Decision, Override
from cases.services import cases as case_services
from cases.services import overrides as override_services

from .conftest import client_for

pytestmark = pytest.mark.django_db

CASES_MODELS = [model for model in admin.site._registry if model._meta.app_label == "cases"]


def _urls(model):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    obj = model._default_manager.order_by("pk").first()
    change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]) if obj else None
    return changelist, change


@pytest.fixture
def full_scenario(scenario, investigator, manager):
    """Scenario plus an override pending approval, so Override/Exemption/History pages have rows."""
    case = scenario["case"]
    case_services.case_start_review(case=case, actor=investigator)
    case_services.case_add_note(case=case, text="Looked at H GmbH's register.", actor=investigator)
    override_services.override_propose(case=case, outcome="allow", reason="CN stake sold in 2025", actor=investigator)
    import datetime

    from django.utils import timezone

    from cases.services.exemptions import exemption_request

    exemption_request(
        entity=scenario["subject"],
        reason="Licence granted",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        actor=investigator,
    )
    return scenario


@pytest.mark.parametrize("model", CASES_MODELS, ids=lambda m: m._meta.model_name)
def test_superuser_sees_every_changelist_and_change_page(full_scenario, superuser, model):
    client = client_for(superuser)
    changelist, change = _urls(model)
    assert client.get(changelist).status_code == 200
    if change:
        response = client.get(change)
        assert response.status_code == 200, change


@pytest.mark.parametrize(
    "role, model_name, expected",
    [
        ("investigator", "case", 200),
        ("investigator", "entity", 200),
        ("investigator", "customer", 200),
        ("investigator", "decision", 200),
        ("investigator", "override", 200),
        ("investigator", "relationship", 200),
        ("investigator", "screeningpolicy", 200),
        ("investigator", "auditevent", 403),
        ("manager", "case", 200),
        ("manager", "override", 200),
        ("manager", "auditevent", 403),
        ("auditor", "auditevent", 200),
        ("auditor", "case", 200),
        ("auditor", "entity", 200),
        ("auditor", "bodsstatement", 200),
        ("staff_without_perms", "case", 403),
        ("staff_without_perms", "entity", 403),
    ],
)
def test_roles_changelist_and_change_page(full_scenario, request, role, model_name, expected):
    user = request.getfixturevalue(role)
    client = client_for(user)
    model = next(m for m in CASES_MODELS if m._meta.model_name == model_name)
    changelist, change = _urls(model)
    assert client.get(changelist).status_code == expected
    if change:
        assert client.get(change).status_code == expected


def test_integration_account_cannot_enter_the_admin(full_scenario, integration):
    response = client_for(integration).get(reverse("admin:cases_case_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_case_page_shows_why(full_scenario, investigator):
    case = full_scenario["case"]
    response = client_for(investigator).get(reverse("admin:cases_case_change", args=[case.pk]))
    html = response.content.decode()
    assert "44.00 % – 48.00 %" in html  # look-through: 55 % × 80 % proven; the cycle via Cycle A is unknown
    assert "80.00 % – 80.00 %" in html  # control chain interval
    assert "CN Holdco" in html and "—55%→" in html and "—80%→" in html
    assert "data-ownership-graph" in html
    assert "Looked at H GmbH" in html  # notes
    assert "override.proposed" in html  # audit trail


def test_entity_page_has_owners_holdings_decision_and_graph(full_scenario, investigator):
    holding = full_scenario["holding"]
    html = client_for(investigator).get(reverse("admin:cases_entity_change", args=[holding.pk])).content.decode()
    assert "Who owns this" in html and "What it owns" in html
    assert "CN Holdco" in html and "Subject Trading Ltd" in html
    assert "Decision history" in html and "data-ownership-graph" in html


def test_entity_search_by_identifier_and_external_id(full_scenario, investigator):
    from cases.models import EntityIdentifier

    EntityIdentifier.objects.create(entity=full_scenario["holding"], scheme="XI-LEI", value="5299000TESTLEI000001")
    client = client_for(investigator)
    url = reverse("admin:cases_entity_changelist")
    assert "H GmbH" in client.get(url, {"q": "5299000TESTLEI000001"}).content.decode()
    assert "CN Holdco" in client.get(url, {"q": "cn-holdco"}).content.decode()
    blocked = client.get(url, {"outcome": "block", "is_customer": "yes"}).content.decode()
    assert "Subject Trading Ltd" in blocked and "CN Holdco" not in blocked
    cn = client.get(url, {"jurisdiction": "CN"}).content.decode()
    assert "CN Holdco" in cn and "H GmbH" not in cn


def test_graph_json_has_restricted_flags_and_paths(full_scenario, investigator):
    subject = full_scenario["subject"]
    response = client_for(investigator).get(reverse("admin:cases_entity_graph", args=[subject.pk]))
    assert response.status_code == 200
    graph = response.json()
    nodes = {n["label"]: n for n in graph["nodes"]}
    assert nodes["CN Holdco"]["restricted"] is True
    assert nodes["H GmbH"]["restricted"] is False and nodes["H GmbH"]["on_path"] is True
    assert nodes["Subject Trading Ltd"]["is_subject"] is True
    assert {"Cycle A", "Cycle B"} <= set(nodes)  # the cycle is walked once and terminates
    on_path = [e for e in graph["edges"] if e["on_path"]]
    assert len(on_path) == 2


def test_graph_json_requires_view_permission(full_scenario, staff_without_perms):
    subject = full_scenario["subject"]
    response = client_for(staff_without_perms).get(reverse("admin:cases_entity_graph", args=[subject.pk]))
    assert response.status_code == 403


def test_decision_admin_is_read_only_even_for_superuser(full_scenario, superuser):
    decision = Decision.objects.first()
    client = client_for(superuser)
    assert client.get(reverse("admin:cases_decision_add")).status_code == 403
    assert client.post(reverse("admin:cases_decision_delete", args=[decision.pk]), {"post": "yes"}).status_code == 403
    assert Decision.objects.filter(pk=decision.pk).exists()


def test_audit_admin_refuses_add_change_delete_for_everyone(full_scenario, superuser, auditor):
    event = AuditEvent.objects.order_by("seq").first()
    before = AuditEvent.objects.count()
    for user in (superuser, auditor):
        client = client_for(user)
        assert client.get(reverse("admin:cases_auditevent_add")).status_code == 403
        assert client.post(reverse("admin:cases_auditevent_add"), {"action": "x"}).status_code == 403
        change = client.post(reverse("admin:cases_auditevent_change", args=[event.pk]), {"action": "tampered"})
        assert change.status_code == 403
        delete = client.post(reverse("admin:cases_auditevent_delete", args=[event.pk]), {"post": "yes"})
        assert delete.status_code == 403
        # The read-only detail view still works, and there are no bulk actions (no bulk delete).
        assert client.get(reverse("admin:cases_auditevent_change", args=[event.pk])).status_code == 200
        changelist = client.get(reverse("admin:cases_auditevent_changelist"))
        assert 'name="action"' not in changelist.content.decode()
    assert AuditEvent.objects.count() == before
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def test_audit_admin_searchable_by_target(full_scenario, auditor):
    case = full_scenario["case"]
    client = client_for(auditor)
    html = client.get(reverse("admin:cases_auditevent_changelist"), {"q": case.reference}).content.decode()
    assert "case.opened" in html
    html = client.get(reverse("admin:cases_auditevent_changelist"), {"q": str(case.pk)}).content.decode()
    assert "case.review_started" in html


def test_history_revert_is_disabled(full_scenario, superuser):
    case = full_scenario["case"]
    record = case.history.order_by("history_id").first()
    client = client_for(superuser)
    url = reverse("admin:cases_case_simple_history", args=[case.pk, record.history_id])
    response = client.post(url, {"status": "open"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "pending_approval"
    assert client.get(reverse("admin:cases_case_history", args=[case.pk])).status_code == 200
    assert Override.objects.filter(case=case, status="proposed").exists()
