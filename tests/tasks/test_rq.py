"""The RQ task backend (``TASKS_BACKEND=rq``) keeps the database backend's exactly-once guarantees.

Real RQ workers (``manage.py run_worker``, which runs django-rq's ``rqworker`` with
django-tasks-rq's job class) run as separate processes against Redis and the test
database: enqueue on commit, a worker SIGKILLed mid-job, a job run twice, two
workers racing over one portfolio run. Each test takes seconds.

Needs Redis at ``RQ_TEST_URL`` (default ``redis://127.0.0.1:6379/15``; the test
flushes that database index) and PostgreSQL (the workers are other processes, which
cannot see SQLite's in-memory test database). Without Redis the tests skip, except
under CI (``CI=true``), where they fail: ``.ci/run`` starts Redis.
"""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from cases.models import (
    Case,
    CurrentDecision,
    Decision,
    DecisionChangeEvent,
    Entity,
    RescreenRequest,
    ScreenRun,
    ScreenRunChunk,
)
from cases.services.policy import policy_get_active, policy_publish
from cases.services.screening import screen_entities
from cases.tasks import periodic, screening
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake
from tests.reliability.conftest import pg_admin_url, seeded  # noqa: F401 - the fixture is used below

REPO = Path(__file__).resolve().parents[2]
RQ_URL = os.environ.get("RQ_TEST_URL", "redis://127.0.0.1:6379/15")
QUEUES = ["default", "screening", "webhooks"]
RESTRICT_GB = ["CN", "RU", "IR", "KP", "BY", "GB"]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="RQ workers are separate processes: they need a server database (SQLite's test database is in memory)",
)


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(RQ_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        message = f"Redis is not reachable at {RQ_URL} ({exc}); .ci/run starts it (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return client


@pytest.fixture
def rq(seeded):  # noqa: F811 - the imported fixture
    """This process enqueues through RQ; ``rq.start()`` starts worker processes, stopped afterwards."""
    client = _redis_or_skip()
    client.flushdb()
    rq_settings = {
        "TASKS": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": QUEUES}},
        "RQ_QUEUES": {name: {"URL": RQ_URL, "DEFAULT_TIMEOUT": 600} for name in QUEUES},
    }
    workers = Workers(client)
    with override_settings(**rq_settings):
        yield workers
    workers.stop_all()
    client.flushdb()


class Workers:
    def __init__(self, client):
        self.redis = client
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": pg_admin_url(connection.settings_dict["NAME"]),
            "DJANGO_SETTINGS_MODULE": "compliance.settings_test",
            "TASKS_BACKEND": "rq",
            "RQ_URL": RQ_URL,
            "PORTFOLIO_CHUNK": "5",
            "PORTFOLIO_WHOLE_GRAPH_CHUNK": "5",  # one worker takes the whole-graph path
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *, burst: bool = False, **env) -> subprocess.Popen:
        args = [sys.executable, "manage.py", "run_worker", "--no-scheduler"] + (["--batch"] if burst else [])
        proc = subprocess.Popen(  # noqa: S603 - our own manage.py
            args,
            cwd=REPO,
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, for SIGTERM at the end
        )
        self.procs.append(proc)
        return proc

    def drain(self, **env) -> None:
        """A burst worker: run everything queued (and scheduled), then exit."""
        proc = self.start(burst=True, **env)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]

    def wait_registered(self, count: int) -> None:
        from rq import Worker

        wait_for(lambda: len(Worker.all(connection=self.redis)) >= count, what=f"{count} RQ workers to register")

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its work horse (RQ runs each job in a forked child in its own session)."""
        assert proc.poll() is None, "the worker finished before it could be killed: make the workload larger"
        for pid in [*children(proc.pid), proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(predicate, *, what: str, timeout: float = 60, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


def queued(name: str) -> int:
    import django_rq

    return django_rq.get_queue(name).count


def build_portfolio(rq, companies: int) -> list[Entity]:
    """Companies owned 60 % by GB persons, screened, a customer among every ten; nothing left queued."""
    with transaction.atomic():
        entities = [EntityFactory() for _ in range(companies)]
        for entity in entities:
            stake(PersonFactory(nationalities=["GB"]), entity, 60)
        for entity in entities[::10]:
            CustomerFactory(entity=entity)
    screen_entities(trigger="onboarding")
    RescreenRequest.objects.all().delete()  # the fixture's own writes were screened just above
    rq.redis.flushdb()
    return entities


def customer_owned_by_a_gb_person(rq):
    person = PersonFactory(nationalities=["GB"])
    customer = CustomerFactory()
    stake(person, customer.entity, 80)
    screen_entities(trigger="onboarding")
    RescreenRequest.objects.all().delete()
    rq.redis.flushdb()
    return person, customer


def assert_one_decision_each_under_the_new_policy(entities: int) -> None:
    policy = policy_get_active()
    assert Decision.objects.filter(policy=policy).count() == entities
    assert CurrentDecision.objects.filter(decision__policy=policy).count() == entities
    events = DecisionChangeEvent.objects.filter(decision__policy=policy)
    assert events.count() == events.values("decision").distinct().count()  # no effect repeated
    assert Case.objects.count() == Case.objects.values("subject").distinct().count()


def test_a_committed_change_enqueues_one_job_and_a_worker_applies_it(rq):
    person, customer = customer_owned_by_a_gb_person(rq)

    with transaction.atomic():  # rolled back: neither the request nor a job
        person.nationalities = ["RU"]
        person.save()
        transaction.set_rollback(True)
    assert queued("screening") == 0 and not RescreenRequest.objects.exists()

    with transaction.atomic():
        person.nationalities = ["RU"]
        person.save()
        assert queued("screening") == 0  # nothing is sent before the commit
    assert queued("screening") == 1

    rq.drain()
    assert not RescreenRequest.objects.exists()
    assert CurrentDecision.objects.get(entity=customer.entity).outcome == "block"
    assert Case.objects.filter(subject=customer.entity).count() == 1


def test_a_job_run_twice_changes_nothing_the_second_time(rq):
    import django_rq
    from django_tasks_rq import Job

    person, customer = customer_owned_by_a_gb_person(rq)
    decisions, events = Decision.objects.count(), DecisionChangeEvent.objects.count()
    person.nationalities = ["RU"]
    person.save()  # commits (autocommit): one request, one job
    duplicate = screening.process_rescreen_requests.enqueue()  # a second delivery of the same work
    rq.drain()
    first = screening.process_rescreen_requests.get_result(duplicate.id)
    assert first.status == "SUCCESSFUL" and first.return_value["requests"] == 0

    # The same RQ job delivered again (at-least-once: a retry, a requeue by an operator).
    job = Job.fetch(duplicate.id, connection=django_rq.get_connection("screening"))
    django_rq.get_queue("screening", job_class=Job).enqueue_job(job)
    rq.drain()
    assert Decision.objects.count() == decisions + 1  # the customer's company only, once
    assert DecisionChangeEvent.objects.count() == events + 1
    assert Case.objects.filter(subject=customer.entity).count() == 1


def test_a_worker_killed_mid_job_loses_nothing_and_the_sweep_completes_it(rq):
    entities = build_portfolio(rq, 120)
    worker = rq.start()
    rq.wait_registered(1)
    policy_publish(user=None, restricted_codes=RESTRICT_GB)  # a policy change: one all-entities request
    wait_for(
        lambda: ScreenRunChunk.objects.filter(finished_at__isnull=False).count() >= 3,
        what="three committed chunks",
        poll=0.02,
    )
    rq.kill(worker)
    run = ScreenRun.objects.get()
    assert run.status == ScreenRun.Status.RUNNING and run.screened < len(entities)
    # Committed chunks are complete and nothing else is: decisions exist exactly for finished ranges.
    finished = ScreenRunChunk.objects.filter(run=run, finished_at__isnull=False)
    in_finished = sum(Entity.objects.filter(pk__range=(c.first_entity_id, c.last_entity_id)).count() for c in finished)
    assert Decision.objects.filter(policy=policy_get_active()).count() == in_finished == run.screened
    assert RescreenRequest.objects.filter(all_entities=True, claimed_until__isnull=False).count() == 1

    # The dead worker's leases run out (here: at once); the scheduler's sweep re-kicks processing.
    RescreenRequest.objects.update(claimed_until=None, created_at=timezone.now() - datetime.timedelta(minutes=1))
    ScreenRunChunk.objects.filter(finished_at__isnull=True).update(claimed_until=None)
    assert "process_rescreen_requests" in periodic.scheduler_tick()
    assert queued("screening") == 1
    rq.drain()
    run.refresh_from_db()
    assert run.status == ScreenRun.Status.FINISHED and run.screened == len(entities)
    assert not RescreenRequest.objects.exists()
    assert_one_decision_each_under_the_new_policy(len(entities))


def test_two_workers_race_over_one_portfolio_run_and_decide_each_entity_once(rq):
    entities = build_portfolio(rq, 120)
    for _ in range(2):
        rq.start(PORTFOLIO_WORKERS="2")
    rq.wait_registered(2)
    policy_publish(user=None, restricted_codes=RESTRICT_GB)  # the owner's job enqueues one helper job
    screening.process_rescreen_requests.enqueue()  # and a duplicate kick races for the same request
    wait_for(
        lambda: (
            ScreenRun.objects.filter(status=ScreenRun.Status.FINISHED).exists() and not RescreenRequest.objects.exists()
        ),
        what="the portfolio run to finish",
    )
    run = ScreenRun.objects.get()
    chunks = ScreenRunChunk.objects.filter(run=run)
    assert len({c.claimed_by for c in chunks}) == 2  # both workers decided chunks of the one run
    assert all(c.attempts == 1 and c.finished_at for c in chunks)  # none claimed twice
    assert sum(c.screened for c in chunks) == run.screened == len(entities)
    assert_one_decision_each_under_the_new_policy(len(entities))


def test_readiness_reports_the_rq_backlog(rq, client):
    screening.process_rescreen_requests.enqueue()
    periodic.expire_exemptions.enqueue()
    backlog = client.get("/health/ready/").json()["checks"]["backlog"]
    assert backlog["tasks_ready"] == 2 and backlog["oldest_task_age_seconds"] >= 0
    rq.drain()
    assert client.get("/health/ready/").json()["checks"]["backlog"]["tasks_ready"] == 0
