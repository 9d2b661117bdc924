"""Case work through the admin: constant query counts, action permissions, four-eyes that cannot be bypassed."""

import datetime

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, CaseStatus, Entity, Override, OverrideStatus
from cases.services import cases as case_services
from cases.services import overrides as override_services

from .conftest import client_for, reload

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def do(client, case, action, **data):
    return client.post(reverse("admin:cases_case_do", args=[case.pk, action]), data)


# ------------------------------------------------------------------ query counts


@pytest.fixture
def ten_thousand_cases(db, investigator):
    now = timezone.now()
    entities = Entity.objects.bulk_create(
        [Entity(external_id=f"bulk-{i}", name=f"Bulk {i} Ltd", jurisdiction_id="GB") for i in range(10_000)],
        batch_size=2000,
    )
    Case.objects.bulk_create(
        [
            Case(
                reference=f"SC-2026-{i + 1:06d}",
                subject=entity,
                trigger="periodic",
                priority="normal",
                due_at=now + datetime.timedelta(days=i % 7 - 3),
                assignee=investigator if i % 3 == 0 else None,
                created_at=now - datetime.timedelta(minutes=i),
            )
            for i, entity in enumerate(entities)
        ],
        batch_size=2000,
    )
    assert Case.objects.count() == 10_000


@pytest.mark.parametrize("query", ["", "?queue=mine", "?queue=overdue", "?status__exact=open&priority__exact=normal"])
def test_case_changelist_with_10k_cases_has_bounded_queries(
    ten_thousand_cases, investigator, django_assert_max_num_queries, query
):
    client = client_for(investigator)
    url = reverse("admin:cases_case_changelist") + query
    client.get(url)  # warm caches (content types, permissions)
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.status_code == 200
    assert "Bulk" in response.content.decode()


def test_restricted_list_filter_with_10k_cases_has_bounded_queries(
    ten_thousand_cases, investigator, django_assert_max_num_queries
):
    client = client_for(investigator)
    url = reverse("admin:cases_case_changelist") + "?restricted_list=us-ofac-sdn"
    client.get(url)
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.status_code == 200 and not response.context["cl"].result_list  # no decision names the list


def test_entity_and_customer_changelists_have_bounded_queries(
    ten_thousand_cases, investigator, django_assert_max_num_queries
):
    client = client_for(investigator)
    for name in ("entity", "decision", "relationship", "customer", "override"):
        url = reverse(f"admin:cases_{name}_changelist")
        client.get(url)
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200


def test_case_page_query_count_does_not_grow_with_notes(scenario, investigator, django_assert_max_num_queries):
    case = scenario["case"]
    client = client_for(investigator)
    url = reverse("admin:cases_case_change", args=[case.pk])
    client.get(url)
    with django_assert_max_num_queries(60) as few:
        client.get(url)
    for i in range(15):
        case_services.case_add_note(case=case, text=f"note {i}", actor=investigator) if i else None
        case_services.case_start_review(case=case, actor=investigator) if i == 0 else None
    with django_assert_max_num_queries(len(few.captured_queries) + 2):
        client.get(url)


# ------------------------------------------------------------------ work queue and bulk actions


def test_work_queue_counts(scenario, investigator, manager):
    client = client_for(investigator)
    html = client.get(reverse("admin:cases_case_changelist")).content.decode()
    assert "Work queue" in html and 'data-queue="unassigned"' in html
    assert "Pending my approval" not in html  # investigators do not approve
    assert "Pending my approval" in client_for(manager).get(reverse("admin:cases_case_changelist")).content.decode()


def _action(client, action, cases, **extra):
    data = {"action": action, "_selected_action": [c.pk for c in cases], "index": 0, **extra}
    return client.post(reverse("admin:cases_case_changelist"), data)


def test_bulk_assign_to_me_confirms_then_calls_the_service(scenario, investigator):
    case = scenario["case"]
    client = client_for(investigator)
    confirm = _action(client, "assign_to_me", [case])
    assert confirm.status_code == 200 and b"Yes, do it" in confirm.content
    assert reload(case).assignee_id is None
    done = _action(client, "assign_to_me", [case], confirm="yes")
    assert done.status_code == 302
    assert reload(case).assignee_id == investigator.pk


def test_bulk_assign_to_needs_assign_permission(scenario, investigator, investigator2, manager):
    case = scenario["case"]
    refused = _action(client_for(investigator), "assign_to", [case], confirm="yes", user=investigator2.pk)
    assert refused.status_code in (200, 302)
    assert reload(case).assignee_id is None
    assert b"Yes, do it" not in refused.content
    client = client_for(manager)
    assert _action(client, "assign_to", [case]).status_code == 200  # confirmation page with the user choice
    _action(client, "assign_to", [case], confirm="yes", user=investigator2.pk)
    assert reload(case).assignee_id == investigator2.pk


def test_auditor_cannot_run_actions(scenario, auditor):
    case = scenario["case"]
    response = _action(client_for(auditor), "assign_to_me", [case], confirm="yes")
    assert response.status_code in (200, 302)
    assert reload(case).assignee_id is None


def test_bulk_rescreen(scenario, investigator):
    case = scenario["case"]
    client = client_for(investigator)
    assert _action(client, "rescreen_subjects", [case]).status_code == 200
    response = _action(client, "rescreen_subjects", [case], confirm="yes")
    assert response.status_code == 302
    assert any("Re-screened 1 subject" in m for m in messages_of(response))


# ------------------------------------------------------------------ the case page: investigator → manager


