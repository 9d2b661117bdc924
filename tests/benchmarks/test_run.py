"""``make bench`` runs: the benchmark runner drives every SQLite benchmark and reports each target.

A smoke test at ``--quick`` sizes (about 10 s): it proves the benchmarks and the runner work, not
the targets, whose figures live in docs/performance.md.
"""

import json
import subprocess
import sys

from benchmarks.run import REPO


def test_quick_run_reports_every_sqlite_target(tmp_path):
    out = tmp_path / "bench.json"
    completed = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "benchmarks.run", "--quick", "--large", "--sqlite-only", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = completed.stdout
    for label in (
        "engine, largest graph: screen < 5 s",
        "BODS import with validation (sqlite)",
        "first screen --all at 100 k entities (sqlite)",
        "import_gleif (sqlite) ≥ 50 000 records/s",
        "import_ftm (sqlite) ≥ 20 000 entities/s",
        "graph load, 1 M entities / 1.5 M stakes (sqlite) ≤ 5 s",
        "daily run at 1 M, nothing changed (sqlite) ≤ 30 s",
        "daily run at 1 M, 10 % changed (sqlite) ≤ 60 s",
    ):
        assert label in table
    assert "benchmark failed" not in table
    results = json.loads(out.read_text())
    assert results["import (sqlite)"]["statements_applied"] == 5000
    assert results["screen --all (sqlite)"]["loaded"]["entities"] > 5000
    assert results["engine"]["engine"][0]["entities"] >= 10_000
    assert results["source imports (sqlite)"]["records"] == 3000
    portfolio = results["portfolio at 1 M (sqlite)"]
    assert portfolio["first_run"]["screened"] == portfolio["nothing_changed"]["screened"] > 5000
    assert portfolio["nothing_changed"]["changed"] == 0 and portfolio["ten_percent_changed"]["changed"] > 0
