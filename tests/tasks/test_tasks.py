"""Background tasks: enqueueing after commit, self-retry, the durable scheduler, scheduled jobs."""

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from cases.models import CurrentDecision, IdempotencyKey, RescreenRequest, ScheduledJob
from cases.services.screening import screen_entities
from cases.tasks import periodic, screening
from tests.factories import CustomerFactory, EntityFactory, PersonFactory, stake

pytestmark = pytest.mark.django_db


def queued(path_suffix: str):
    return DBTaskResult.objects.filter(task_path__endswith=path_suffix, status="READY")


@pytest.fixture
def customer_graph():
    person = PersonFactory(nationalities=["GB"])
    holding = EntityFactory()
    stake(person, holding, 100)
    customer = CustomerFactory()
    stake(holding, customer.entity, 80)
    stake(PersonFactory(nationalities=["GB"]), customer.entity, 20)
    screen_entities(trigger="onboarding")
    screening.process_rescreen_requests.call()
    return person, customer


def test_a_committed_change_enqueues_processing_once(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        person = PersonFactory(nationalities=["GB"])
        entity = EntityFactory()
        stake(person, entity, 100)
        person.nationalities = ["RU"]
        person.save()
    assert len(callbacks) == 1  # one kick per transaction
    assert queued("process_rescreen_requests").count() == 1
    # One row per transaction, holding every seed once (the person, the entity).
    (request,) = RescreenRequest.objects.all()
    assert (request.entity_ids, request.person_ids) == ([entity.pk], [person.pk])
    result = screening.process_rescreen_requests.call()
    assert result["requests"] == 1 and CurrentDecision.objects.get(entity=entity).outcome == "block"


def test_process_task_drains_requests_and_is_idempotent(customer_graph):
    person, customer = customer_graph
    person.nationalities = ["RU"]
    person.save()
    result = screening.process_rescreen_requests.call()
    assert result["requests"] == 1 and result["changed"] == 2
    assert CurrentDecision.objects.get(entity=customer.entity).outcome == "block"
    again = screening.process_rescreen_requests.call()
    assert again["requests"] == 0 and again["changed"] == 0


def test_failing_task_keeps_requests_and_enqueues_a_delayed_retry(customer_graph, monkeypatch):
    person, customer = customer_graph
    person.nationalities = ["RU"]
    person.save()

    def boom(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("cases.services.rescreen.screen_entities", boom)
    with pytest.raises(RuntimeError):
        screening.process_rescreen_requests.call()
    assert RescreenRequest.objects.count() == 1
    retry = queued("process_rescreen_requests").get()
    assert retry.args_kwargs["kwargs"] == {"attempt": 2}
    assert retry.run_after > timezone.now()
    monkeypatch.undo()
    RescreenRequest.objects.update(claimed_until=None)  # the back-off has passed
    screening.process_rescreen_requests.call(attempt=2)
    assert not RescreenRequest.objects.exists()
    assert CurrentDecision.objects.get(entity=customer.entity).outcome == "block"


def test_retry_delay_backs_off_and_is_capped():
    assert screening.retry_delay(1) == datetime.timedelta(seconds=10)
    assert screening.retry_delay(3) == datetime.timedelta(seconds=40)
    assert screening.retry_delay(30) == datetime.timedelta(seconds=900)


def test_scheduler_enqueues_each_due_job_once_and_moves_it_on(db):
    now = timezone.now()
    first = periodic.scheduler_tick(now=now)
    # the portfolio run waits a day
    assert set(first) == {"escalate_overdue", "expire_exemptions", "purge_idempotency_keys", "audit_checkpoint"}
    assert periodic.scheduler_tick(now=now) == []  # a second ticker (another worker) enqueues nothing
    assert queued("escalate_overdue").count() == 1
    job = ScheduledJob.objects.get(name="escalate_overdue")
    assert job.next_run_at == now + datetime.timedelta(hours=1)
    later = now + datetime.timedelta(days=1, minutes=1)
    assert set(periodic.scheduler_tick(now=later)) == {
        "escalate_overdue",
        "expire_exemptions",
        "purge_idempotency_keys",
        "audit_checkpoint",
        "periodic_rescreen",
    }
    # A stopped scheduler does not run a backlog: the next slot is after "later".
    assert ScheduledJob.objects.get(name="escalate_overdue").next_run_at > later


def test_scheduler_sweeps_requests_whose_kick_was_lost(db):
    EntityFactory()  # records a request; its on-commit kick never runs in this test transaction
    RescreenRequest.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=5))
    assert "process_rescreen_requests" in periodic.scheduler_tick()
    assert queued("process_rescreen_requests").exists()


def test_scheduled_jobs_run_and_record_completion(customer_graph):
    periodic.scheduler_tick()
    assert periodic.escalate_overdue.call() == {"escalated": 0}
    assert periodic.expire_exemptions.call() == {"expired": 0}
    assert periodic.purge_idempotency_keys.call() == {"purged": 0}
    result = periodic.periodic_rescreen.call()
    assert result["screened"] == 2 and result["changed"] == 0
    assert ScheduledJob.objects.get(name="escalate_overdue").last_finished_at is not None


def test_rescreen_all_task_resumes_the_days_run(customer_graph):
    first = screening.rescreen_all.call(kind="periodic")
    second = screening.rescreen_all.call(kind="periodic")
    assert first["screened"] == 2 and second["run"] != first["run"]  # a finished run is not resumed


def test_idempotency_keys_are_purged_after_their_ttl(settings):
    settings.IDEMPOTENCY_KEY_TTL = datetime.timedelta(hours=24)
    now = timezone.now()
    for key, age in (("fresh", datetime.timedelta(hours=23)), ("old", datetime.timedelta(hours=25))):
        IdempotencyKey.objects.create(
            owner="token:1", key=key, method="POST", path="/api/v1/x/", request_hash="0" * 64, created_at=now - age
        )
    assert periodic.purge_idempotency_keys.call() == {"purged": 1}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
