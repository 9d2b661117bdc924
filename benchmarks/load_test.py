"""Mixed-load test of the integration API: gunicorn (3 workers) + PostgreSQL, 8 client threads.

Run ``python -m benchmarks.load_test [--seconds 60] [--max-requests 200000] [--threads 8]``.

Drops and re-creates the scratch database ``load_test`` (``LOAD_TEST_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/load_test``), runs ``migrate`` and ``setup_demo``, creates an
Integration user with a read/write token (``create_api_token``), starts gunicorn bound to 127.0.0.1 only
and drives, for ``--seconds`` (or until ``--max-requests``):

* 70 % decision reads: ``GET /api/v1/decisions/{external_id}/`` over the demo customers;
* 15 % screening requests: ``POST /api/v1/screening-requests/`` for new, unique customers;
* 15 % stake edits: ``PATCH /api/v1/relationships/{external_id}/`` replacing the interests.

The per-token throttles are raised for the run (``API_THROTTLE_RATE``, ``API_SCREENING_THROTTLE_RATE``):
this measures the server, not the rate limits. Prints one JSON object: per request type the count,
errors (non-2xx/3xx) and p50/p95/p99 latency in ms, plus totals and requests/s; non-2xx/3xx samples and
gunicorn's log tail are included when there are errors. gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks import set_audit_environment

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/load_test"
MIX = (("decision_read", 0.70), ("screening_request", 0.15), ("stake_edit", 0.15))


def _fresh_database(url: str) -> None:
    import psycopg
    from environ import Env

    config = Env.db_url_config(url)
    name = config["NAME"]
    if name in ("compliance", "postgres"):
        raise SystemExit(f"refusing to drop {name!r}: LOAD_TEST_DATABASE_URL must name a scratch database")
    with psycopg.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def _manage(env: dict, *args: str, timeout: float = 900) -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py, fixed argv
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


INTEGRATION_USER = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from cases.roles import INTEGRATION, roles_sync
roles_sync()
user, _ = get_user_model().objects.get_or_create(username="load-integration")
user.groups.add(Group.objects.get(name=INTEGRATION))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/", headers={"Host": "127.0.0.1"})
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


class Client:
    """One keep-alive connection per thread; reconnects after a dropped connection."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json", "Host": "127.0.0.1"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise


def _list_all(client: Client, path: str) -> list[dict]:
    items, url = [], path
    while url:
        status, body = client.request("GET", url)
        if status != 200:
            raise SystemExit(f"GET {url} -> {status}: {body[:500]!r}")
        page = json.loads(body)
        items += page["results"]
        nxt = page.get("next")
        url = nxt[nxt.index("/api/") :] if nxt else None
    return items


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)


