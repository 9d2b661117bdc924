"""The content security policy breaks nothing: no CSP violation on the admin login, the admin index and a
changelist, the case page (the ownership graph renders), its field history, an admin add form, and the Swagger UI
at /api/docs/."""

import pytest

from cases.models import Case
from cases.services.screening import screen_entities
from tests.api.conftest import baseline  # noqa: F401  (pytest fixture: seed data after earlier flushes)
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, UserFactory, stake

PASSWORD = "correct-horse-battery-staple"  # tests.factories.UserFactory


def build_portfolio():
    """A customer blocked through a CN holding (so the case page has a graph with a restricted party)."""
    cn = EntityFactory(name="CN Holdco", external_id="cn-holdco", jurisdiction_id="CN")
    holding = EntityFactory(name="H GmbH", external_id="h-gmbh", jurisdiction_id="DE")
    subject = EntityFactory(name="Subject Trading Ltd", external_id="subject-s", jurisdiction_id="GB")
    CustomerFactory(entity=subject, customer_reference="CUST-1001")
    stake(cn, holding, 55)
    stake(PersonFactory(name="Hanna Keller"), holding, 45)
    stake(holding, subject, 80)
    stake(PersonFactory(name="Sam Clean"), subject, 20)
    screen_entities(trigger="onboarding")
    return subject


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Every violation fires a securitypolicyviolation event (Chromium also logs a console error, below).
LISTEN = """document.addEventListener('securitypolicyviolation', e =>
  console.error(`CSP-VIOLATION ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""


def csp_messages(messages: list[str]) -> list[str]:
    return [m for m in messages if "CSP-VIOLATION" in m or "Content Security Policy" in m]


def test_no_csp_violations(live_server, baseline, audit_flushable, page):  # noqa: F811
    subject = build_portfolio()
    UserFactory(username="root", is_superuser=True, is_staff=True)
    case = Case.objects.get(subject=subject)
    messages: list[str] = []
    page.add_init_script(LISTEN)
    page.on("console", lambda m: messages.append(f"{page.url} {m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"{page.url} pageerror: {e}"))

    response = page.goto(f"{live_server.url}/admin/login/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    page.goto(f"{live_server.url}/admin/cases/case/")  # changelist: actions.js, filters
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/admin/auth/user/add/")  # change_form.js, prepopulated fields, jsi18n
    page.wait_for_load_state("networkidle")

    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/#tab-graph")  # the graph's tab: it draws
    page.wait_for_selector(".cs-graph canvas", state="attached")  # cytoscape drew the graph
    page.wait_for_load_state("networkidle")

    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/history/")  # simple-history's page
    page.wait_for_load_state("networkidle")

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI rendered the operations
    page.wait_for_load_state("networkidle")

    assert csp_messages(messages) == [], "\n".join(messages)
    assert not [m for m in messages if "pageerror" in m], "\n".join(messages)
