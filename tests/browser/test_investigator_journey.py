"""The investigator's journey in a real browser: find a blocked customer, see why, propose an override;
a manager approves it; the audit trail shows both. Screenshots for docs/investigator-guide.md."""

import io
import re

import pytest
from django.core.management import call_command

from cases.models import Case, CaseStatus, Entity, Override, OverrideStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct-horse-battery-staple"


def load_demo():
    """The demo data set exactly as `make run` loads it, with its demo users (password: PASSWORD)."""
    call_command("setup_demo", password=PASSWORD, stdout=io.StringIO())
    return Entity.objects.get(external_id="demo-ex3-s")  # spec example 3: blocked by the control chain only


def login(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def logout(page):
    page.click("#logout-form button")
    page.wait_for_load_state()


def test_blocked_customer_override_four_eyes_and_audit(live_server, audit_flushable, page, screenshot):
    subject = load_demo()
    case = Case.objects.get(subject=subject)
    investigator, manager = "investigator", "manager"

    # 1. The investigator finds the blocked customers, then this one.
    login(page, live_server, investigator)
    page.goto(f"{live_server.url}/admin/cases/customer/")
    page.get_by_role("link", name="Block", exact=True).first.click()
    page.wait_for_url(re.compile(r"outcome=block"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() > 1
    assert "CUST-EX03" in page.locator("#result_list").inner_text()
    screenshot(page, "01-blocked-customers")
    page.fill("#searchbar", "CUST-EX03")
    page.locator("#changelist-search input[type=submit]").click()
    assert rows.count() == 1

    # 2. … opens its entity, then its case, and sees why: both intervals, the paths and the graph.
    rows.first.get_by_role("link", name="Example 3 Subject GmbH").click()
    page.get_by_role("link", name=re.compile(r"Case SC-")).click()
    decision = page.locator("#decision")
    assert "44.00 % – 44.00 %" in decision.inner_text()
    assert "80.00 % – 80.00 %" in decision.inner_text()
    assert "Example 3 Owner Co., Ltd. —55%→ Example 3 Holding GmbH —80%→ Example 3 Subject GmbH" in (
        decision.inner_text()
    )
    screenshot(page, "02-case-why")
    page.click("#tab-graph-label")  # the graph is drawn when its tab is first shown
    page.wait_for_selector("[data-graph-ready=true]")
    assert page.locator("#graph canvas").count() > 0
    assert "5 parties, 4 relationships" in page.locator("[data-graph-status]").inner_text()
    screenshot(page, "02b-case-graph")
    page.click("#tab-why-label")

    # 3. … takes the case and proposes an override to allow, with a reason.
    page.get_by_role("button", name="Start review").click()
    page.wait_for_selector("#override-form")
    page.select_option("#override-outcome", "allow")
    page.fill(
        "#override-reason",
        "Example 3 Owner Co. sold its 55 % stake in Example 3 Holding GmbH on 2026-10-01 (Handelsregister "
        "extract attached); "
        "the register has not been updated yet.",
    )
    screenshot(page, "03-propose-override", locator=page.locator("#decide"))
    page.get_by_role("button", name="Propose override").click()
    page.wait_for_selector(".messagelist .success")
    assert "four-eyes" in page.locator(".messagelist").inner_text()
    assert "Pending approval" in page.locator(".cs-casehead").inner_text()
    # The proposer gets no approve button (and the service would refuse a forged POST).
    assert page.get_by_role("button", name="Approve override").count() == 0
    logout(page)

    # 4. The manager sees it in "Pending my approval" and approves it.
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/admin/cases/case/")
    tab = page.locator("[data-queue=pending_me]")
    assert tab.locator(".cs-queue__count").inner_text() == "1"
    tab.click()
    page.wait_for_url(re.compile(r"queue=pending_me"))
    screenshot(page, "04-manager-queue")
    page.get_by_role("link", name=case.reference).click()
    page.wait_for_selector("#pending-override")
    page.fill("#approve-note", "Checked the extract; approved.")
    screenshot(page, "05-manager-approves", locator=page.locator("#pending-override"))
    page.get_by_role("button", name="Approve override").click()
    page.wait_for_selector(".messagelist .success")
    assert "Closed" in page.locator(".cs-casehead").inner_text()

    # 5. The audit trail shows the proposal, the approval and the new effective outcome, in words.
    page.click("#tab-history-label")
    trail = page.locator("#audit-trail")
    trail.scroll_into_view_if_needed()
    text = trail.inner_text()
    for action in ("Override proposed", "Override approved", "Override applied", "Case closed by an override"):
        assert action in text
    assert "case.closed_by_override" not in text  # the code is only the tooltip
    assert "Checked the extract; approved." in text  # the manager's comment is in the trail
    assert investigator in text and manager in text
    screenshot(page, "06-audit-trail", locator=trail)

    override = Override.objects.get(case=case)
    assert override.status == OverrideStatus.APPLIED and override.approved_by.username == manager
    assert Case.objects.get(pk=case.pk).status == CaseStatus.CLOSED
