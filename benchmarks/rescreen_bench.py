"""Re-screening benchmark: full portfolio run, incremental re-screens, memory.

``DATABASE_URL=postgres://postgres@127.0.0.1:5432/rescreen_bench \\
    python -m benchmarks.rescreen_bench --entities 1000000``

The database named in ``DATABASE_URL`` is dropped and re-created (it must be a scratch
database; without ``DATABASE_URL`` a temporary SQLite file is used). The synthetic graph
of ``benchmarks.synthetic`` (≈1.5 stakes per entity, groups, cycles, bands, control and
indicator interests, ended stakes) is bulk-loaded with COPY (PostgreSQL) or executemany
(SQLite). Then each measurement runs in a fresh subprocess so its peak RSS is its own:

* ``full``: ``rescreen_portfolio`` over every entity, first run (every decision is new)
  and second run (nothing changed: the periodic case);
* ``incremental``: one interest edited through the ORM (the model receivers record the
  request, as for a shell write), then ``rescreen_process_pending`` — for a leaf, a group top, and bulk
  changes of 100 / 1 000 / 10 000 group tops at once.

Prints one JSON document. ``--keep`` skips dropping and loading (re-measure an existing database).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import set_audit_environment

AS_OF = datetime.date(2024, 10, 4)  # benchmarks.synthetic.TODAY


def _django(url: str) -> None:
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance.settings")
    set_audit_environment()
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()


def _rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --------------------------------------------------------------------------- loading


def load(n_entities: int, seed: int) -> dict:
    """Bulk-load the synthetic graph; returns counts."""
    from django.db import connection

    from benchmarks.synthetic import generate
    from cases.models import Entity, Interest, Person, Relationship
    from cases.ownership import NodeClass

    started = time.perf_counter()
    data = generate(n_entities, seed)
    n_nodes = data.node_class.size
    n_companies = data.n_companies
    cls = data.node_class
    # Node -> table: companies and restricted companies are entities; persons and unknown parties persons.
    restricted_co = np.zeros(n_nodes, dtype=bool)
    unknown = cls == NodeClass.UNKNOWN_TERMINAL
    is_entity = np.zeros(n_nodes, dtype=bool)
    is_entity[:n_companies] = True
    # The generator's layout: persons, then restricted companies, then unknown parties.
    n_unknown = int(unknown[n_companies:].sum())
    n_restricted_co = max(1, n_companies // 200)
    r0 = n_nodes - n_unknown - n_restricted_co
    restricted_co[r0 : r0 + n_restricted_co] = True
    is_entity |= restricted_co
    now = "2026-01-01T00:00:00+00:00"
    entity_rows, person_rows = [], []
    for node in range(n_nodes):
        c = int(cls[node])
        if is_entity[node]:
            jurisdiction = "CN" if c == NodeClass.RESTRICTED_ROOT else "GB"
            entity_rows.append(
                (
                    node + 1,
                    f"E{node}",
                    f"Company {node}",
                    "registeredEntity",
                    jurisdiction,
                    c == NodeClass.LISTED_ENTITY,
                )
            )
        else:
            person_type = "anonymousPerson" if c == NodeClass.UNKNOWN_TERMINAL else "knownPerson"
            nationality = '["RU"]' if c == NodeClass.RESTRICTED_ROOT else '["GB"]'
            person_rows.append((node + 1, f"P{node}", f"Person {node}", person_type, nationality))
    rel_rows, interest_rows = [], []
    for i in range(data.owner.size):
        owner, subject = int(data.owner[i]), int(data.subject[i])
        owner_entity = owner + 1 if is_entity[owner] else None
        owner_person = None if is_entity[owner] else owner + 1
        rel_rows.append((i + 1, f"R{i}", subject + 1, owner_entity, owner_person))
        end = None if data.end_day[i] >= 2**31 - 1 else str(np.datetime64(int(data.end_day[i]), "D"))
        if data.control[i]:
            itype, lo, hi, lo_x, hi_x = "appointmentOfBoard", None, None, False, False
        elif data.indicator[i]:
            itype, lo, hi, lo_x, hi_x = "otherInfluenceOrControl", None, None, False, False
        else:
            itype = "shareholding"
            lo, hi = data.low_bp[i] / 100, data.high_bp[i] / 100
            lo_x, hi_x = bool(data.low_open[i]), bool(data.high_open[i])
        if itype == "shareholding" and lo == hi and not (lo_x or hi_x):
            exact, lo, hi = lo, None, None
        else:
            exact = None
        interest_rows.append((i + 1, i + 1, itype, "direct", exact, lo, hi, lo_x, hi_x, end))

    tables = [
        (
            Entity,
            "id, external_id, name, entity_type, jurisdiction_id, is_listed",
            "statement_id, source, is_closed, created_at, updated_at, alternate_names, entity_subtype, "
            "business_address_countries, addresses, listing",
            ("", "{}", False, now, now, "[]", "", "[]", "[]", "{}"),
            entity_rows,
        ),
        (
            Person,
            "id, external_id, name, person_type, nationalities",
            "statement_id, source, is_closed, created_at, updated_at, names, residence_countries, tax_residencies, "
            "birth_date",
            ("", "{}", False, now, now, "[]", "[]", "[]", ""),
            person_rows,
        ),
        (
            Relationship,
            "id, external_id, subject_id, interested_entity_id, interested_person_id",
            "statement_id, source, is_closed, created_at, updated_at, unspecified_reason, unspecified_description, "
            "is_component, component_record_ids",
            ("", "{}", False, now, now, "", "", False, "[]"),
            rel_rows,
        ),
        (
            Interest,
            "id, relationship_id, interest_type, direct_or_indirect, share_exact, share_minimum, share_maximum, "
            "share_minimum_exclusive, share_maximum_exclusive, end_date",
            "details",
            ("",),
            interest_rows,
        ),
    ]
    with connection.cursor() as cursor:
        for model, columns, extra_columns, extra, rows in tables:
            table = model._meta.db_table
            all_columns = f"{columns}, {extra_columns}"
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({all_columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row + extra)
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [len(rows) + n_nodes])
            else:
                marks = ", ".join(["%s"] * len(rows[0] + extra))
                cursor.executemany(f"INSERT INTO {table} ({all_columns}) VALUES ({marks})", [r + extra for r in rows])
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    return {
        "entities": len(entity_rows),
        "persons": len(person_rows),
        "relationships": len(rel_rows),
        "load_seconds": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------- measurements


def measure_full() -> dict:
    """Portfolio runs over the first ``FULL_LIMIT`` entities (default all).

    The first run stores a new decision for every entity; it is measured with the
    decision consequences (audit, exemptions, cases: ``decision_consequences``) replaced
    by nothing, because at 1M entities their per-change cost (≈11 queries) dominates —
    ``changed_with_receivers`` measures that cost separately on ``RECEIVER_SAMPLE`` entities.
    """
    import cases.services.screening as screening
    from cases.models import Entity
    from cases.services.rescreen import rescreen_portfolio

    limit = int(os.environ.get("FULL_LIMIT", "0")) or Entity.objects.count()
    chunk = 5000
    out: dict = {"entities": limit, "chunk_size": chunk}
    sample = int(os.environ.get("RECEIVER_SAMPLE", "1000"))
    from cases.services.screening import screen_entities

    tail = list(Entity.objects.order_by("-pk").values_list("pk", flat=True)[:sample])  # never screened yet
    started = time.perf_counter()
    run = screen_entities(entity_ids=tail, as_of=AS_OF)
    seconds = time.perf_counter() - started
    out["changed_with_receivers"] = {
        "entities": run.screened,
        "changed": run.changed,
        "seconds": round(seconds, 1),
        "entities_per_second": round(run.screened / seconds),
    }
    consequences = screening.decision_consequences
    screening.decision_consequences = lambda **kwargs: None
    for label in ("first_run", "unchanged_run"):
        if label == "unchanged_run":
            screening.decision_consequences = consequences
        started = time.perf_counter()
        run = rescreen_portfolio(kind=label, as_of=AS_OF, chunk_size=chunk, stop_after_chunks=-(-limit // chunk))
        out[label] = {
            "seconds": round(time.perf_counter() - started, 1),
            "screened": run.screened,
            "changed": run.changed,
            "entities_per_second": round(run.screened / (time.perf_counter() - started)),
        }
    out["peak_rss_mb"] = _rss_mb()
    return out


def measure_whole_graph() -> dict:
    """Loading and screening the whole graph in one go (engine input for the full portfolio)."""
    from cases.ownership import screen
    from cases.selectors.screening_input import PolicyView, load_screening_input
    from cases.services.policy import policy_get_active
    from cases.services.screening import engine_policy

    policy = policy_get_active()
    started = time.perf_counter()
    data = load_screening_input(policy=PolicyView.of(policy), as_of=AS_OF)
    loaded = time.perf_counter()
    screen(data.graph, engine_policy(policy))
    done = time.perf_counter()
    return {
        "load_seconds": round(loaded - started, 1),
        "engine_seconds": round(done - loaded, 1),
        "nodes": int(data.graph.node_class.size),
        "edges": int(data.graph.owner.size),
        "peak_rss_mb": _rss_mb(),
    }


def measure_incremental() -> dict:
    from django.db import transaction
    from django.db.models import Count

    from cases.models import Interest, Relationship
    from cases.services.rescreen import rescreen_process_pending, rescreen_request
    from cases.services.screening import downstream_entity_ids

    out = {}
    # A leaf: an entity that owns nothing. A group top: the entity holding the most stakes.
    from django.db.models import Exists, OuterRef

    owns = Relationship.objects.filter(interested_entity_id=OuterRef("relationship__subject_id"))
    leaf_interest = (
        Interest.objects.filter(interest_type="shareholding", share_exact__isnull=False)
        .filter(relationship__subject_id__lt=50000)
        .filter(~Exists(owns))
        .order_by("pk")
        .first()
    )
    candidates = (
        Relationship.objects.filter(interested_entity__isnull=False)
        .exclude(interested_entity__jurisdiction_id="CN")
        .values("interested_entity_id")
        .annotate(n=Count("id"))
        .order_by("-n")[:50]
    )
    top_interest = None
    for row in candidates:
        top_interest = Interest.objects.filter(
            relationship__subject_id=row["interested_entity_id"], interest_type="shareholding"
        ).first()
        if top_interest is not None:
            break

    def timed(edit) -> dict:
        started = time.perf_counter()
        with transaction.atomic():
            edit()
        recorded = time.perf_counter()
        summary = rescreen_process_pending(worker_id="bench", as_of=AS_OF)
        done = time.perf_counter()
        return {
            "downstream": summary.affected,
            "record_ms": round((recorded - started) * 1000, 1),
            "process_ms": round((done - recorded) * 1000, 1),
            "total_ms": round((done - started) * 1000, 1),
            "changed": summary.changed,
        }

    def edit_share(interest):
        def edit():
            interest.refresh_from_db()
            interest.share_exact = (interest.share_exact or 0) / 2 + 1
            interest.save()

        return edit

    for label, interest in (("one_stake_leaf", leaf_interest), ("one_stake_group_top", top_interest)):
        runs = [timed(edit_share(interest)) for _ in range(3)]
        out[label] = {**runs[-1], "total_ms_runs": [r["total_ms"] for r in runs]}
    ids = list(
        Relationship.objects.filter(interested_person__isnull=False).values_list("subject_id", flat=True)[:20000]
    )
    for count in (100, 1000, 10000):
        seeds = ids[:count]
        out[f"bulk_{count}_entities"] = {
            **timed(lambda seeds=seeds: rescreen_request(entity_ids=seeds)),
            "downstream_precomputed": len(downstream_entity_ids(seeds)),
        }
    out["peak_rss_mb"] = _rss_mb()
    return out


MEASUREMENTS = {"full": measure_full, "whole_graph": measure_whole_graph, "incremental": measure_incremental}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="measure the existing database (no drop, no load)")
    parser.add_argument("--only", nargs="*", default=["incremental", "whole_graph", "full"], choices=MEASUREMENTS)
    parser.add_argument("--measure", choices=MEASUREMENTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # child process
        _django(os.environ["DATABASE_URL"])
        result = MEASUREMENTS[args.measure]()
        print(json.dumps(result))
        return result

    tmp = tempfile.mkdtemp(prefix="rescreen-bench-")
    report: dict = {"entities": args.entities}
    if args.keep:
        _django(os.environ["DATABASE_URL"])
        report["database"] = os.environ["DATABASE_URL"].split(":", 1)[0]
    else:
        from benchmarks.import_bench import setup_django

        report["database"] = setup_django(Path(tmp))
        report["load"] = load(args.entities, args.seed)
    env = dict(os.environ)
    for name in args.only:
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.rescreen_bench", "--measure", name],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode:
            report[name] = {"error": child.stderr[-3000:]}
        else:
            report[name] = json.loads(child.stdout.strip().splitlines()[-1])
        report[name]["wall_seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps({name: report[name]}), file=sys.stderr)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
