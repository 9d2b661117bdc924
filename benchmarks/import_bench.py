"""Import benchmark: statements per second for BODS validation alone and for a full import.

Run ``python -m benchmarks.import_bench [--statements 100000] [--gzip]``.
Honours ``DATABASE_URL``: a PostgreSQL database named there is dropped and
re-created (it must be a scratch database); without it a temporary SQLite file
is used. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import set_audit_environment

# Statements per second of a full import (validation included); issue 12 raised PostgreSQL's from 20 000.
IMPORT_TARGETS = {"sqlite": 20_000, "postgres": 25_000}

PUBLICATION = {"publicationDate": "2026-01-15", "bodsVersion": "0.4", "publisher": {"name": "Import benchmark"}}
SOURCE = {"type": ["officialRegister"], "description": "Synthetic benchmark data"}
COUNTRIES = ["GB", "DE", "FR", "US", "JP", "NL", "CN", "HK", "KY", "VG", "CY", "RU", "TW", "SG"]


def _statement(number: int, record_id: str, record_type: str, details: dict, subject: str) -> dict:
    return {
        "statementId": f"bench-statement-{number:012d}-0000000000000000",
        "declarationSubject": subject,
        "statementDate": "2026-01-15",
        "publicationDetails": PUBLICATION,
        "source": SOURCE,
        "recordId": record_id,
        "recordType": record_type,
        "recordStatus": "new",
        "recordDetails": details,
    }


def synthetic_statements(count: int, *, seed: int = 7):
    """Groups of entity, person and relationship (shareholding + votingRights), some owned by earlier entities."""
    rng = random.Random(seed)
    number = 0
    group = 0
    while number < count:
        country = rng.choice(COUNTRIES)
        entity_id, person_id = f"bench-entity-{group}", f"bench-person-{group}"
        entity = {
            "isComponent": False,
            "entityType": {"type": "registeredEntity"},
            "name": f"Benchmark Holdings {group} Ltd",
            "jurisdiction": {"code": country, "name": country},
            "identifiers": [{"scheme": f"{country}-REG", "id": f"{group:08d}"}],
            "addresses": [
                {"type": "registered", "address": f"{group} High Street", "country": {"code": country, "name": country}}
            ],
            "foundingDate": "2001-02-03",
        }
        person = {
            "isComponent": False,
            "personType": "knownPerson",
            "names": [{"type": "legal", "fullName": f"Person {group}", "familyName": str(group)}],
            "nationalities": [{"code": rng.choice(COUNTRIES), "name": "x"}],
        }
        share = rng.choice([{"exact": rng.randint(1, 100)}, {"exclusiveMinimum": 25, "maximum": 50}])
        owner = person_id if group == 0 or rng.random() < 0.6 else f"bench-entity-{rng.randrange(group)}"
        relationship = {
            "isComponent": False,
            "subject": entity_id,
            "interestedParty": owner,
            "interests": [
                {"type": "shareholding", "directOrIndirect": "direct", "share": share, "startDate": "2015-01-01"},
                {"type": "votingRights", "directOrIndirect": "direct", "share": share},
            ],
        }
        for record_id, record_type, details in (
            (entity_id, "entity", entity),
            (person_id, "person", person),
            (f"bench-relationship-{group}", "relationship", relationship),
        ):
            if number >= count:
                break
            number += 1
            yield _statement(number, record_id, record_type, details, entity_id)
        group += 1


def write_file(path: Path, count: int, *, compress: bool) -> None:
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as out:
        for statement in synthetic_statements(count):
            out.write(json.dumps(statement, separators=(",", ":")))
            out.write("\n")


def _fresh_postgres(url: str) -> None:
    """Drop and re-create the benchmark database so every run starts empty."""
    import psycopg
    from django.db.backends.postgresql.psycopg_any import sql  # noqa: F401 - ensures psycopg 3
    from environ import Env

    config = Env.db_url_config(url)
    name = config["NAME"]
    admin = psycopg.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        autocommit=True,
    )
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def setup_django(workdir: Path) -> str:
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance.settings")
    set_audit_environment()
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith(("postgres://", "postgresql://")):
        _fresh_postgres(url)
    else:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        os.environ["DATABASE_URL"] = url
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return url.split(":", 1)[0]


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _backend_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of one PostgreSQL backend so far, from ``/proc/<pid>/stat``; None if it is gone or elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), after pid and comm
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU seconds of every backend serving the benchmark's database during the import, when the server runs
    on this machine; None on SQLite or a remote server.

    The import may open a second connection for its checks (``_OverlappedWrites``), whose backend ends with
    it, so the backends are sampled every ``interval`` seconds from a connection of our own (not counted):
    a backend that ends between two samples loses its last ``interval`` at most.
    """

    def __init__(self, interval: float = 0.02):
        from django.db import connection

        self._interval = interval
        self._stop = threading.Event()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._thread: threading.Thread | None = None
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        if _backend_cpu_seconds(pid) is None:
            return
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._monitor = psycopg.connect(**params, autocommit=True)
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self, *, first: bool = False) -> None:
        pids = self._monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchall()
        for (pid,) in pids:
            seconds = _backend_cpu_seconds(pid)
            if seconds is None:
                continue
            # A backend already there at the start counts from then; one started later, from its start.
            self._first.setdefault(pid, seconds if first else 0.0)
            self._last[pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def stop(self) -> tuple[float, int] | None:
        """(CPU seconds of the backends, how many backends) since the start; None if not measurable."""
        if self._thread is None:
            return None
        self._stop.set()
        self._thread.join()
        self._sample()
        self._monitor.close()
        return sum(self._last[pid] - self._first[pid] for pid in self._last), len(self._last)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=100_000)
    parser.add_argument("--gzip", action="store_true", help="write the synthetic file gzipped")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / ("bench.bods.jsonl.gz" if args.gzip else "bench.bods.jsonl")
        write_file(path, args.statements, compress=args.gzip)
        backend = setup_django(workdir)

        from cases.services.bods_import import bods_import_file, validate_file

        started, cpu_started = time.perf_counter(), time.process_time()
        validate_file(path=path, stdout=None, progress=False)
        validation_seconds = time.perf_counter() - started
        validation_cpu_seconds = time.process_time() - cpu_started

        children_started, server = _children_cpu_seconds(), ServerCpu()
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = bods_import_file(path=path, progress=False)
        import_seconds = time.perf_counter() - started
        import_cpu_seconds = time.process_time() - cpu_started
        reader_cpu_seconds = _children_cpu_seconds() - children_started
        server_cpu = server.stop()
        server_cpu_seconds, server_backends = (None, None) if server_cpu is None else server_cpu

        target = IMPORT_TARGETS["postgres" if backend.startswith("postgres") else "sqlite"]
        result = {
            "database": backend,
            "statements": args.statements,
            "file_bytes": path.stat().st_size,
            "gzip": args.gzip,
            "validation_seconds": round(validation_seconds, 3),
            "validation_statements_per_second": round(args.statements / validation_seconds),
            # CPU seconds of this process (SQLite's work included, a PostgreSQL server's not):
            # steadier than wall time on a machine shared with other work.
            "validation_cpu_seconds": round(validation_cpu_seconds, 3),
            "import_seconds": round(import_seconds, 3),
            "import_cpu_seconds": round(import_cpu_seconds, 3),
            # The reader process (files of READER_PROCESS_MIN_BYTES or more) reads, parses, checks and
            # maps statements while this process validates against the database and writes.
            "reader_process_cpu_seconds": round(reader_cpu_seconds, 3),
            # The PostgreSQL backends serving the import (its connection and the one its checks read from),
            # when the server runs on this machine: with the two processes above, what the import costs the
            # machine's cores in all.
            "server_cpu_seconds": None if server_cpu_seconds is None else round(server_cpu_seconds, 3),
            "server_backends": server_backends,
            "import_statements_per_second": round(args.statements / import_seconds),
            "import_target_statements_per_second": target,
            "import_target_met": args.statements / import_seconds >= target,
            "statements_applied": summary.statements_applied,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "reader_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


if __name__ == "__main__":
    main()
