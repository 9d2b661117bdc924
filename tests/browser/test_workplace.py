"""The workplace in a real browser at 1400 px: the home page per role, a queue whose columns all fit,
a relationship form whose interests stay inside it, the case page's tabs and timeline with a mention,
the admin in Simplified Chinese, and dark mode. Screenshots for docs/investigator-guide.md."""

import pytest

from tests.api.conftest import baseline  # noqa: F401  (pytest fixture: seed data after earlier flushes)

from .test_investigator_journey import load_demo, login, logout

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def right_edge(locator) -> float:
    box = locator.bounding_box()
    return box["x"] + box["width"]


def test_home_queue_case_tabs_mentions_language_and_dark_mode(
    live_server,
    baseline,  # noqa: F811
    audit_flushable,
    page,
    screenshot,
):
    from cases.models import Case, Relationship

    subject = load_demo()
    case = Case.objects.get(subject=subject)

    # The investigator's home: queues with counts instead of the model list.
    login(page, live_server, "investigator")
    assert page.locator("[data-testid=tile-mine]").is_visible()
    assert page.locator("#section-administration").is_visible()
    assert page.locator("[data-testid=tile-pending]").count() == 0
    screenshot(page, "07-home-investigator", full_page=True)

    # The queue at 1400 px: every column inside the viewport, subject names not one word a line.
    page.goto(f"{live_server.url}/admin/cases/case/?queue=open")
    width = page.viewport_size["width"]
    assert right_edge(page.locator("#result_list th.column-trigger_short")) <= width
    assert right_edge(page.locator("#result_list th.column-sla")) <= width
    name = page.locator("#result_list .cs-q__subject").first
    assert name.bounding_box()["height"] < 40  # at most two lines
    assert "CC " in page.locator("#result_list td.field-restricted_share").first.inner_text()
    page.fill("#saved-filters input[name=name]", "All open")
    page.get_by_role("button", name="Save current filter").click()
    page.wait_for_selector("[data-saved-filter='All open']")  # after the POST's redirect, however slow
    screenshot(page, "08-queue")

    # The case page: a note mentioning the manager lands on the History tab's timeline.
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    page.click("#tab-history-label")
    page.fill("#note-text", "@manager please look at the CN stake before I propose an override.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#tab-history").is_visible()  # the redirect opened the History tab
    assert "please look at the CN stake" in page.locator(".cs-timeline").inner_text()
    screenshot(page, "09-case-timeline")

    # The relationship form (a data steward): the interests table stays inside the form.
    logout(page)
    login(page, live_server, "admin")
    relationship = Relationship.objects.filter(subject=subject).first()
    page.goto(f"{live_server.url}/admin/cases/relationship/{relationship.pk}/change/")
    form_right = right_edge(page.locator("#relationship_form"))
    assert right_edge(page.locator(".inline-group .tabular")) <= form_right + 1
    logout(page)

    # The manager sees the mention on the home page, in Simplified Chinese.
    login(page, live_server, "manager")
    assert page.locator("#home-mentions").is_visible()
    page.select_option(".cs-language select", "zh-hans")
    page.locator(".cs-language button").click()
    page.wait_for_selector("text=我的未结案件")
    assert page.title().startswith("合规工作台")
    screenshot(page, "10-home-zh-hans")
    page.select_option(".cs-language select", "en-gb")
    page.locator(".cs-language button").click()
    page.wait_for_selector("text=My open cases")

    # Dark mode is kept: the theme toggle still switches the whole workplace.
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/admin/cases/case/?queue=open")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    screenshot(page, "11-queue-dark")


def control_chain_highs(page) -> list[float]:
    """The queue's control-chain upper bounds, top to bottom ("CC 44.00 % – 80.00 %" → 80.0)."""
    cells = page.locator("#result_list td.field-restricted_share").all_inner_texts()
    highs = []
    for text in cells:
        cc = next((line for line in text.splitlines() if line.startswith("CC ")), "")
        highs.append(float(cc.split("–")[-1].strip(" %")) if "–" in cc else -1.0)
    return highs


def test_queue_sorts_by_restricted_share_and_shows_the_lists(
    live_server,
    baseline,  # noqa: F811
    audit_flushable,
    page,
    screenshot,
):
    from cases.models import RestrictedList

    load_demo()
    login(page, live_server, "investigator")
    page.goto(f"{live_server.url}/admin/cases/case/")
    newest_first = page.locator("#result_list .cs-q__ref").all_inner_texts()

    # The restricted-share column sorts on the control chain's upper bound, both ways.
    page.locator("#result_list th.column-restricted_share a").first.click()
    page.wait_for_load_state()
    ascending = control_chain_highs(page)
    assert ascending == sorted(ascending) and ascending[0] < ascending[-1]
    by_share = page.locator("#result_list .cs-q__ref").all_inner_texts()
    assert by_share != newest_first and sorted(by_share) == sorted(newest_first)
    page.locator("#result_list th.column-restricted_share.sorted a.toggle").click()
    page.wait_for_load_state()
    assert control_chain_highs(page) == sorted(ascending, reverse=True)

    # The lists (beside the countries) and every column after them fit at 1400 px, left of the filters;
    # a chip is the list's code, its title the list and the edition loaded.
    filters_left = page.locator("#changelist-filter").bounding_box()["x"]
    assert right_edge(page.locator("#result_list th.column-restricted_countries")) <= filters_left
    assert right_edge(page.locator("#result_list th.column-trigger_short")) <= filters_left
    chip = page.locator("#result_list .cs-chip--list").first
    assert chip.is_visible() and right_edge(chip) <= filters_left
    assert chip.bounding_box()["height"] < 30  # one line: "us-dod-1260h" is not broken at its hyphen
    listed = RestrictedList.objects.get(code=chip.inner_text())
    assert chip.get_attribute("title") == listed.label
    # The filter keeps exactly the cases whose decisions name that list.
    page.goto(f"{live_server.url}/admin/cases/case/?restricted_list={listed.code}&o=-3")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() >= 1
    for row in rows.all():
        assert listed.code in row.locator("td.field-restricted_countries").inner_text()
    screenshot(page, "12-queue-restricted-lists")
