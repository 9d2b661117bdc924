"""Several workers racing over one portfolio run on PostgreSQL: real threads, real row locks.

Each thread is a worker with its own connection, all released together; they claim chunks
of one run under its row lock and commit them fenced by their leases. The RQ version with
worker processes is ``tests/tasks/test_rq.py``; the interleavings are ``tests/services/test_rescreen_partition.py``.
"""

import datetime

import pytest

from cases.models import Case, CurrentDecision, Decision, ScreenRun, ScreenRunChunk
from cases.services.policy import policy_get_active, policy_publish
from cases.services.rescreen import _open_run, rescreen_portfolio_work
from cases.services.screening import screen_entities
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake

from .conftest import postgres_only, run_concurrently

pytestmark = [pytest.mark.postgres_only, postgres_only, pytest.mark.django_db(transaction=True)]
AS_OF = datetime.date(2026, 6, 1)


def test_four_workers_share_one_run_and_decide_each_entity_once(seeded):
    companies = [EntityFactory() for _ in range(40)]
    for company in companies:
        stake(PersonFactory(nationalities=["GB"]), company, 60)
    for company in companies[::8]:
        CustomerFactory(entity=company)
    screen_entities(as_of=AS_OF)
    policy_publish(user=None, restricted_codes=["CN", "RU", "IR", "KP", "BY", "GB"])  # every decision changes
    run = _open_run(kind="race", as_of=AS_OF, resume=False, chunk_size=3)

    outcomes = run_concurrently(
        *(lambda i=i: rescreen_portfolio_work(run_id=run.pk, worker_id=f"w{i}", wait=True) for i in range(4))
    )
    assert [exc for _, exc in outcomes] == [None] * 4
    assert sum(committed for committed, _ in outcomes) == 14  # ceil(40 / 3) chunks, each committed once
    run.refresh_from_db()
    assert run.status == ScreenRun.Status.FINISHED and run.screened == run.changed == len(companies)
    chunks = list(ScreenRunChunk.objects.filter(run=run).order_by("first_entity_id"))
    assert all(c.attempts == 1 for c in chunks)
    assert all(a.last_entity_id < b.first_entity_id for a, b in zip(chunks, chunks[1:], strict=False))
    policy = policy_get_active()
    assert Decision.objects.filter(policy=policy).count() == len(companies)
    assert CurrentDecision.objects.filter(decision__policy=policy).count() == len(companies)
    assert Case.objects.count() == Case.objects.values("subject").distinct().count() == 5
