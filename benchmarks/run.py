"""The standard benchmark set against its targets: ``python -m benchmarks.run`` (``make bench``).

Runs each benchmark as its own process (so peak memory is its own and one failure does not hide
the others), keeps the JSON each prints, and ends with one table: target, measured figure, met or
not. The figures to record in ``docs/performance.md`` are in that table and in the JSON written
with ``--json FILE``.

``--postgres URL`` names a server for the PostgreSQL runs (default
``postgres://postgres@127.0.0.1:5432``); each benchmark drops and re-creates its own scratch
database there (``bench_import``, ``bench_screen``, ``compliance_api_bench``). ``--sqlite-only``
skips them. ``--quick`` runs smaller sizes (a smoke test of the benchmarks themselves; its figures
say nothing about the targets). The long measurements (1 M-entity re-screening, the mixed load
test) are not in the set: ``docs/performance.md`` gives their commands. ``--large`` adds the
1 M-entity portfolio runs of issue 12 (graph load, the daily run with nothing and with 10 % changed,
peak memory; ``bench_portfolio`` on PostgreSQL), ``--large-only`` runs only those.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Target:
    """One target: what it says, the figure it reads from the benchmark's JSON, and the bar."""

    label: str
    figure: Callable[[dict], float]
    unit: str
    met: Callable[[float], bool]


@dataclass
class Benchmark:
    name: str
    module: str
    args: list[str]
    quick_args: list[str]
    targets: list[Target]
    database_url: str | None = None  # DATABASE_URL for the run; None: SQLite (the benchmark's default)
    env: dict[str, str] = field(default_factory=dict)


def _engine_at_largest(result: dict, key: str) -> float:
    return max(result["engine"], key=lambda size: size["entities"])[key]


def standard_set(postgres: str | None) -> list[Benchmark]:
    from benchmarks.import_bench import IMPORT_TARGETS

    engine = Benchmark(
        "engine",
        "benchmarks.engine_bench",
        ["--sizes", "100000", "1000000"],
        ["--sizes", "10000"],
        [
            Target(
                "engine, largest graph: screen < 5 s", lambda r: _engine_at_largest(r, "screen_s"), "s", lambda v: v < 5
            ),
            Target(
                "engine, largest graph: peak RSS < 2 GB",
                lambda r: _engine_at_largest(r, "peak_rss_mb"),
                "MB",
                lambda v: v < 2048,
            ),
        ],
    )
    runs = [engine]
    databases = [("sqlite", None)] + ([("postgres", postgres)] if postgres else [])
    for vendor, server in databases:
        import_target = IMPORT_TARGETS[vendor]
        runs.append(
            Benchmark(
                f"import ({vendor})",
                "benchmarks.import_bench",
                ["--statements", "100000"],
                ["--statements", "5000"],
                [
                    Target(
                        f"BODS import with validation ({vendor}) ≥ {import_target:,} statements/s".replace(",", " "),
                        lambda r: r["import_statements_per_second"],
                        "statements/s",
                        lambda v, bar=import_target: v >= bar,
                    )
                ],
                database_url=f"{server}/bench_import" if server else None,
            )
        )
        runs.append(
            Benchmark(
                f"screen --all ({vendor})",
                "benchmarks.screen_bench",
                ["--entities", "100000"],
                ["--entities", "5000"],
                [
                    Target(
                        f"first screen --all at 100 k entities ({vendor}) ≤ 8 s",
                        lambda r: r["screen_all_first_seconds"],
                        "s",
                        lambda v: v <= 8,
                    ),
                    Target(
                        f"screen --all, nothing changed ({vendor}) ≤ 1.5 s",
                        lambda r: r["screen_all_again_seconds"],
                        "s",
                        lambda v: v <= 1.5,
                    ),
                    Target(
                        f"screen --all, nothing changed, over the recursive CTE ({vendor}) ≤ 3",
                        lambda r: r["screen_all_again_seconds"] / r["recursive_cte_seconds"],
                        "ratio",
                        lambda v: v <= 3,
                    ),
                ],
                database_url=f"{server}/bench_screen" if server else None,
            )
        )
    runs.append(
        Benchmark(
            "audit chain (sqlite)",
            "benchmarks.audit_bench",
            ["--events", "1000000", "--entities", "20000"],
            ["--events", "3000", "--entities", "300"],
            [
                Target("verify 1 M audit events ≤ 10 s", lambda r: r["verify_seconds"], "s", lambda v: v <= 10),
                Target(
                    "checkpointing adds ≤ 5 % to screen --all",
                    lambda r: round(100 * r["checkpoint_over_screen_all"], 2),
                    "%",
                    lambda v: v <= 5,
                ),
            ],
        )
    )
    runs.append(
        Benchmark(
            "source imports (sqlite)",
            "benchmarks.sources_bench",
            ["--records", "100000"],
            ["--records", "3000"],
            [
                Target(
                    "import_gleif (sqlite) ≥ 50 000 records/s",
                    lambda r: r["gleif_lei_records_per_second"],
                    "records/s",
                    lambda v: v >= 50_000,
                ),
                Target(
                    "import_ftm (sqlite) ≥ 20 000 entities/s",
                    lambda r: r["ftm_entities_per_second"],
                    "entities/s",
                    lambda v: v >= 20_000,
                ),
            ],
        )
    )
    if postgres:
        runs.append(
            Benchmark(
                "API reads (postgres)",
                "benchmarks.api_bench",
                [],
                ["--requests", "200", "--customers", "50"],
                [
                    Target(
                        "API decision reads ≥ 70 % of a bare Django view",
                        lambda r: r["api_vs_bare"],
                        "ratio",
                        lambda v: v >= 0.70,
                    )
                ],
                env={"BENCH_DATABASE_URL": f"{postgres}/compliance_api_bench"},
            )
        )
    return runs


