"""Scale: the same spec at 1M, 10M and 100M rows on DuckDB files, and at 10M on Spark local.

    .venv/bin/python bench/bench_scale.py [--sizes 1000000,10000000,100000000] [--spark-rows 10000000]
                                          [--repeat 3] [--keep DIR]

For each size a DuckDB file on disk is generated (bench_engine.generate:
activities = rows, leads = rows/2, deals = rows/10), the 18-KPI spec is run by
week x region through Engine.compute (median of ``--repeat`` after a warm-up),
and the time per row and the growth from the previous size are printed: cost
linear in rows shows as growth close to the size ratio (10x), better than
linear as less. The Spark figure runs the same spec on Parquet copies of the
10M tables through a local Spark (``master: local[2]``), values compared with
DuckDB's. ``--keep DIR`` keeps the generated files for a later run.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402 - the shared data generator and spec


def timed_median(repeat: int, fn):
    fn()  # warm-up: file cache, buffer pool
    runs = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), result


def duckdb_sizes(sizes: list[int], folder: Path, repeat: int) -> dict[int, dict]:
    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    out: dict[int, dict] = {}
    previous = None
    for rows in sizes:
        db = folder / f"scale_{rows}.duckdb"
        if not db.exists():
            t0 = time.perf_counter()
            bench_engine.generate(str(db), rows)
            print(f"  generated {rows:,} rows in {time.perf_counter() - t0:.0f} s "
                  f"({db.stat().st_size / 2**30:.2f} GiB on disk)")
        spec = folder / f"spec_{rows}"
        spec.mkdir(exist_ok=True)
        bench_engine.write_bench_spec(spec, str(db), None)
        engine = Engine(load_project(spec))
        t, rs = timed_median(repeat, lambda: engine.compute(None, "week", ["region"]))
        total_rows = rows + rows // 2 + rows // 10
        growth = f", growth x{t / previous[1]:.2f} for x{rows / previous[0]:.0f} rows" if previous else ""
        print(f"DuckDB {rows:>12,} activities ({total_rows:,} rows scanned): {t:7.3f} s, "
              f"{t / total_rows * 1e9:6.1f} ns/row{growth}")
        out[rows] = {"seconds": t, "ns_per_row": t / total_rows * 1e9, "values": len(rs.rows), "rows": rs.rows}
        previous = (rows, t)
    return out


def spark_local(rows: int, folder: Path, repeat: int, duckdb_rows=None) -> dict:
    import duckdb

    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    db = folder / f"scale_{rows}.duckdb"
    if not db.exists():
        bench_engine.generate(str(db), rows)
    lake = folder / f"lake_{rows}"
    lake.mkdir(exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    for table in ("leads", "activities", "deals"):
        if not (lake / f"{table}.parquet").exists():
            con.execute(f"COPY {table} TO '{lake / f'{table}.parquet'}' (FORMAT parquet)")
    con.close()
    spec = folder / f"spark_spec_{rows}"
    spec.mkdir(exist_ok=True)
    bench_engine.write_bench_spec(spec, str(db), None)
    text = (spec / "bench.yml").read_text()
    tables = "".join(f"        {t}: {{path: \"{lake / f'{t}.parquet'}\", format: parquet}}\n"
                     for t in ("leads", "activities", "deals"))
    text = text.replace(f"    type: duckdb\n    path: {db}\n",
                        "    type: spark\n    master: local[2]\n    tables:\n" + tables)
    (spec / "bench.yml").write_text(text)
    t0 = time.perf_counter()
    engine = Engine(load_project(spec))
    first = engine.compute(None, "week", ["region"])
    start_s = time.perf_counter() - t0
    t, rs = timed_median(repeat, lambda: engine.compute(None, "week", ["region"]))
    agree = None
    if duckdb_rows is not None:
        def key(r):
            return (r.kpi, r.period_start, r.dimensions["region"])

        want = {key(r): r.value for r in duckdb_rows}
        agree = len(want) == len(rs.rows) and all(
            (r.value is None) == (want.get(key(r)) is None) and
            (r.value is None or math.isclose(float(r.value), float(want[key(r)]), rel_tol=1e-9, abs_tol=1e-9))
            for r in rs.rows)
    print(f"Spark local[2] {rows:,} activities (Parquet): {t:.3f} s per request once running; first request "
          f"{start_s:.1f} s including the JVM start; values agree with DuckDB: {agree}")
    del first
    return {"seconds": t, "first_s": start_s, "agree": agree}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000,100000000")
    ap.add_argument("--spark-rows", type=int, default=10_000_000, help="0 skips Spark")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", default=None, help="folder for the generated files (kept)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="kpibench-scale-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = duckdb_sizes(sizes, folder, args.repeat)
        if len(sizes) > 1:
            a, b = sizes[0], sizes[-1]
            print(f"DuckDB growth {a:,} -> {b:,} rows: x{results[b]['seconds'] / results[a]['seconds']:.1f} time "
                  f"for x{b / a:.0f} rows ({'linear or better' if results[b]['seconds'] / results[a]['seconds'] <= 1.1 * b / a else 'worse than linear'})")
        if args.spark_rows:
            same = results.get(args.spark_rows, {}).get("rows")
            spark = spark_local(args.spark_rows, folder, args.repeat, same)
            if args.spark_rows in results:
                print(f"Spark local / DuckDB at {args.spark_rows:,}: "
                      f"{spark['seconds'] / results[args.spark_rows]['seconds']:.1f}x")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
