"""Partitioned portfolio run: one run shared by 1 and by N worker processes.

``DATABASE_URL=postgres://postgres@127.0.0.1:5432/partition_bench \\
    python -m benchmarks.partition_bench --entities 1000000 --workers 2``

The database named in ``DATABASE_URL`` is dropped and re-created (a scratch database;
without ``DATABASE_URL`` a temporary SQLite file is used) and the synthetic graph of
``benchmarks.synthetic`` is bulk-loaded (``benchmarks.rescreen_bench.load``). Then:

* ``first_run``: ``--workers`` processes share one run in which every decision is new
  (the case-workflow receivers off, as in ``rescreen_bench``: their per-change cost is
  measured there);
* ``unchanged_1`` / ``unchanged_n``: the daily run (nothing changed) by one process, then
  by ``--workers`` processes.

Each worker is its own process (``rescreen_portfolio_work`` on the run, what the
``screen_portfolio_chunks`` task runs), so each peak RSS is one worker's. Prints one JSON
document beside the target (the issue's "daily portfolio run at 1 M, nothing changed,
≤ 30 s"). ``--keep`` re-measures an existing database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.rescreen_bench import AS_OF, _django, _rss_mb, load

TARGET_UNCHANGED_1M_SECONDS = 30


def work(run_id: int, receivers: bool) -> dict:
    """One worker process: claim and decide chunks of the run until it is finished."""
    from cases.services.rescreen import rescreen_portfolio_work

    if not receivers:
        from cases.services import screening

        # The first run's consequences (a million audit events) are measured apart, as in rescreen_bench.
        screening.decision_consequences = lambda **kwargs: None
    started, cpu = time.perf_counter(), time.process_time()
    chunks = rescreen_portfolio_work(run_id=run_id, wait=True)
    return {
        "chunks": chunks,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),  # this process only; the server's backend is apart
        "peak_rss_mb": _rss_mb(),
    }


def shared_run(*, label: str, workers: int, chunk_size: int, receivers: bool) -> dict:
    """Open a run, start ``workers`` processes on it at once, wait for all; wall time from the start."""
    from cases.models import ScreenRun
    from cases.services.rescreen import _open_run

    run = _open_run(kind=label, as_of=AS_OF, resume=False, chunk_size=chunk_size)
    started = time.perf_counter()
    argv = [sys.executable, "-m", "benchmarks.partition_bench", "--work", str(run.pk)]
    procs = [
        subprocess.Popen(  # noqa: S603 - this module
            argv + ([] if receivers else ["--no-receivers"]), stdout=subprocess.PIPE, text=True
        )
        for _ in range(workers)
    ]
    outputs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    seconds = time.perf_counter() - started
    run = ScreenRun.objects.get(pk=run.pk)
    return {
        "workers": workers,
        "status": run.status,
        "screened": run.screened,
        "changed": run.changed,
        "seconds": round(seconds, 1),
        "entities_per_second": round(run.screened / seconds),
        "per_worker": outputs,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="measure the existing database (no drop, no load)")
    parser.add_argument("--work", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-receivers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.work:  # a worker process
        _django(os.environ["DATABASE_URL"])
        result = work(args.work, receivers=not args.no_receivers)
        print(json.dumps(result))
        return result

    report: dict = {
        "entities": args.entities,
        "chunk_size": args.chunk_size,
        "cpu_cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    if args.keep:
        _django(os.environ["DATABASE_URL"])
    else:
        from benchmarks.import_bench import setup_django

        setup_django(Path(tempfile.mkdtemp(prefix="partition-bench-")))
        report["load"] = load(args.entities, args.seed)
    from django.db import connection

    report["database"] = connection.vendor
    connection.close()  # the workers open their own
    common = {"chunk_size": args.chunk_size}
    report["first_run"] = shared_run(label="bench_first", workers=args.workers, receivers=False, **common)
    report["unchanged_1"] = shared_run(label="bench_unchanged_1", workers=1, receivers=True, **common)
    report["unchanged_n"] = shared_run(label="bench_unchanged_n", workers=args.workers, receivers=True, **common)
    report["speedup_unchanged"] = round(report["unchanged_1"]["seconds"] / report["unchanged_n"]["seconds"], 2)
    per_million = 1_000_000 / report["unchanged_n"]["entities_per_second"]
    report["target"] = {
        "unchanged_run_at_1m_seconds": TARGET_UNCHANGED_1M_SECONDS,
        "extrapolated_at_1m_seconds": round(per_million, 1),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