def large_set(postgres: str | None) -> list[Benchmark]:
    """The 1 M-entity runs of issue 12 (``--large``): about 15 minutes a database on 2 cores."""
    from benchmarks.portfolio_bench import TARGETS

    runs = []
    databases = [("sqlite", None)] + ([("postgres", postgres)] if postgres else [])
    for vendor, server in databases:
        load_target = TARGETS[f"graph_load_{'postgresql' if vendor == 'postgres' else vendor}"]
        runs.append(
            Benchmark(
                f"portfolio at 1 M ({vendor})",
                "benchmarks.portfolio_bench",
                ["--entities", "1000000"],
                ["--entities", "5000"],
                [
                    Target(
                        f"graph load, 1 M entities / 1.5 M stakes ({vendor}) ≤ {load_target:g} s",
                        lambda r: r["graph_load"]["seconds"],
                        "s",
                        lambda v, bar=load_target: v <= bar,
                    ),
                    Target(
                        f"daily run at 1 M, nothing changed ({vendor}) ≤ {TARGETS['daily_nothing_changed']:g} s",
                        lambda r: r["nothing_changed"]["seconds"],
                        "s",
                        lambda v: v <= TARGETS["daily_nothing_changed"],
                    ),
                    Target(
                        f"daily run at 1 M, 10 % changed ({vendor}) ≤ {TARGETS['daily_ten_percent_changed']:g} s",
                        lambda r: r["ten_percent_changed"]["seconds"],
                        "s",
                        lambda v: v <= TARGETS["daily_ten_percent_changed"],
                    ),
                    Target(
                        f"daily run at 1 M, peak RSS ({vendor}) ≤ 2 GB",
                        lambda r: r["peak_rss_mb"]["value"],
                        "MB",
                        lambda v: v <= TARGETS["peak_rss_mb"],
                    ),
                ],
                database_url=f"{server}/bench_portfolio" if server else None,
            )
        )
    return runs


def run_one(benchmark: Benchmark, *, quick: bool) -> tuple[dict | None, float, str]:
    env = {**os.environ, **benchmark.env}
    env.pop("DATABASE_URL", None)
    if benchmark.database_url:
        env["DATABASE_URL"] = benchmark.database_url
    command = [sys.executable, "-m", benchmark.module, *(benchmark.quick_args if quick else benchmark.args)]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        return None, seconds, completed.stderr.strip()[-2000:] or f"exit code {completed.returncode}"
    try:
        return json.loads(completed.stdout), seconds, ""
    except json.JSONDecodeError:
        return None, seconds, f"no JSON on stdout: {completed.stdout[-500:]!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--sqlite-only", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the benchmarks run, not the targets")
    parser.add_argument("--json", metavar="FILE", help="also write every benchmark's JSON to FILE")
    parser.add_argument(
        "--large", action="store_true", help="also the 1 M-entity portfolio runs (graph load, daily runs, memory)"
    )
    parser.add_argument("--large-only", action="store_true", help="only the 1 M-entity portfolio runs")
    args = parser.parse_args(argv)

    results: dict[str, dict] = {}
    rows: list[tuple[str, str, str]] = []
    failed = False
    postgres = None if args.sqlite_only else args.postgres.rstrip("/")
    benchmarks = [] if args.large_only else standard_set(postgres)
    if args.large or args.large_only:
        benchmarks += large_set(postgres)
    for benchmark in benchmarks:
        print(f"== {benchmark.name}: python -m {benchmark.module} ...", file=sys.stderr, flush=True)
        result, seconds, error = run_one(benchmark, quick=args.quick)
        if result is None:
            failed = True
            print(f"   failed after {seconds:.0f} s: {error}", file=sys.stderr)
            rows += [(target.label, "benchmark failed", "?") for target in benchmark.targets]
            continue
        print(f"   done in {seconds:.0f} s", file=sys.stderr)
        results[benchmark.name] = result
        for target in benchmark.targets:
            value = target.figure(result)
            verdict = "-" if args.quick else ("yes" if target.met(value) else "NO")
            rows.append((target.label, f"{value:,} {target.unit}", verdict))

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    load = os.getloadavg()
    print(f"\nMachine: {os.cpu_count()} CPUs, {os.uname().machine}; load average {load[0]:.2f} {load[1]:.2f}")
    if args.quick:
        print("(--quick: small sizes, figures are not comparable with the targets)")
    width = max(len(label) for label, _, _ in rows)
    print(f"{'target':<{width}}  {'measured':>22}  met")
    for label, measured, verdict in rows:
        print(f"{label:<{width}}  {measured:>22}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
