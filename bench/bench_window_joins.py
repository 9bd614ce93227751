"""A window KPI by a joined dimension under a query filter, against a hand-written single SQL.

    .venv/bin/python bench/bench_window_joins.py [--rows 10000000] [--reps 100000] [--repeat 3]

The data of bench/bench_joins.py (deals with a rep, 1 % NULL and 1 % unmatched rep ids; reps with
a team and a region). The request: ``deals_4w`` (count over the week and the 3 before it) and
``reps_4w`` (distinct reps over the same window, not a sum of weekly counts), by week and
``rep.team``, ``--where "rep.region = 'east'"``. The engine reads it through the window planner
(sql/rolling.py), which now LEFT JOINs reps and applies the filter below the window. The
hand-written query is what a person would write for the same numbers: the filtered, joined rows,
the weeks they fall in, and a range join of each week to the rows of its four weeks.

Times are wall-clock seconds, best of ``--repeat`` after a warm-up, the two alternating.
"""
from __future__ import annotations

import sys
import tempfile
import time

from bench_joins import arguments, prepared

SPEC = """
project: {{name: bench_window_joins, default_source: wh}}
sources:
  wh: {{type: duckdb, path: {db}}}
models:
  deals:
    table: deals
    time: created_at
    entities: {{deal: {{type: primary}}, rep: {{type: foreign}}}}
  reps:
    table: reps
    entities: {{rep: {{type: primary}}}}
    dimensions: {{team: team, region: region}}
kpis:
  deals_4w: {{label: Deals 4w, model: deals, aggregate: count, window: "4 periods"}}
  reps_4w: {{label: Reps 4w, model: deals, aggregate: count_distinct, column: rep_id, window: "4 periods"}}
"""

HAND = """
WITH w AS (
  SELECT d.created_at, d.rep_id, r.team, CAST(date_trunc('week', d.created_at) AS DATE) AS wk
  FROM deals d LEFT JOIN reps r ON d.rep_id = r.rep_id
  WHERE d.created_at IS NOT NULL AND r.region = 'east'),
s AS (SELECT DISTINCT wk FROM w)
SELECT s.wk, w.team, count(*), count(DISTINCT w.rep_id)
FROM s JOIN w ON w.created_at >= s.wk - INTERVAL 21 DAY AND w.created_at < s.wk + INTERVAL 7 DAY
GROUP BY 1, 2
"""
WHERE = "rep.region = 'east'"


def engine_run(engine):
    rs = engine.compute(grain="week", by=["rep.team"], where=WHERE)
    return {(r.kpi, r.period_start, r.dimensions["rep.team"]): r.value for r in rs.rows}


def hand_run(db: str):
    import duckdb

    con = duckdb.connect(db, read_only=True)
    out = {}
    for week, team, deals, reps in con.execute(HAND).fetchall():
        out[("deals_4w", week, team)] = deals
        out[("reps_4w", week, team)] = reps
    con.close()
    return out


def main() -> int:
    args = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepared(tmp, args, SPEC, engine_run, hand_run)
        if ready is None:
            return 1
        db, engine, got = ready
        te, th = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            engine_run(engine)
            te.append(time.perf_counter() - t)
            t = time.perf_counter()
            hand_run(db)
            th.append(time.perf_counter() - t)
        e, h = min(te), min(th)
        print(f"values: {len(got):,} (2 window KPIs x weeks x teams under the filter), identical")
        print(f"engine (window planner, LEFT JOIN and filter below the window): {e:.3f} s")
        print(f"hand-written single SQL:                                        {h:.3f} s")
        print(f"ratio engine / hand-written: {e / h:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
