"""Source-import benchmark: GLEIF records and FtM entities per second, and peak memory.

Run ``python -m benchmarks.sources_bench [--records 100000]``. Uses a temporary SQLite
file unless ``DATABASE_URL`` names a scratch PostgreSQL database (dropped and re-created).
Prints one JSON object; peak RSS is this process's (run it at 100 k and at 1 M records:
the streaming readers keep it flat).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.import_bench import setup_django
from benchmarks.sources_synthetic import write_ftm, write_gleif


def _children_cpu() -> float:
    """CPU seconds of the finished reader processes (counted once each has been joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(run, records_key: str, result: dict, prefix: str):
    """Run one import; record wall, this process's CPU and the reader's CPU as rates per second."""
    started, cpu_started, children_started = time.perf_counter(), time.process_time(), _children_cpu()
    summary = run()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    reader_cpu = _children_cpu() - children_started
    count = summary.records_read
    result[f"{prefix}_{records_key}"] = count
    result[f"{prefix}_seconds"] = round(seconds, 3)
    result[f"{prefix}_{records_key}_per_second"] = round(count / seconds)
    # CPU seconds of the importing process (SQLite's work included): steadier than wall time on a shared machine.
    result[f"{prefix}_{records_key}_per_cpu_second"] = round(count / cpu)
    result[f"{prefix}_reader_cpu_seconds"] = round(reader_cpu, 3)
    if reader_cpu:
        result[f"{prefix}_{records_key}_per_reader_cpu_second"] = round(count / reader_cpu)
    return summary


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--only", choices=["gleif", "ftm"], help="run one importer (for separate memory figures)")
    parser.add_argument(
        "--stream-only", action="store_true", help="read and map without a database (the readers' own memory and speed)"
    )
    args = parser.parse_args(argv)
    if args.stream_only:
        return _stream_only(args.records)
    result: dict = {"records": args.records}
    with tempfile.TemporaryDirectory(prefix="sources-bench-") as tmp:
        workdir = Path(tmp)
        lei_path, rr_path = write_gleif(workdir, args.records) if args.only != "ftm" else (None, None)
        ftm_path = write_ftm(workdir, args.records) if args.only != "gleif" else None
        result["database"] = setup_django(workdir)
        result["rss_after_setup_mib"] = _peak_rss_mib()

        from cases.services.ftm_import import ftm_import_file
        from cases.services.gleif_import import gleif_import_file

        if lei_path:
            _timed(lambda: gleif_import_file(path=lei_path, progress=False), "records", result, "gleif_lei")
            _timed(lambda: gleif_import_file(path=rr_path, progress=False), "records", result, "gleif_rr")
            _timed(lambda: gleif_import_file(path=lei_path, progress=False), "records", result, "gleif_reimport")
            result["rss_after_gleif_mib"] = _peak_rss_mib()
        if ftm_path:
            _timed(lambda: ftm_import_file(path=ftm_path, progress=False), "entities", result, "ftm")
            result["rss_after_ftm_mib"] = _peak_rss_mib()
    result["peak_rss_mib"] = _peak_rss_mib()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


def _stream_only(records: int) -> dict:
    """Peak RSS and rate of reading + mapping alone: flat whatever the file's size if the readers stream."""
    from cases.sources.ftm import map_entity as map_ftm
    from cases.sources.ftm import read_entities
    from cases.sources.gleif import map_entity, read_records
    from cases.sources.gleif.reader import detect

    result: dict = {"records": records, "mode": "stream-only"}
    with tempfile.TemporaryDirectory(prefix="sources-stream-") as tmp:
        lei_path, _ = write_gleif(Path(tmp), records)
        ftm_path = write_ftm(Path(tmp), records)
        result["rss_before_reading_mib"] = _peak_rss_mib()
        started = time.process_time()
        count = sum(1 for line, flat in read_records(detect(lei_path)) if map_entity(line, flat))
        result["gleif_read_map_records_per_cpu_second"] = round(count / (time.process_time() - started))
        result["rss_after_gleif_mib"] = _peak_rss_mib()
        started = time.process_time()
        count = sum(1 for entity in read_entities(ftm_path) if map_ftm(entity) is not None)
        result["ftm_read_map_entities_per_cpu_second"] = round(count / (time.process_time() - started))
        result["rss_after_ftm_mib"] = _peak_rss_mib()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


if __name__ == "__main__":
    main()
