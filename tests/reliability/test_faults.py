"""Fault tests: processes SIGKILLed mid-way leave nothing half-done, and a rerun completes without duplicates.

Each test runs real ``manage.py`` subprocesses against a scratch PostgreSQL database (``scratch_pg``:
created, migrated, dropped), because a subprocess cannot see the test's own transaction.
PostgreSQL only; each test is bounded (well under 60 s).
"""

import http.server
import json
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from cases.services.bods_import import READER_PROCESS_MIN_BYTES
from tests.bods.builders import entity, person, relationship, write_jsonl

from .conftest import REPO, manage

pytestmark = [pytest.mark.postgres_only]


def generated_statements(chains: int, length: int = 10, prefix: str = "gen") -> list[dict]:
    """``chains`` ownership chains of ``length`` companies; every third chain ends at a Russian company."""
    statements = []
    for c in range(chains):
        ids = [f"{prefix}-{c}-{i}" for i in range(length)]
        statements += [entity(record_id, f"Company {record_id}") for record_id in ids]
        if c % 3 == 0:
            top = f"{prefix}-{c}-ru"
            statements.append(entity(top, f"Holding {top}", "RU"))
            owner = top
        else:
            top = f"{prefix}-{c}-p"
            statements.append(person(top, f"Person {top}"))
            owner = top
        for i in range(length - 1):
            statements.append(relationship(f"{ids[i]}~{ids[i + 1]}", ids[i + 1], ids[i], 100))
        statements.append(relationship(f"{ids[-1]}~{top}", owner, ids[-1], 100))
    return statements


def query(env: dict, sql: str, params=()):
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(env: dict, sql: str, params=()):
    return query(env, sql, params)[0][0]


def start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, *, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen) -> None:
    assert proc.poll() is None, "the process finished before it could be killed: make the workload larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def counts(env: dict) -> dict:
    tables = ["entity", "person", "relationship", "interest", "bodsstatement", "decision", "currentdecision"]
    return {t: scalar(env, f"SELECT count(*) FROM cases_{t}") for t in tables}  # noqa: S608 - fixed names


