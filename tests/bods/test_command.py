"""``manage.py import_bods``: several files, a summary table, a clear failure, the re-screen hook."""

import re
import sys
import types
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cases.models import Entity, ImportRun

from .builders import entity, person, relationship, write_jsonl

pytestmark = pytest.mark.django_db


def fake_screening(monkeypatch, **attributes):
    """Stand in for cases.services.screening (owned by the screening work), with or without the hook."""
    module = types.ModuleType("cases.services.screening")
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, "cases.services.screening", module)


@pytest.fixture
def hook(monkeypatch):
    calls = []
    fake_screening(monkeypatch, screen_after_import=lambda *, entity_ids: calls.append(set(entity_ids)))
    return calls


def test_imports_each_file_and_prints_a_table(tmp_path, hook):
    one = write_jsonl(tmp_path / "one.jsonl", [entity("e1"), person("p1")])
    two = write_jsonl(tmp_path / "two.jsonl.gz", [relationship("r1", "p1", "e1", 60)], compress=True)
    out = StringIO()
    call_command("import_bods", str(one), str(two), stdout=out)
    text = out.getvalue()
    assert "file" in text and "skipped" in text and "relationships c/u/x" in text
    assert str(one) in text and str(two) in text
    # second file: no entities or persons, one relationship created
    assert re.search(r"two\.jsonl\.gz\s+1\s+1\s+0\s+0/0/0\s+0/0/0\s+1/0/0", text)
    e1 = Entity.objects.get(external_id="e1").pk
    assert hook == [{e1}, {e1}]


def test_invalid_file_stops_with_the_specific_error(tmp_path, hook):
    good = write_jsonl(tmp_path / "good.jsonl", [entity("e1")])
    bad = write_jsonl(tmp_path / "bad.jsonl", [entity("e2"), relationship("r1", "ghost", "e2", 10)])
    with pytest.raises(CommandError) as error:
        call_command("import_bods", str(good), str(bad), stdout=StringIO())
    message = str(error.value)
    assert message.startswith(f"{bad}: statement 2 (statementId ")
    assert "dangling reference to 'ghost'" in message and "nothing from this file was imported" in message
    assert set(Entity.objects.values_list("external_id", flat=True)) == {"e1"}  # the good file stays
    assert ImportRun.objects.get(file_name=str(bad)).status == "failed"
    assert len(hook) == 1


def test_works_without_the_screening_hook(tmp_path, monkeypatch):
    fake_screening(monkeypatch)
    call_command("import_bods", str(write_jsonl(tmp_path / "f.jsonl", [entity("e1")])), stdout=StringIO())
    assert Entity.objects.count() == 1


def test_setup_demo_prints_a_readable_import_summary_and_the_logins():
    out = StringIO()
    call_command("setup_demo", password="demo-pass-1234", stdout=out)
    text = out.getvalue()
    imported = next(line for line in text.splitlines() if line.startswith("Imported demo.bods.jsonl.gz: "))
    assert re.fullmatch(
        r"Imported demo\.bods\.jsonl\.gz: (\d+) statements \(\1 applied, 0 already imported\): "
        r"entities \d+ created, \d+ updated, \d+ closed; persons \d+ created, \d+ updated, \d+ closed; "
        r"relationships \d+ created, \d+ updated, \d+ closed",
        imported,
    ), imported
    assert "ImportSummary(" not in text
    assert re.search(r"login: investigator\s+password: demo-pass-1234", text)


def test_setup_demo_creates_the_integration_user_the_api_guide_issues_a_token_for():
    from django.contrib.auth import get_user_model

    call_command("setup_demo", password="demo-pass-1234", stdout=StringIO())
    billing = get_user_model().objects.get(username="billing")
    assert billing.groups.filter(name="Integration").exists()
    assert not billing.is_staff and not billing.has_usable_password()
    out = StringIO()
    call_command("create_api_token", "billing-prod", user="billing", scopes="read,write", stdout=out)
    assert "." in out.getvalue().strip()
