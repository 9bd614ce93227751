"""Every figure of issue 11's table, each with its ratio, in one run (plus the scale figures).

    .venv/bin/python bench/bench_all.py [--rows 10000000] [--repeat 5] [--quick] [--no-scale]

Generates the 10M and 1M benchmark databases once and runs, each in its own
process so imports and memory do not leak between them:

  bench_engine.py       DuckDB 10M and 1M: compiled SQL alone / hand-written SQL; Engine.compute / hand
  bench_command.py      whole `kpi run` as a process / bare Python + hand SQL, peak RSS, `kpi --help`,
                        by week x rep compute + JSON / SQL alone, 1,000 and 5,000 KPI specs
  bench_postgres.py     PostgreSQL Engine.compute / hand-written SQL
  bench_incremental.py  a run after one new day / a full run (rows in random and in time order)
  bench_scale.py        DuckDB 1M -> 10M -> 100M growth (files on disk), Spark local at 10M
and prints the SQLite text-date SQL sizes. ``--quick`` uses 1M rows and skips
PostgreSQL, the 100M file and Spark. Benchmarks print ratios; none asserts a time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_engine  # noqa: E402 - the shared data generator


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 96 - len(title)), flush=True)


def run(script: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, str(HERE / script), *args], text=True, capture_output=True)
    print(proc.stdout.rstrip(), flush=True)
    if proc.returncode:
        print(f"  ({script} failed: {proc.stderr.strip()[-1500:]})", flush=True)


def sqlite_text_dates() -> None:
    from sqlglot import exp

    from kpiengine.sql.periods import text_to_timestamp

    for fmt, before in (("%d-%m-%Y", 4079), ("%d-%m-%Y %H:%M", 18281), ("%d-%m-%Y %H:%M:%S", 37262)):
        size = len(text_to_timestamp(exp.column("t"), fmt, "sqlite").sql("sqlite"))
        print(f"SQLite text date {fmt!r}: {size:,} characters of SQL (was {before:,}: {before / size:.1f}x smaller)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1M rows; no PostgreSQL, 100M or Spark")
    ap.add_argument("--no-scale", action="store_true", help="skip the 100M and Spark figures")
    ap.add_argument("--keep", default=None, help="keep generated files here (the 100M file is reused)")
    args = ap.parse_args(argv)
    rows = 1_000_000 if args.quick else args.rows
    repeat = str(args.repeat)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(medians of alternating runs; on a busy machine compare the ratios, not the seconds)")
    with tempfile.TemporaryDirectory(prefix="kpibench-all-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        big, small = folder / f"scale_{rows}.duckdb", folder / "scale_1000000.duckdb"
        for db, n in ((big, rows), (small, 1_000_000)):
            if not db.exists():
                t0 = time.perf_counter()
                bench_engine.generate(str(db), n)
                print(f"generated {n:,} activities in {time.perf_counter() - t0:.0f} s")

        section(f"DuckDB {rows:,}: compiled SQL and Engine.compute against the hand-written query")
        run("bench_engine.py", "--rows", str(rows), "--db", str(big), "--repeat", repeat)
        if rows != 1_000_000:
            section("DuckDB 1,000,000: compiled SQL against the hand-written query")
            run("bench_engine.py", "--rows", "1000000", "--db", str(small), "--repeat", repeat)
        section(f"the whole command at {rows:,}, high cardinality, large specs")
        run("bench_command.py", "--rows", str(rows), "--db", str(big), "--repeat", repeat)
        if not args.quick:
            section(f"PostgreSQL {rows:,}")
            run("bench_postgres.py", "--rows", str(rows), "--db", str(big), "--repeat", str(max(3, args.repeat)))
        section(f"incremental run after one new day, {rows:,}")
        # rounds take well under a second each, and the ratio is a tenth of a run: more rounds than elsewhere
        run("bench_incremental.py", "--rows", str(rows), "--db", str(big), "--repeat", str(max(9, 2 * args.repeat)))
        section("SQLite text dates")
        sqlite_text_dates()
        if not (args.quick or args.no_scale):
            section("scale: DuckDB 1M -> 10M -> 100M on disk, Spark local at 10M")
            run("bench_scale.py", "--sizes", "1000000,10000000,100000000", "--spark-rows", "10000000",
                "--repeat", "3", "--keep", str(folder))
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
