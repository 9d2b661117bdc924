"""The keyed audit chain: verifying it, and what checkpointing adds to a portfolio run.

``python -m benchmarks.audit_bench [--events 1000000] [--entities 20000]`` (SQLite in a temporary file),
or with ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_audit`` (dropped and re-created).

* ``verify_seconds``: ``audit_verification()`` (what ``manage.py verify_audit`` runs: one worker process
  per CPU from 100 000 rows) over ``--events`` keyed events written through ``audit_record_many`` with
  decision-sized before/after payloads; ``verify_cpu_seconds`` the CPU it took in this process and its
  workers (steadier than wall-clock time on a shared machine; the database server's is not included);
* ``checkpoint_full_seconds``: the first checkpoint, which verifies the whole chain before signing;
* ``screen_all_seconds`` / ``checkpoint_after_screen_seconds``: ``screen --all`` over the synthetic graph
  of ``--entities``, then the checkpoint that anchors the events it wrote (it verifies only the rows since
  the previous checkpoint); ``checkpoint_over_screen_all`` is their ratio (target ≤ 5 %).

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

BATCH = 10_000


def _write_events(count: int) -> float:
    from cases.services.audit import AuditEntry, audit_record_many

    started = time.perf_counter()
    for first in range(0, count, BATCH):
        entries = [
            AuditEntry(
                action="decision.changed",
                target=("cases.decision", index, f"Entity {index}"),
                before={"outcome": "allow", "look_through": [0.12, 0.31], "control": [0.0, 0.25]},
                after={"outcome": "review", "look_through": [0.41, 0.62], "control": [0.5, 0.75], "reasons": ["x"]},
                reason="portfolio re-screen",
            )
            for index in range(first, min(first + BATCH, count))
        ]
        audit_record_many(actor=None, entries=entries)
    return time.perf_counter() - started


def _timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def _cpu_seconds() -> float:
    """This process and its reaped children (``verify_audit``'s worker processes); not the database server."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        from benchmarks.import_bench import setup_django

        backend = setup_django(Path(tmp))
        from django.core.management import call_command

        from benchmarks.rescreen_bench import load
        from cases.services.audit_anchor import audit_checkpoint_write
        from cases.services.audit_verify import audit_verification

        write_seconds = _write_events(args.events)
        load_before_verify = round(os.getloadavg()[0], 2)
        cpu_before_verify = _cpu_seconds()
        verify_seconds, verified = _timed(audit_verification)
        verify_cpu_seconds = _cpu_seconds() - cpu_before_verify
        assert verified.ok and verified.rows == args.events, verified.broken
        checkpoint_full_seconds, _ = _timed(audit_checkpoint_write)

        loaded = load(args.entities, args.seed)
        screen_seconds, _ = _timed(lambda: call_command("screen", "--all", stdout=io.StringIO()))
        checkpoint_seconds, checkpoint = _timed(audit_checkpoint_write)
        events_in_run = checkpoint.seq - args.events
        result = {
            "database": backend,
            "machine": f"{os.cpu_count()} CPUs, {os.uname().machine}",
            "load_average_1min_before_verify": load_before_verify,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "events": args.events,
            "write_seconds": round(write_seconds, 2),
            "verify_seconds": round(verify_seconds, 2),
            "verify_events_per_second": round(args.events / verify_seconds),
            "verify_cpu_seconds": round(verify_cpu_seconds, 2),
            "checkpoint_full_seconds": round(checkpoint_full_seconds, 2),
            "loaded": loaded,
            "screen_all_seconds": round(screen_seconds, 2),
            "screen_all_audit_events": events_in_run,
            "checkpoint_after_screen_seconds": round(checkpoint_seconds, 3),
            "checkpoint_over_screen_all": round(checkpoint_seconds / screen_seconds, 4),
        }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


if __name__ == "__main__":
    main()
