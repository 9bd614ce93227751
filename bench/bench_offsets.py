"""Year-over-year (and a rolling window) against one hand-written SQL of the same result, on DuckDB.

    .venv/bin/python bench/bench_offsets.py [--rows 10000000] [--repeat 3]

Builds a fact table of --rows sales over three years (20 regions), then times

* ``revenue / revenue[same_period_last_year] - 1`` per month and region for 2026 through the
  engine (one scan, its range widened to the same months of 2025: sql/windows.py), against a
  hand-written query that aggregates both years and self-joins them;
* ``count_distinct(customer) window: 28d`` per week for one quarter (the spine range join of
  sql/rolling.py), against a hand-written range join.

It checks that both give the same values and prints the medians and the ratio engine / hand-written
(no pass/fail: the figures go into docs/performance.md).
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from kpiengine.engine import Engine
from kpiengine.loader import load_project

YOY_SQL = """
WITH m AS (
  SELECT CAST(DATE_TRUNC('month', ts) AS DATE) AS p, region, SUM(amount) AS r
  FROM facts WHERE ts >= TIMESTAMP '2025-01-01' AND ts < TIMESTAMP '2027-01-01' GROUP BY 1, 2)
SELECT c.p, c.region, c.r / NULLIF(prev.r, 0) - 1
FROM m AS c LEFT JOIN m AS prev ON prev.p = CAST(c.p - INTERVAL 1 YEAR AS DATE)
                                AND prev.region IS NOT DISTINCT FROM c.region
WHERE c.p >= DATE '2026-01-01'
"""

ROLLING_SQL = """
WITH f AS (SELECT *, CAST(DATE_TRUNC('week', ts) AS DATE) AS p FROM facts
           WHERE ts >= TIMESTAMP '2026-03-09' AND ts < TIMESTAMP '2026-07-06'),
     s AS (SELECT DISTINCT p FROM f WHERE ts >= TIMESTAMP '2026-04-06')
SELECT s.p, f.region, COUNT(DISTINCT f.customer_id)
FROM s JOIN f ON f.ts >= s.p + INTERVAL 7 DAY - INTERVAL 28 DAY AND f.ts < s.p + INTERVAL 7 DAY
GROUP BY 1, 2
"""


def build(folder: Path, rows: int) -> Path:
    db = folder / "facts.duckdb"
    con = duckdb.connect(str(db))
    con.execute("SELECT setseed(0.42)")
    con.execute(f"""
        CREATE TABLE facts AS
        SELECT TIMESTAMP '2024-01-01' + to_seconds(CAST(floor(random() * 3 * 365 * 86400) AS BIGINT)) AS ts,
               'region_' || CAST(floor(random() * 20) AS INTEGER) AS region,
               CAST(floor(random() * 200000) AS INTEGER) AS customer_id,
               round(random() * 1000, 2) AS amount
        FROM range({rows})""")
    con.close()
    (folder / "spec.yml").write_text(f"""
project: {{name: bench, default_source: w}}
sources: {{w: {{type: duckdb, path: "{db}"}}}}
models:
  facts: {{table: facts, time: ts, dimensions: {{region: region}}}}
kpis:
  revenue: {{label: r, model: facts, aggregate: sum, column: amount}}
  revenue_yoy: {{label: y, formula: "revenue / revenue[same_period_last_year] - 1"}}
  customers_28d: {{label: c, model: facts, aggregate: count_distinct, column: customer_id, window: 28d}}
""")
    return db


def median_time(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (a[k] is None and b[k] is None) or (a[k] is not None and b[k] is not None
                                            and math.isclose(a[k], b[k], rel_tol=1e-9)) for k in a)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        db = build(folder, args.rows)
        print(f"{args.rows:,} facts built in {time.perf_counter() - t0:.1f} s")
        engine = Engine(load_project(str(folder)))
        con = duckdb.connect(str(db), read_only=True)
        cases = [
            ("year over year, month x region, 2026", ["revenue_yoy"], "month", date(2026, 1, 1), date(2027, 1, 1),
             YOY_SQL),
            ("distinct customers over 28 days, week x region, one quarter", ["customers_28d"], "week",
             date(2026, 4, 6), date(2026, 7, 6), ROLLING_SQL),
        ]
        for what, kpis, grain, start, end, sql in cases:
            t_engine, rs = median_time(lambda k=kpis, g=grain, s=start, e=end: engine.compute(k, g, ["region"], s, e),
                                       args.repeat)
            t_hand, rows = median_time(lambda q=sql: con.execute(q).fetchall(), args.repeat)
            got = {(r.period_start, r.dimensions["region"]): r.value for r in rs.rows}
            split = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in rs.timings.items())
            want = {(p if isinstance(p, date) else p.date(), region): None if v is None else float(v)
                    for p, region, v in rows}
            print(f"{what}: engine {t_engine * 1000:.0f} ms ({len(rs.queries)} query), hand-written "
                  f"{t_hand * 1000:.0f} ms, ratio {t_engine / t_hand:.2f}, same values: {same(got, want)} "
                  f"({len(got)} rows; engine: {split})")
        con.close()


if __name__ == "__main__":
    main()
