"""End-to-end ``screen --all`` against the plain recursive-CTE approach, on one database.

``python -m benchmarks.screen_bench [--entities 100000]`` (SQLite in a temporary file), or with
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/screen_bench`` (dropped and re-created: a
scratch database). Loads the synthetic graph of ``benchmarks.synthetic`` (≈1.5 stakes per
entity), then measures, each in the same process and database:

* ``screen_all_first``: ``manage.py screen --all`` when every decision is new (stores all);
* ``screen_all_again``: the same when nothing changed (the periodic case);
* ``recursive_cte``: the query a team would otherwise write — walk down from restricted
  owners multiplying exact/minimum shareholdings along every path, depth-capped because
  cycles never end, summed per subject. It computes only the proven look-through share of one
  measure (no ranges' upper bounds, no voting rights, no control chain, no control interests,
  no undisclosed owners, no dates, wrong on cycles), so the comparison flatters it.

The ``screen --all`` runs are given in wall-clock seconds and in CPU seconds of this process
(the PostgreSQL server's CPU is not in them) and of the explainer process a run with many decisions to
explain forks (``cases.services.decision_prefetch``), with the 1-minute load average after each: on a
shared machine the CPU seconds are the steadier figure. ``--profile FILE`` writes a cProfile
(pstats) of the first run. Prints one JSON document.
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

CTE_MAX_DEPTH = 12
RESTRICTED = ("CN", "HK", "MO", "RU", "BY", "IR", "KP", "CU", "SY")


def _setup(workdir: Path) -> str:
    from benchmarks.import_bench import setup_django

    return setup_django(workdir)


def _recursive_cte_sql(vendor: str) -> str:
    codes = ", ".join(f"'{code}'" for code in RESTRICTED)
    nationality_text = "op.nationalities::text" if vendor == "postgresql" else "op.nationalities"
    person_restricted = " OR ".join(f"{nationality_text} LIKE '%\"{code}\"%'" for code in RESTRICTED)
    share = "COALESCE(i.share_exact, i.share_minimum, 0) / 100.0"
    return f"""
        WITH RECURSIVE walk(subject_id, fraction, depth) AS (
            SELECT r.subject_id, {share}, 1
            FROM cases_relationship r
            JOIN cases_interest i ON i.relationship_id = r.id AND i.interest_type = 'shareholding'
            LEFT JOIN cases_entity oe ON oe.id = r.interested_entity_id
            LEFT JOIN cases_person op ON op.id = r.interested_person_id
            WHERE NOT r.is_closed AND (oe.jurisdiction_id IN ({codes}) OR {person_restricted})
          UNION ALL
            SELECT r.subject_id, w.fraction * {share}, w.depth + 1
            FROM walk w
            JOIN cases_relationship r ON r.interested_entity_id = w.subject_id AND NOT r.is_closed
            JOIN cases_interest i ON i.relationship_id = r.id AND i.interest_type = 'shareholding'
            WHERE w.depth < {CTE_MAX_DEPTH}
        )
        SELECT subject_id, SUM(fraction) FROM walk GROUP BY subject_id
    """  # noqa: S608 - constants only


def _time_screen_all(profile: str | None = None) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds (this process only: not the PostgreSQL server) of ``screen --all``."""
    from django.core.management import call_command

    out = io.StringIO()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started, children_started = time.perf_counter(), time.process_time(), _children_cpu_seconds()
    call_command("screen", "--all", stdout=out)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    _EXPLAINER_CPU.append(_children_cpu_seconds() - children_started)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    return seconds, cpu_seconds, out.getvalue().strip().splitlines()[-1]


#: CPU seconds of the explainer process (``cases.services.decision_prefetch``) of each ``screen --all`` run.
_EXPLAINER_CPU: list[float] = []


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_graph_load() -> tuple[float, float]:
    """Wall-clock and CPU seconds of reading the whole graph into the engine's arrays (columnar loader)."""
    from benchmarks.rescreen_bench import AS_OF
    from cases.selectors.screening_columns import load_portfolio_input
    from cases.selectors.screening_input import PolicyView
    from cases.services.policy import policy_get_active

    policy = PolicyView.of(policy_get_active())
    started, cpu_started = time.perf_counter(), time.process_time()
    load_portfolio_input(policy=policy, as_of=AS_OF)
    return time.perf_counter() - started, time.process_time() - cpu_started


def _time_cte() -> tuple[float, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(_recursive_cte_sql(connection.vendor))
        rows = cursor.fetchall()
        seconds = time.perf_counter() - started
        cursor.execute(
            _recursive_cte_sql(connection.vendor).replace(
                "SELECT subject_id, SUM(fraction) FROM walk GROUP BY subject_id", "SELECT COUNT(*) FROM walk"
            )
        )
        paths = cursor.fetchone()[0]
    return seconds, len(rows), paths


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the first run to FILE (pstats)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="screen-bench-") as tmp:
        backend = _setup(Path(tmp))
        from benchmarks.rescreen_bench import load

        loaded = load(args.entities, args.seed)
        graph_load, graph_load_cpu = _time_graph_load()
        first, first_cpu, first_summary = _time_screen_all(args.profile)
        load_after_first = os.getloadavg()[0]
        again, again_cpu, again_summary = _time_screen_all()
        cte_seconds, cte_subjects, cte_paths = _time_cte()
        result = {
            "database": backend,
            "machine": f"{os.cpu_count()} CPUs, {os.uname().machine}",
            "load_average_1min": [round(load_after_first, 2), round(os.getloadavg()[0], 2)],
            "loaded": loaded,
            "graph_load_seconds": round(graph_load, 2),
            "graph_load_cpu_seconds": round(graph_load_cpu, 2),
            "screen_all_first_seconds": round(first, 2),
            "screen_all_first_cpu_seconds": round(first_cpu, 2),
            "screen_all_first_explainer_cpu_seconds": round(_EXPLAINER_CPU[0], 2),
            "screen_all_first_summary": first_summary,
            "screen_all_again_seconds": round(again, 2),
            "screen_all_again_cpu_seconds": round(again_cpu, 2),
            "screen_all_again_explainer_cpu_seconds": round(_EXPLAINER_CPU[1], 2),
            "screen_all_again_summary": again_summary,
            "recursive_cte_seconds": round(cte_seconds, 2),
            "recursive_cte_subjects": cte_subjects,
            "recursive_cte_paths_enumerated": cte_paths,
            "recursive_cte_max_depth": CTE_MAX_DEPTH,
            "cte_over_screen_all_again": round(cte_seconds / again, 2),
        }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


if __name__ == "__main__":
    main()
