"""Engine benchmark: ``python -m benchmarks.engine_bench [--sizes 10000 100000 1000000]``.

Each size runs in a fresh subprocess so that peak RSS (``ru_maxrss``) is per size.  Prints
one JSON document: generation and graph build time, screen time (both methods, both
bounds, both measures, as of a date), peak memory, counts per outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.synthetic import TODAY, generate
from cases.ownership import NodeClass, Outcome, screen


def run_one(n: int, seed: int) -> dict:
    t0 = time.perf_counter()
    data = generate(n, seed)
    t1 = time.perf_counter()
    graph = data.to_graph()
    t2, c2 = time.perf_counter(), time.process_time()
    result = screen(graph, as_of_day=TODAY)
    t3, c3 = time.perf_counter(), time.process_time()
    entities = np.isin(graph.node_class, (NodeClass.ENTITY, NodeClass.LISTED_ENTITY, NodeClass.RESTRICTED_ROOT))
    entities[data.n_companies :] = False
    t4 = time.perf_counter()
    explained = [result.decision_dict(int(i)) for i in np.nonzero(entities)[0][:1000]]
    t5 = time.perf_counter()

    def counts(arr: np.ndarray) -> dict:
        return {o.label: int((arr[entities] == o).sum()) for o in Outcome}

    return {
        "entities": int(entities.sum()),
        "nodes": graph.n_nodes,
        "stakes": graph.n_edges,
        "generate_s": round(t1 - t0, 3),
        "graph_build_s": round(t2 - t1, 3),
        "screen_s": round(t3 - t2, 3),
        "screen_cpu_s": round(c3 - c2, 3),  # CPU time: meaningful on a shared machine
        "explain_1000_s": round(t5 - t4, 3) if explained else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "levels": result.structure.n_levels,
        "cyclic_sccs": int(result.structure.cyclic_comp.sum()),
        "outcome": counts(result.outcome),
        "look_through": counts(result.lt_outcome),
        "control_chain": counts(result.cc_outcome),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--single", action="store_true", help="run one size in-process")
    args = parser.parse_args(argv)
    if args.single:
        print(json.dumps(run_one(args.sizes[0], args.seed)))
        return
    results = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.engine_bench", "--single", "--sizes", str(n), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout))
    print(json.dumps({"engine": results, "load_average": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