def drive(*, port: int, token: str, seconds: float, max_requests: int, threads: int) -> dict:
    setup = Client(port, token)
    customers = [row["entity_record_id"] for row in csv.DictReader((ROOT / "demo" / "customers.csv").open())]
    relationships = [
        r["external_id"] for r in _list_all(setup, "/api/v1/relationships/?limit=500&is_closed=false") if r["interests"]
    ]
    lock = threading.Lock()
    results: dict[str, list] = {name: [] for name, _ in MIX}  # (latency, status)
    samples: list[dict] = []
    issued = [0]
    run_id = uuid.uuid4().hex[:8]
    deadline = time.monotonic() + seconds

    def next_slot() -> bool:
        with lock:
            if issued[0] >= max_requests:
                return False
            issued[0] += 1
            return True

    def worker(index: int) -> None:
        rng = random.Random(index)
        client = Client(port, token)
        serial = 0
        while time.monotonic() < deadline and next_slot():
            kind = rng.choices([m[0] for m in MIX], weights=[m[1] for m in MIX])[0]
            if kind == "decision_read":
                method, path, body = "GET", f"/api/v1/decisions/{rng.choice(customers)}/", None
            elif kind == "screening_request":
                serial += 1
                ref = f"load-{run_id}-{index}-{serial}"
                share = rng.choice(["10", "30", "55", "100"])
                body = {
                    "customer_reference": ref,
                    "entity": {"external_id": f"{ref}-co", "name": f"Load Co {ref}", "jurisdiction": "GB"},
                    "owners": [
                        {
                            "person": {
                                "external_id": f"{ref}-p",
                                "name": f"Owner {ref}",
                                "nationalities": [rng.choice(["GB", "DE", "CN", "FR"])],
                            },
                            "interests": [{"type": "shareholding", "share_exact": share}],
                        }
                    ],
                }
                method, path = "POST", "/api/v1/screening-requests/"
            else:
                share = f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
                body = {"interests": [{"type": "shareholding", "share_exact": share}]}
                method, path = "PATCH", f"/api/v1/relationships/{rng.choice(relationships)}/"
            started = time.perf_counter()
            try:
                status, payload = client.request(method, path, body)
            except (http.client.HTTPException, OSError) as exc:
                status, payload = 0, repr(exc).encode()
            elapsed = time.perf_counter() - started
            with lock:
                results[kind].append((elapsed, status))
                if not 200 <= status < 400 and len(samples) < 20:
                    samples.append({"type": kind, "method": method, "path": path, "status": status,
                                    "body": payload[:400].decode(errors="replace")})  # fmt: skip

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started

    report = {}
    for kind, rows in results.items():
        latencies = [r[0] for r in rows]
        statuses: dict[str, int] = {}
        for _, status in rows:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        report[kind] = {
            "count": len(rows),
            "errors": sum(1 for _, status in rows if not 200 <= status < 400),
            "statuses": statuses,
            "p50_ms": _pct(latencies, 0.50),
            "p95_ms": _pct(latencies, 0.95),
            "p99_ms": _pct(latencies, 0.99),
        }
    every = [r[0] for rows in results.values() for r in rows]
    total = len(every)
    return {
        "seconds": round(wall, 1),
        "threads": threads,
        "customers": len(customers),
        "relationships_edited_from": len(relationships),
        "requests": total,
        "requests_per_second": round(total / wall, 1) if wall else None,
        "errors": sum(r["errors"] for r in report.values()),
        "p50_ms": _pct(every, 0.50),
        "p95_ms": _pct(every, 0.95),
        "p99_ms": _pct(every, 0.99),
        "by_type": report,
        "error_samples": samples,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)

    url = os.environ.get("LOAD_TEST_DATABASE_URL", DEFAULT_URL)
    set_audit_environment()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "compliance.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DEBUG": "false",
        "API_THROTTLE_RATE": "1000000/minute",
        "API_SCREENING_THROTTLE_RATE": "1000000/minute",
        "PYTHONUNBUFFERED": "1",
    }
    _fresh_database(url)
    _manage(env, "migrate", "--no-input")
    _manage(env, "setup_demo", "--password", uuid.uuid4().hex)
    _manage(env, "shell", "-c", INTEGRATION_USER)
    token = _manage(env, "create_api_token", "load-test", "--user", "load-integration", "--scopes", "read,write")
    token = token.strip().splitlines()[-1]

    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="load_test_gunicorn_", suffix=".log")[1])
    with log.open("w") as log_file:
        gunicorn = subprocess.Popen(  # noqa: S603 - fixed argv, local only
            [
                sys.executable,
                "-m",
                "gunicorn",
                "compliance.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--timeout",
                "120",
                "--log-level",
                "info",
                "--error-logfile",
                "-",
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(port)
            result = drive(
                port=port, token=token, seconds=args.seconds, max_requests=args.max_requests, threads=args.threads
            )
        finally:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)
    result = {"benchmark": "api_mixed_load", "server": f"gunicorn sync, {args.workers} workers, 127.0.0.1",
              "database": "postgresql", "cpus": os.cpu_count(), "gunicorn_log": str(log), **result}  # fmt: skip
    if result["errors"]:
        tail = log.read_text().splitlines()
        result["gunicorn_log_errors"] = [line for line in tail if "Traceback" in line or "ERROR" in line][-20:]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
