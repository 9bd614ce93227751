"""Joins through entities against a hand-written single SQL: facts broken down by a dimension table's column.

    .venv/bin/python bench/bench_joins.py [--rows 10000000] [--reps 100000] [--repeat 3]

1. Generates ``--rows`` deals (rep_id, stage, amount, created_at over a year; 1 % with a NULL
   rep_id and 1 % with a rep_id that matches no rep) and ``--reps`` reps (rep_id, team of 50,
   region of 5) in a DuckDB file in a temporary folder.
2. Runs 4 KPIs of the deals model (count, won count, won amount, average amount) and one formula
   (win rate) by week and ``rep.team`` through ``kpiengine.engine.Engine``: one scan of deals
   LEFT JOINed to reps.
3. Runs the query a person would write for the same result (one SELECT with the LEFT JOIN and
   ``FILTER`` aggregates), fetches its rows and divides in Python, timed the same way.
4. Checks both give the same numbers and prints times, rows and the ratio (engine / hand-written).

Times are wall-clock seconds, best of ``--repeat`` runs after one warm-up, the two alternating so
load from other processes hits both alike. On a loaded machine, ``--rows 1000000`` gives the same
ratio in a tenth of the time.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
project: {{name: bench_joins, default_source: wh}}
sources:
  wh: {{type: duckdb, path: {db}}}
models:
  deals:
    table: deals
    time: created_at
    entities: {{deal: {{type: primary}}, rep: {{type: foreign}}}}
    dimensions: {{stage: stage}}
  reps:
    table: reps
    entities: {{rep: {{type: primary}}}}
    dimensions: {{team: team, region: region}}
kpis:
  deals: {{label: Deals, model: deals, aggregate: count}}
  won: {{label: Won, model: deals, aggregate: count, filter: "stage = 'won'"}}
  won_amount: {{label: Won amount, model: deals, aggregate: sum, column: amount, filter: "stage = 'won'"}}
  avg_amount: {{label: Avg amount, model: deals, aggregate: avg, column: amount}}
  win_rate: {{label: Win rate, formula: won / deals}}
"""

HAND = """
SELECT CAST(date_trunc('week', d.created_at) AS DATE) AS week, r.team,
       count(*) AS deals,
       count(*) FILTER (WHERE d.stage = 'won') AS won,
       sum(d.amount) FILTER (WHERE d.stage = 'won') AS won_amount,
       avg(d.amount) AS avg_amount
FROM deals d LEFT JOIN reps r ON d.rep_id = r.rep_id
WHERE d.created_at IS NOT NULL
GROUP BY 1, 2
"""


def build(db: str, rows: int, reps: int) -> None:
    import duckdb

    con = duckdb.connect(db)
    con.execute(f"""CREATE TABLE reps AS SELECT i::INTEGER AS rep_id, 'team' || (i % 50) AS team,
                    ['north', 'south', 'east', 'west', 'central'][1 + i % 5] AS region
                    FROM range(1, {reps} + 1) t(i)""")
    con.execute(f"""CREATE TABLE deals AS
        SELECT i::BIGINT AS deal_id,
               CASE WHEN hash(i) % 100 = 0 THEN NULL WHEN hash(i) % 100 = 1 THEN {reps} + 7
                    ELSE 1 + (hash(i * 3) % {reps}) END::INTEGER AS rep_id,
               ['won', 'lost', 'open'][(1 + hash(i * 5) % 3)::BIGINT] AS stage,
               round((hash(i * 7) % 100000) / 100.0, 2)::DECIMAL(12,2) AS amount,
               TIMESTAMP '2025-01-06' + to_seconds((hash(i * 11) % (364 * 86400))::BIGINT) AS created_at
        FROM range({rows}) t(i)""")
    con.close()


def engine_run(engine):
    rs = engine.compute(grain="week", by=["rep.team"])
    return {(r.kpi, r.period_start, r.dimensions["rep.team"]): r.value for r in rs.rows}


def hand_run(db: str):
    import duckdb

    con = duckdb.connect(db, read_only=True)
    out = {}
    for week, team, deals, won, won_amount, avg_amount in con.execute(HAND).fetchall():
        out[("deals", week, team)] = deals
        out[("won", week, team)] = won
        out[("won_amount", week, team)] = float(won_amount) if won_amount is not None else 0
        out[("avg_amount", week, team)] = float(avg_amount) if avg_amount is not None else None
        out[("win_rate", week, team)] = won / deals if deals else None
    con.close()
    return out


def same(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for k, v in a.items():
        w = b[k]
        if (v is None) != (w is None) or (v is not None and not math.isclose(float(v), float(w), rel_tol=1e-9)):
            print(f"differs at {k}: engine {v!r}, hand-written {w!r}", file=sys.stderr)
            return False
    return True


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    return ap.parse_args()


def prepared(tmp: str, args, spec: str, engine_run, hand_run):
    """(db, engine, values) over this bench's data, or None when the engine and the hand SQL disagree."""
    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    db = str(Path(tmp) / "joins.duckdb")
    t = time.perf_counter()
    build(db, args.rows, args.reps)
    print(f"data: {args.rows:,} deals, {args.reps:,} reps, built in {time.perf_counter() - t:.1f} s")
    (Path(tmp) / "spec").mkdir()
    (Path(tmp) / "spec" / "spec.yml").write_text(spec.format(db=db), encoding="utf-8")
    engine = Engine(load_project(str(Path(tmp) / "spec")))
    got, want = engine_run(engine), hand_run(db)  # warm-up, and the check
    if not same(got, want):
        print("engine and hand-written SQL disagree", file=sys.stderr)
        return None
    return db, engine, got


def main() -> int:
    args = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepared(tmp, args, SPEC, engine_run, hand_run)
        if ready is None:
            return 1
        db, engine, got = ready
        import duckdb

        sql = engine.compile(grain="week", by=["rep.team"])[0].sql
        te, th, ts = [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            engine_run(engine)
            te.append(time.perf_counter() - t)
            t = time.perf_counter()
            hand_run(db)
            th.append(time.perf_counter() - t)
            con = duckdb.connect(db, read_only=True)
            t = time.perf_counter()
            con.execute(sql).fetchall()
            ts.append(time.perf_counter() - t)
            con.close()
        e, h, q = min(te), min(th), min(ts)
        print(f"values: {len(got):,} (5 KPIs x weeks x teams, the NULL team included), identical")
        print(f"engine (one scan, LEFT JOIN through entities): {e:.3f} s")
        print(f"hand-written single SQL:                       {h:.3f} s")
        print(f"the engine's SQL alone (no Python around it):  {q:.3f} s")
        print(f"ratio engine / hand-written: {e / h:.2f}; the join SQL alone / hand-written: {q / h:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
