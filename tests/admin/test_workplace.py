"""The investigators' workplace: the home page per role, the queue's why-at-a-glance columns, saved filters,
@mentions, and the admin in Simplified Chinese — each with a bounded number of queries."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import (
    AuditEvent,
    CaseMention,
    EntityIdentifier,
    RestrictedList,
    RestrictedListIdentifier,
    RestrictedListMember,
    SavedQueueFilter,
)
from cases.services import cases as case_services
from cases.services import overrides as override_services
from cases.services.exemptions import exemption_approve, exemption_request
from cases.services.screening import screen_entities

from .conftest import client_for

pytestmark = pytest.mark.django_db


def test_home_page_for_an_investigator_lists_their_queues(scenario, investigator):
    case = case_services.case_assign_to_me(case=scenario["case"], actor=investigator)
    html = client_for(investigator).get(reverse("admin:index")).content.decode()
    assert 'data-testid="tile-mine"' in html and case.reference in html
    assert 'data-testid="tile-pending"' not in html  # investigators approve nothing
    assert "Administration" in html and "Decision change events" in html


def test_home_page_for_a_manager_shows_what_waits_for_their_approval(scenario, investigator, manager):
    case = case_services.case_start_review(case=scenario["case"], actor=investigator)
    override_services.override_propose(case=case, outcome="allow", reason="sold", actor=investigator)
    response = client_for(manager).get(reverse("admin:index"))
    home = response.context["home"]
    assert home.counts["pending_me"] == 1 and [c.pk for c in home.pending_me] == [case.pk]
    assert 'data-testid="tile-pending"' in response.content.decode()


def test_home_page_lists_exemptions_expiring_within_30_days(scenario, investigator, manager):
    exemption = exemption_request(
        entity=scenario["subject"],
        reason="Licence",
        expires_on=timezone.localdate() + datetime.timedelta(days=10),
        actor=investigator,
    )
    exemption_approve(exemption=exemption, actor=manager)
    home = client_for(investigator).get(reverse("admin:index")).context["home"]
    assert home.expiring_count == 1 and home.expiring[0].pk == exemption.pk


def test_home_page_query_count_is_constant(scenario, investigator, django_assert_max_num_queries):
    client = client_for(investigator)
    client.get(reverse("admin:index"))
    with django_assert_max_num_queries(16):
        assert client.get(reverse("admin:index")).status_code == 200


def test_queue_shows_the_restricted_share_per_method_and_the_countries(scenario, investigator):
    html = client_for(investigator).get(reverse("admin:cases_case_changelist")).content.decode()
    assert "LT 44.00 % – 48.00 %" in html and "CC 80.00 % – 80.00 %" in html  # the cycle adds 5 % of H, unknown
    assert '<span class="cs-chip cs-chip--restricted">CN</span>' in html
    assert "due in" in html


def list_entity(entity, list_code: str, lei: str) -> RestrictedList:
    """Put ``entity`` on the seeded list ``list_code`` by its LEI, as a list import would."""
    restricted_list = RestrictedList.objects.get(code=list_code)
    restricted_list.version = "2024-03-01"
    restricted_list.save()
    EntityIdentifier.objects.create(entity=entity, scheme="XI-LEI", value=lei)
    member = RestrictedListMember.objects.create(restricted_list=restricted_list, record_id=lei, name=entity.name)
    RestrictedListIdentifier.objects.create(member=member, scheme="XI-LEI", value=lei)
    return restricted_list


@pytest.fixture
def listed_holding(scenario):
    """H GmbH (DE, owning 80 % of the subject) on the Commerce Entity List: the subject is re-screened."""
    restricted_list = list_entity(scenario["holding"], "us-bis-entity-list", "5493007LISTEDPLC0085")
    screen_entities(trigger="ownership_change")
    return restricted_list


def test_queue_shows_the_restricted_lists_the_decision_names(scenario, listed_holding, investigator):
    html = client_for(investigator).get(reverse("admin:cases_case_changelist")).content.decode()
    chip = '<span class="cs-chip cs-chip--list" title="US Commerce Entity List (2024-03-01)">us-bis-entity-list</span>'
    assert chip in html
    assert "us-ofac-sdn</span>" not in html


def test_queue_filters_by_restricted_list(scenario, listed_holding, investigator):
    client = client_for(investigator)
    url = reverse("admin:cases_case_changelist")
    listed = client.get(url, {"restricted_list": "us-bis-entity-list"}).context["cl"].result_list
    assert [case.pk for case in listed] == [scenario["case"].pk]
    assert not client.get(url, {"restricted_list": "us-ofac-sdn"}).context["cl"].result_list
    assert not client.get(url, {"restricted_list": "no-such-list"}).context["cl"].result_list


def test_queue_without_list_reasons_shows_no_lists(scenario, investigator):
    html = client_for(investigator).get(reverse("admin:cases_case_changelist")).content.decode()
    assert "cs-chip--list" not in html


def test_queue_query_count_does_not_grow_with_listed_cases(
    scenario, listed_holding, investigator, django_assert_max_num_queries
):
    """Ten more customers of the listed holding, each with its own case: the page's queries stay the same."""
    from tests.factories import CustomerFactory, EntityFactory, stake

    client = client_for(investigator)
    url = reverse("admin:cases_case_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as one_case:
        client.get(url)
    queries_for_one_case = len(one_case)  # now: screening below floods the connection's query log
    for i in range(10):
        other = EntityFactory(name=f"Other customer {i}", external_id=f"other-{i}", jurisdiction_id="GB")
        CustomerFactory(entity=other, customer_reference=f"CUST-{i}")
        stake(scenario["holding"], other, 60)
    screen_entities(trigger="onboarding")
    response = client.get(url)
    assert response.content.decode().count("cs-chip--list") == 11
    with django_assert_max_num_queries(queries_for_one_case):
        client.get(url)


def test_queue_sorts_by_the_control_chain_share(scenario, investigator):
    response = client_for(investigator).get(reverse("admin:cases_case_changelist") + "?o=3")
    assert response.status_code == 200


def test_saved_filter_round_trip_is_audited(scenario, investigator):
    client = client_for(investigator)
    url = reverse("admin:cases_case_saved_filters")
    client.post(url, {"name": "My blocks", "query": "queue=mine&outcome=block&p=3"})
    saved = SavedQueueFilter.objects.get(user=investigator)
    assert saved.query == "queue=mine&outcome=block"  # the page number is not part of a filter
    assert AuditEvent.objects.filter(action="queue_filter.saved", actor_label="ivy").exists()
    html = client.get(reverse("admin:cases_case_changelist")).content.decode()
    assert 'data-saved-filter="My blocks"' in html
    client.post(url, {"delete": saved.pk})
    assert not SavedQueueFilter.objects.exists()


def test_saving_a_filter_without_a_name_is_refused_with_a_message(scenario, investigator):
    response = client_for(investigator).post(reverse("admin:cases_case_saved_filters"), {"name": " ", "query": ""})
    assert any("name" in str(m) for m in get_messages(response.wsgi_request))
    assert not SavedQueueFilter.objects.exists()


def test_a_mention_notifies_the_colleague_until_they_read_it(scenario, investigator, manager):
    case = scenario["case"]
    case_services.case_add_note(case=case, text="@mona can you check the CN stake? cc @nobody-here", actor=investigator)
    mention = CaseMention.objects.get()
    assert mention.user == manager and mention.read_at is None
    event = AuditEvent.objects.filter(action="case.note_added").latest("seq")
    assert event.after["mentions"] == ["mona"]
    client = client_for(manager)
    assert client.get(reverse("admin:index")).context["home"].mentions == [mention]
    assert "You were mentioned" in client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    client.post(reverse("admin:cases_case_do", args=[case.pk, "mentions-read"]))
    mention.refresh_from_db()
    assert mention.read_at is not None
    assert client.get(reverse("admin:index")).context["home"].mentions == []


def test_case_page_timeline_merges_notes_audit_and_decisions_in_words(scenario, investigator):
    case = scenario["case"]
    case_services.case_add_note(case=case, text="Looked at the register.", actor=investigator)
    response = client_for(investigator).get(reverse("admin:cases_case_change", args=[case.pk]))
    kinds = [entry["kind"] for entry in response.context["timeline"]]
    assert {"note", "case", "decision"} <= set(kinds)
    html = response.content.decode()
    assert "Case opened" in html and "<code>case.opened</code>" not in html


def test_case_page_assignee_select_is_labelled(scenario, manager):
    html = client_for(manager).get(reverse("admin:cases_case_change", args=[scenario["case"].pk])).content.decode()
    assert "Choose an investigator…" in html and 'aria-label="Assign to"' in html
    assert "---------" not in html


def test_the_admin_speaks_simplified_chinese(scenario, investigator):
    client = client_for(investigator)
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "合规工作台" in html and "我的未结案件" in html
    client.post(reverse("set_language"), {"language": "en-gb", "next": "/admin/"})
    assert "My open cases" in client.get(reverse("admin:index")).content.decode()


def test_the_queue_in_simplified_chinese_translates_badges_statuses_and_model_names(scenario, investigator):
    html = (
        client_for(investigator)
        .get(reverse("admin:cases_case_changelist"), HTTP_ACCEPT_LANGUAGE="zh-CN")
        .content.decode()
    )
    assert '<span class="cs-badge cs-badge--block" title="">阻止</span>' in html
    assert '<span class="cs-status cs-status--open">待处理</span>' in html
    assert "普通" in html and "客户准入" in html  # priority and trigger labels
    assert "受限国家 · 名单" in html and "受限名单" in html  # the lists column and filter
    assert "<title>选择案件查看" in html  # the model's verbose name, translated inside Django's own phrase
    assert ">Block<" not in html and ">Open<" not in html


def test_home_page_lists_nothing_a_user_may_not_view(scenario, staff_without_perms):
    response = client_for(staff_without_perms).get(reverse("admin:index"))
    assert response.status_code == 200
    home = response.context["home"]
    assert home.counts["open"] == 0 and not home.overdue and not home.recent_changes
    assert scenario["case"].reference not in response.content.decode()
