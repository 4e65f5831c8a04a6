#!/usr/bin/env python3
"""PostgreSQL sink rows/s against `psql \\copy` of the same rows into the same
table (issue 7's target: the sink at >= 0.7x of \\copy).

Starts a throwaway server with tests/integration/pg_harness.py (default
settings: fsync on, synchronous_commit on — the sink acks only after a
durable COMMIT, and \\copy commits once at its end). Then, per round:

  1. TRUNCATE the tables, CHECKPOINT; bench_postgres_sink stores N distinct
     events of the standard workload (../shared/bench) through the sink
     (COPY into staging, INSERT ... ON CONFLICT, per-group COMMIT);
  2. the stored rows are exported once with \\copy ... TO;
  3. TRUNCATE, CHECKPOINT; `psql -c "\\copy events (...) FROM file"` loads the
     same rows into the same partitioned table, timed from outside.

Prints each round and the medians as JSON.

    cmake --build build/<dir> --target bench_postgres_sink
    python3 tools/bench/postgres_sink_bench.py --build build/<dir> --events 300000 --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from pg_harness import PostgresServer, missing_reason  # noqa: E402

COLUMNS = "tenant, agent_id, seq, ts, kind, source, host, severity, fields, raw, received_at"


def workload(path, events):
    """The standard workload (../shared/bench/gen_events.py), generated once."""
    gen = os.path.join(ROOT, "..", "shared", "bench", "gen_events.py")
    if not os.path.exists(path):
        subprocess.run([sys.executable, gen, str(events), path], check=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "ci"), help="CMake build directory")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="events per batch")
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--input", default=None, help="NDJSON workload (default: generated in /tmp)")
    args = parser.parse_args()

    reason = missing_reason()
    if reason:
        sys.exit(reason)
    bench = os.path.join(args.build, "tools", "bench", "bench_postgres_sink")
    if not os.path.exists(bench):
        sys.exit(f"{bench} not built: cmake --build {args.build} --target bench_postgres_sink")
    data = args.input or workload(f"/tmp/edge-bench-events-{args.events}.ndjson", args.events)

    rounds = []
    with PostgresServer() as pg, tempfile.TemporaryDirectory(prefix="edge-pg-bench-") as tmp:
        os.chmod(tmp, 0o755)
        export = os.path.join(tmp, "rows.copy")

        def sql(query):
            return pg.psql(query)

        for r in range(args.rounds):
            if r > 0:
                sql("TRUNCATE events, agents")
            sql("CHECKPOINT")
            out = subprocess.run([bench, "--dsn", pg.dsn, "--input", data, "--events", str(args.events),
                                  "--batch", str(args.batch), "--pool-size", str(args.pool_size)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
            if out.returncode != 0:
                sys.exit(f"bench_postgres_sink failed:\n{out.stdout}\n{out.stderr}")
            sink = json.loads(out.stdout.strip().splitlines()[-1])
            stored = int(pg.scalar("SELECT count(*) FROM events"))
            if stored != args.events:
                sys.exit(f"the sink stored {stored} rows, expected {args.events}")
            if not os.path.exists(export):
                sql(f"\\copy (SELECT {COLUMNS} FROM events) TO '{export}'")
            sql("TRUNCATE events")
            sql("CHECKPOINT")
            started = time.monotonic()
            subprocess.run(pg.psql_command() + ["-c", f"\\copy events ({COLUMNS}) FROM '{export}'"],
                           check=True, stdout=subprocess.DEVNULL)
            copy_seconds = time.monotonic() - started
            copied = int(pg.scalar("SELECT count(*) FROM events"))
            if copied != args.events:
                sys.exit(f"\\copy stored {copied} rows, expected {args.events}")
            sql("TRUNCATE events, agents")
            result = {"round": r + 1, "sink_rows_per_second": round(sink["rows_per_second"]),
                      "sink_seconds": round(sink["seconds"], 3), "sink_cpu_seconds": round(sink["cpu_seconds"], 2),
                      "sink_peak_rss_mib": round(sink["peak_rss_mib"], 1),
                      "copy_rows_per_second": round(args.events / copy_seconds),
                      "copy_seconds": round(copy_seconds, 3)}
            result["ratio"] = round(result["sink_rows_per_second"] / result["copy_rows_per_second"], 3)
            print(json.dumps(result), flush=True)
            rounds.append(result)

    summary = {"events": args.events, "batch": args.batch, "pool_size": args.pool_size,
               "median_sink_rows_per_second": statistics.median(r["sink_rows_per_second"] for r in rounds),
               "median_copy_rows_per_second": statistics.median(r["copy_rows_per_second"] for r in rounds),
               "median_ratio": statistics.median(r["ratio"] for r in rounds)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
