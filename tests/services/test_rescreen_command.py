"""``manage.py screen --all``: streamed JSON, checkpointed runs, ``--resume``."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from cases.models import ScreenRun
from cases.services.rescreen import rescreen_portfolio
from tests.factories import EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio():
    entities = [EntityFactory(external_id=f"E{i}") for i in range(5)]
    stake(PersonFactory(nationalities=["CN"]), entities[0], 70)
    for owner, owned in zip(entities, entities[1:], strict=False):
        stake(owner, owned, 60)
    return entities


def run(*args) -> str:
    out = io.StringIO()
    call_command("screen", *args, stdout=out)
    return out.getvalue()


def test_all_json_prints_every_decision_object(portfolio):
    payloads = json.loads(run("--all", "--json", "--chunk-size", "2", "--as-of", "2026-11-25"))
    assert [p["entity"] for p in payloads] == [f"E{i}" for i in range(5)]
    assert all(p["outcome"] == "block" and p["as_of"] == "2026-11-25" for p in payloads)
    assert set(payloads[0]) >= {"entity", "outcome", "as_of", "policy_version", "methods", "reasons", "paths"}
    assert ScreenRun.objects.get().status == ScreenRun.Status.FINISHED


def test_resume_continues_after_the_last_finished_chunk(portfolio):
    killed = rescreen_portfolio(kind="manual", chunk_size=2, stop_after_chunks=1)
    payloads = json.loads(run("--all", "--resume", "--json", "--chunk-size", "2"))
    assert [p["entity"] for p in payloads] == ["E2", "E3", "E4"]
    killed.refresh_from_db()
    assert killed.status == ScreenRun.Status.FINISHED and killed.screened == 5


def test_table_output_and_argument_checks(portfolio):
    assert "Screened 5 entities" in run("--all")
    assert "E0" in run("E0")
    with pytest.raises(CommandError):
        run("E0", "--resume")
    with pytest.raises(CommandError):
        run()
