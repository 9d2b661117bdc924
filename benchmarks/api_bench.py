"""API benchmark: decision reads per second and latency percentiles, gunicorn + PostgreSQL.

Run ``python -m benchmarks.api_bench [--requests 4000] [--concurrency 8] [--workers 4]``.
Uses ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/compliance_api_bench``),
a scratch database that is dropped and re-created. Seeds customers with decisions, starts
gunicorn on 127.0.0.1 only, measures ``GET /api/v1/decisions/{id}/`` (token auth, DRF,
throttle, permissions, effective decision body, ETag) next to a bare Django view
(``benchmarks/bench_urls.py``: one query and JsonResponse) on the same stack, stops
gunicorn, and prints one JSON object. Target: API rate ≥ 70 % of the bare view's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/compliance_api_bench"
ROUNDS = 5


def _fresh_database(url: str) -> None:
    import psycopg
    from environ import Env

    config = Env.db_url_config(url)
    name = config["NAME"]
    if name in ("compliance", "postgres"):
        raise SystemExit(f"refusing to drop {name!r}: BENCH_DATABASE_URL must name a scratch database")
    with psycopg.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def seed(customers: int) -> tuple[list[str], str]:
    """Customers, each owned by two persons (some restricted), screened; returns (external ids, token)."""
    import datetime
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from cases.models import Customer, Entity, Interest, Person, Relationship
    from cases.roles import INTEGRATION, roles_sync
    from cases.services.screening import screen_entities
    from cases.services.tokens import token_create

    rng = random.Random(7)
    entities = Entity.objects.bulk_create(
        [Entity(external_id=f"bench-co-{i}", name=f"Bench Co {i}", jurisdiction_id="GB") for i in range(customers)]
    )
    persons = Person.objects.bulk_create(
        [
            Person(external_id=f"bench-p-{i}", name=f"Person {i}", nationalities=[rng.choice(["GB", "DE", "CN"])])
            for i in range(customers * 2)
        ]
    )
    relationships = Relationship.objects.bulk_create(
        [
            Relationship(external_id=f"bench-r-{i}-{j}", subject=entity, interested_person=persons[2 * i + j])
            for i, entity in enumerate(entities)
            for j in range(2)
        ]
    )
    Interest.objects.bulk_create(
        [
            Interest(relationship=r, interest_type="shareholding", share_exact=Decimal(60 if n % 2 == 0 else 40))
            for n, r in enumerate(relationships)
        ]
    )
    Customer.objects.bulk_create(
        [
            Customer(entity=e, customer_reference=f"BENCH-{i}", onboarded_on=datetime.date(2026, 1, 1))
            for i, e in enumerate(entities)
        ]
    )
    screen_entities(entity_ids=[e.pk for e in entities], trigger="manual")
    roles_sync()
    user = get_user_model().objects.create_user("bench-integration", password=None)
    user.groups.add(Group.objects.get(name=INTEGRATION))
    _, token = token_create(user=user, name="bench", scopes="read")
    return [e.external_id for e in entities], token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/bench/bare/none/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def load(*, port: int, paths: list[str], headers: dict, total: int, concurrency: int) -> dict:
    """``total`` GETs over ``concurrency`` keep-alive connections; throughput and latency percentiles."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per_thread = total // concurrency

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        for n in range(per_thread):
            path = paths[(offset * per_thread + n) % len(paths)]
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "seconds": elapsed, "statuses": statuses}


def merge(runs: list[dict]) -> dict:
    latencies = sorted(x for run in runs for x in run["latencies"])
    seconds = sum(run["seconds"] for run in runs)
    statuses: dict[int, int] = {}
    for run in runs:
        for code, count in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "latency_ms": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "mean": round(statistics.mean(latencies) * 1000, 2),
        },
        "statuses": statuses,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000, help="per endpoint (bounded)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2)
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args(argv)

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.bench_settings"
    _fresh_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    external_ids, token = seed(args.customers)
    from django.db import connections

    connections.close_all()

    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings", "DATABASE_URL": url}
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
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait_ready(port)
        auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
        api_paths = [f"/api/v1/decisions/{e}/" for e in external_ids]
        bare_paths = [f"/bench/bare/{e}/" for e in external_ids]
        warm = max(200, args.requests // 10)
        load(port=port, paths=api_paths, headers=auth, total=warm, concurrency=args.concurrency)
        load(port=port, paths=bare_paths, headers={}, total=warm, concurrency=args.concurrency)
        # Interleaved rounds, so a busy machine slows both endpoints alike.
        rounds = [], []
        for _ in range(ROUNDS):
            chunk = args.requests // ROUNDS
            rounds[0].append(load(port=port, paths=bare_paths, headers={}, total=chunk, concurrency=args.concurrency))
            rounds[1].append(load(port=port, paths=api_paths, headers=auth, total=chunk, concurrency=args.concurrency))
        bare, api = merge(rounds[0]), merge(rounds[1])
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)
    ratio = api["requests_per_second"] / bare["requests_per_second"]
    result = {
        "benchmark": "api_decision_reads",
        "database": "postgresql",
        "server": f"gunicorn sync, {args.workers} workers, 127.0.0.1",
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "customers": args.customers,
        "api": api,
        "bare_django_view": bare,
        "api_vs_bare": round(ratio, 3),
        "target_met": ratio >= 0.70,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