def test_case_page_workflow_and_four_eyes(scenario, investigator, manager, manager2):
    case = scenario["case"]
    inv = client_for(investigator)
    assert do(inv, case, "start").status_code == 302
    assert reload(case).status == CaseStatus.IN_REVIEW
    response = do(inv, case, "propose", outcome="allow", reason="")
    assert any("reason" in m for m in messages_of(response))
    do(inv, case, "propose", outcome="allow", reason="CN Holdco sold its stake in H GmbH (register extract).")
    case = reload(case)
    assert case.status == CaseStatus.PENDING_APPROVAL
    override = Override.objects.get(case=case)

    # The investigator cannot approve (no permission): a clear message, no 500, no change.
    response = do(inv, case, "approve", override=override.pk)
    assert response.status_code == 302
    assert any(m.startswith("Not allowed") for m in messages_of(response))
    assert reload(override).status == OverrideStatus.PROPOSED

    # The manager approves.
    response = do(client_for(manager), case, "approve", override=override.pk, note="Checked the extract.")
    assert any("approved" in m for m in messages_of(response))
    assert reload(override).status == OverrideStatus.APPLIED
    case = reload(case)
    assert case.status == CaseStatus.CLOSED and case.outcome == "allow"


def test_four_eyes_direct_post_by_the_proposer_is_refused(scenario, manager, manager2):
    case = scenario["case"]
    case_services.case_start_review(case=case, actor=manager)
    override = override_services.override_propose(case=case, outcome="allow", reason="licensed", actor=manager)
    client = client_for(manager)
    page = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert 'name="approve"' not in page  # no button for the proposer …
    response = do(client, case, "approve", override=override.pk)  # … and a forged POST is refused
    assert response.status_code == 302
    assert any("Four-eyes" in m for m in messages_of(response))
    assert reload(override).status == OverrideStatus.PROPOSED
    assert reload(case).status == CaseStatus.PENDING_APPROVAL
    assert (
        'name="approve"'
        in client_for(manager2).get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    )


def test_four_eyes_bulk_approve_by_the_proposer_is_refused(scenario, manager):
    case = scenario["case"]
    case_services.case_start_review(case=case, actor=manager)
    override = override_services.override_propose(case=case, outcome="allow", reason="licensed", actor=manager)
    data = {"action": "approve_selected", "_selected_action": [override.pk], "index": 0, "confirm": "yes"}
    response = client_for(manager).post(reverse("admin:cases_override_changelist"), data)
    assert response.status_code == 302
    assert any("Four-eyes" in m for m in messages_of(response))
    assert reload(override).status == OverrideStatus.PROPOSED
    assert reload(case).status == CaseStatus.PENDING_APPROVAL


def test_superuser_cannot_bypass_four_eyes_either(scenario, superuser):
    case = scenario["case"]
    case_services.case_start_review(case=case, actor=superuser)
    override = override_services.override_propose(case=case, outcome="allow", reason="licensed", actor=superuser)
    response = do(client_for(superuser), case, "approve", override=override.pk)
    assert any("Four-eyes" in m for m in messages_of(response))
    assert reload(override).status == OverrideStatus.PROPOSED


def test_unknown_action_and_get_are_harmless(scenario, investigator):
    case = scenario["case"]
    client = client_for(investigator)
    assert client.get(reverse("admin:cases_case_do", args=[case.pk, "approve"])).status_code == 302
    response = do(client, case, "explode")
    assert response.status_code == 302 and any("Unknown" in m for m in messages_of(response))


def test_case_admin_has_no_add_change_delete(scenario, superuser):
    case = scenario["case"]
    client = client_for(superuser)
    assert client.get(reverse("admin:cases_case_add")).status_code == 403
    assert client.post(reverse("admin:cases_case_delete", args=[case.pk]), {"post": "yes"}).status_code == 403
    model_admin = admin.site._registry[Case]
    assert "delete_selected" not in model_admin.get_actions(client.get("/").wsgi_request)


def test_evidence_link_and_note(scenario, investigator):
    case = scenario["case"]
    client = client_for(investigator)
    do(client, case, "note", text="Called the customer.")
    do(client, case, "link", url="https://register.example/h-gmbh", description="register")
    response = do(client, case, "link", url="javascript:alert(1)")
    assert messages_of(response)  # a validation message, not a 500
    assert case.notes.filter(text="Called the customer.").exists()
    assert case.evidence.filter(url="https://register.example/h-gmbh").count() == 1


def test_policy_publish_through_the_admin(scenario, manager, investigator):
    from cases.models import ScreeningPolicy

    active = ScreeningPolicy.objects.get(is_active=True)
    client = client_for(manager)
    assert client.get(reverse("admin:cases_screeningpolicy_add")).status_code == 200
    data = {
        "restricted_jurisdictions": ["CN", "RU"],
        "threshold": "25",
        "method": "strictest",
        "count_nationality": "on",
        "count_residence": "on",
        "count_tax_residence": "on",
        "notes": "Lower threshold after the 2026 guidance.",
    }
    response = client.post(reverse("admin:cases_screeningpolicy_add"), data)
    assert response.status_code == 302
    new = ScreeningPolicy.objects.get(is_active=True)
    assert new.version == active.version + 1 and new.created_by == manager
    assert set(new.restricted_jurisdictions.values_list("code", flat=True)) == {"CN", "RU"}
    assert ScreeningPolicy.objects.filter(pk=active.pk, is_active=False).exists()
    # Existing versions are read-only; investigators cannot publish.
    assert client.post(reverse("admin:cases_screeningpolicy_change", args=[active.pk]), data).status_code == 403
    assert client_for(investigator).post(reverse("admin:cases_screeningpolicy_add"), data).status_code == 403
