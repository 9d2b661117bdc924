"""Browser tests: Playwright (Python) driving Debian's Chromium against pytest-django's live_server.

No browser is downloaded (never ``playwright install``): CI installs Chromium with
``apt-get install -y chromium``; without /usr/bin/chromium these tests skip.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from
# "async" contexts unless told this is fine (the test drives the browser synchronously).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install it with `apt-get install -y chromium` to run browser tests")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot():
    """``screenshot(page, "01-name")`` saves docs/img/01-name.png only when SAVE_SCREENSHOTS=1."""
    enabled = os.environ.get("SAVE_SCREENSHOTS") == "1"

    def take(page, name: str, *, full_page: bool = False, locator=None) -> None:
        if not enabled:
            return
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        if locator is not None:
            locator.screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=full_page)

    return take


@pytest.fixture
def audit_flushable(transactional_db):
    """Let the transactional test database be flushed afterwards despite the append-only audit triggers.

    PostgreSQL flushes with TRUNCATE, which the triggers deliberately allow. SQLite flushes with DELETE,
    which they abort: there, empty the audit table with the triggers briefly dropped, then restore them.
    """
    yield
    from importlib import import_module

    from django.db import connection

    if connection.vendor != "sqlite":
        return
    triggers = import_module("cases.migrations.0004_audit_append_only_triggers")
    with connection.cursor() as cursor:
        for sql in triggers.SQLITE_BACKWARD:
            cursor.execute(sql)
        cursor.execute("DELETE FROM cases_auditevent")
        for sql in triggers.SQLITE_FORWARD:
            cursor.execute(sql)