def test_import_killed_mid_way_leaves_nothing_and_rerun_completes(scratch_pg, tmp_path):
    env = scratch_pg
    statements = generated_statements(500)  # 500 chains: 11 500 statements
    path = write_jsonl(tmp_path / "large.jsonl", statements)
    # Large enough for the forked reader process, whose inherited database socket must not keep the
    # killed import's transaction open.
    assert path.stat().st_size >= READER_PROCESS_MIN_BYTES
    before = counts(env)
    proc = start(env, "import_bods", str(path))
    db = env["DATABASE_URL"].rsplit("/", 1)[1]
    # Wait until the import's transaction has written rows (its backend holds a transaction id), then kill it.
    wait_for(
        lambda: (
            scalar(
                env,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_xid IS NOT NULL AND pid <> "
                "pg_backend_pid()",
                (db,),
            )
            > 0
        ),
        timeout=30,
        what="the import to start writing",
        proc=proc,
    )
    # While it writes a batch it checks the next on a second connection (``_OverlappedWrites``).
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    wait_for(lambda: scalar(env, sessions, (db,)) == 2, timeout=30, what="the import's second connection", proc=proc)
    time.sleep(0.2)
    kill(proc)
    # PostgreSQL rolls the dead connection's transaction back: nothing of the file, no partial write.
    wait_for(
        lambda: (
            scalar(env, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_xid IS NOT NULL", (db,))
            == 0
        ),
        timeout=10,
        what="the killed transaction to end",
    )
    wait_for(lambda: scalar(env, sessions, (db,)) == 0, timeout=10, what="both of the killed import's sessions to end")
    assert counts(env) == before
    # The rerun completes, once; running it again adds nothing (no duplicates).
    manage(env, "import_bods", str(path), timeout=120)
    after = counts(env)
    assert after["entity"] == 500 * 10 + 167 and after["person"] == 500 - 167
    assert after["relationship"] == 500 * 10 and after["interest"] == 500 * 10
    assert after["bodsstatement"] == len(statements)
    assert (
        scalar(env, "SELECT count(*) FROM (SELECT external_id FROM cases_entity GROUP BY 1 HAVING count(*) > 1) d") == 0
    )
    manage(env, "import_bods", str(path), timeout=120)
    assert counts(env) == after


def test_portfolio_rescreen_killed_then_resumed_has_no_duplicates(scratch_pg, tmp_path):
    env = scratch_pg
    manage(env, "import_bods", str(write_jsonl(tmp_path / "g.jsonl", generated_statements(100))), timeout=120)
    # Customers (cases and feed events are theirs), and a new policy version that also restricts GB,
    # so the portfolio run changes every decision.
    manage(
        env,
        "shell",
        "-c",
        "from cases.models import Entity, Customer\n"
        "import datetime\n"
        "Customer.objects.bulk_create([Customer(entity=e, customer_reference=f'C-{e.pk}',"
        " onboarded_on=datetime.date(2026,1,1))"
        " for e in Entity.objects.filter(external_id__endswith='-0')])\n"
        "from cases.services.policy import policy_publish\n"
        "policy_publish(user=None, restricted_codes=['CN','RU','IR','KP','BY','GB'])\n",
        timeout=120,
    )
    entities = scalar(env, "SELECT count(*) FROM cases_entity")
    first_decisions = scalar(env, "SELECT count(*) FROM cases_decision")
    proc = start(env, "screen", "--all", "--chunk-size", "100", "--as-of", "2026-06-01")
    wait_for(
        lambda: scalar(env, "SELECT coalesce(max(screened), 0) FROM cases_screenrun") >= 200,
        timeout=40,
        what="two checkpointed chunks",
        proc=proc,
    )
    kill(proc)
    run_id, screened, last = query(env, "SELECT id, screened, last_entity_id FROM cases_screenrun")[0]
    assert screened < entities, "the run finished before it was killed: make the workload larger"
    # Committed chunks are complete: every entity up to the checkpoint has its new decision, none after it.
    new_policy = scalar(env, "SELECT max(id) FROM cases_screeningpolicy")
    decided = scalar(env, "SELECT count(*) FROM cases_decision WHERE policy_id = %s", (new_policy,))
    assert decided == scalar(env, "SELECT count(*) FROM cases_entity WHERE id <= %s", (last,))
    manage(env, "screen", "--all", "--resume", "--chunk-size", "100", "--as-of", "2026-06-01", timeout=120)
    assert query(env, "SELECT status, screened FROM cases_screenrun WHERE id = %s", (run_id,)) == [
        ("finished", entities)
    ]
    # Exactly one decision per entity under the new policy, one current decision, no duplicated effects.
    assert scalar(env, "SELECT count(*) FROM cases_decision WHERE policy_id = %s", (new_policy,)) == entities
    assert scalar(env, "SELECT count(*) FROM cases_decision") == first_decisions + entities
    assert scalar(env, "SELECT count(DISTINCT entity_id) FROM cases_currentdecision") == entities
    assert (
        scalar(
            env,
            "SELECT count(*) FROM (SELECT decision_id FROM cases_decisionchangeevent GROUP BY 1 HAVING count(*) > 1) d",
        )
        == 0
    )
    customers = scalar(env, "SELECT count(*) FROM cases_customer")
    assert scalar(env, "SELECT count(DISTINCT subject_id) FROM cases_case") == scalar(
        env, "SELECT count(*) FROM cases_case"
    )
    assert scalar(env, "SELECT count(*) FROM cases_case") == customers  # every customer flipped to block: one case each
    manage(env, "verify_audit")


class _KillingReceiver:
    """A webhook consumer on 127.0.0.1 that SIGKILLs the delivering process when a request arrives,
    before answering: the delivery was sent but can never be marked delivered."""

    def __init__(self):
        self.received: list[tuple[str, str]] = []  # (X-Event-Id, X-Delivery-Id)
        self.victim: subprocess.Popen | None = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.headers["X-Event-Id"], json.loads(body)["id"]))
                if receiver.victim is not None and receiver.victim.poll() is None:
                    receiver.victim.send_signal(signal.SIGKILL)
                    receiver.victim.wait(10)
                    return
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_delivery_killed_between_send_and_mark_is_redelivered(scratch_pg, tmp_path):
    env = scratch_pg
    receiver = _KillingReceiver()
    try:
        manage(env, "import_bods", str(write_jsonl(tmp_path / "g.jsonl", generated_statements(2))), timeout=120)
        manage(
            env,
            "shell",
            "-c",
            "from cases.models import Entity, Customer, WebhookSubscription\n"
            "import datetime\n"
            f"WebhookSubscription.objects.create(name='t', url='{receiver.url}', secret='s3cret')\n"
            "Customer.objects.bulk_create([Customer(entity=e, customer_reference=f'C-{e.pk}',"
            " onboarded_on=datetime.date(2026,1,1))"
            " for e in Entity.objects.filter(external_id__endswith='-0')])\n"
            "from cases.services.policy import policy_publish\n"
            "policy_publish(user=None, restricted_codes=['CN','RU','IR','KP','BY','GB'])\n",
            timeout=120,
        )
        manage(env, "screen", "--all", timeout=120)
        deliveries = scalar(env, "SELECT count(*) FROM cases_webhookdelivery")
        assert deliveries > 0
        receiver.victim = proc = start(env, "deliver_webhooks", "--all")
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL and len(receiver.received) == 1
        # Sent, not marked: the row is leased, not delivered. When the lease runs out it is due again.
        assert scalar(env, "SELECT count(*) FROM cases_webhookdelivery WHERE delivered_at IS NOT NULL") == 0
        query(env, "UPDATE cases_webhookdelivery SET next_attempt_at = now() - interval '1 second' RETURNING id")
        receiver.victim = None
        manage(env, "deliver_webhooks", "--all", timeout=30)
        # At-least-once: every delivery arrived, the interrupted one twice with the same event id (dedupable).
        assert scalar(env, "SELECT count(*) FROM cases_webhookdelivery WHERE delivered_at IS NULL") == 0
        event_ids = [event_id for event_id, _ in receiver.received]
        assert len(event_ids) == deliveries + 1
        assert event_ids.count(event_ids[0]) == 2
        assert all(str(body_id) == event_id for event_id, body_id in receiver.received)
        assert len(set(event_ids)) == deliveries  # the consumer dedupes on X-Event-Id: nothing lost, one extra
        # A third run sends nothing: delivered rows are never sent again.
        assert json.loads(manage(env, "deliver_webhooks", "--all").stdout.strip().splitlines()[-1])["claimed"] == 0
    finally:
        receiver.close()
