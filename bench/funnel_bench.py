"""Benchmark: a 5-step funnel over N events (default 10 million) in DuckDB.

Compares the query kpiengine compiles (kpiengine.funnel_sql through sqlglot)
with a hand-written DuckDB query of the same funnel (ordered steps, 30-day
window from the entry, breakdown by region, per month, distinct entities and
median time between steps), checks both give the same numbers, and prints the
times (best of --repeat), the rows returned and the ratio.

    .venv/bin/python bench/funnel_bench.py [--rows 10000000] [--repeat 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb

STEPS = ["visit", "signup", "trial", "quote", "paid"]
WEIGHTS = [0.40, 0.25, 0.15, 0.12, 0.08]

SPEC = """project: {{name: funnel-bench}}
sources:
  wh: {{type: duckdb, path: "{db}", threads: {threads}}}
models:
  events:
    table: events
    time: ts
    entity: uid
    dimensions: {{region: region}}
funnels:
  bench:
    window: 30d
    breakdown: [region]
    steps:
{steps}
"""

HAND = """
WITH s1 AS (
  SELECT uid, min(ts) AS t1, arg_min(region, ts) AS region FROM events WHERE kind = 'visit' GROUP BY uid),
s2 AS (
  SELECT e.uid, min(e.ts) AS t2 FROM events e JOIN s1 ON e.uid = s1.uid
  WHERE e.kind = 'signup' AND e.ts >= s1.t1 AND e.ts <= s1.t1 + INTERVAL 30 DAY GROUP BY e.uid),
s3 AS (
  SELECT e.uid, min(e.ts) AS t3 FROM events e JOIN s2 ON e.uid = s2.uid JOIN s1 ON e.uid = s1.uid
  WHERE e.kind = 'trial' AND e.ts >= s2.t2 AND e.ts <= s1.t1 + INTERVAL 30 DAY GROUP BY e.uid),
s4 AS (
  SELECT e.uid, min(e.ts) AS t4 FROM events e JOIN s3 ON e.uid = s3.uid JOIN s1 ON e.uid = s1.uid
  WHERE e.kind = 'quote' AND e.ts >= s3.t3 AND e.ts <= s1.t1 + INTERVAL 30 DAY GROUP BY e.uid),
s5 AS (
  SELECT e.uid, min(e.ts) AS t5 FROM events e JOIN s4 ON e.uid = s4.uid JOIN s1 ON e.uid = s1.uid
  WHERE e.kind = 'paid' AND e.ts >= s4.t4 AND e.ts <= s1.t1 + INTERVAL 30 DAY GROUP BY e.uid)
SELECT CAST(date_trunc('month', t1) AS DATE) AS period_start, region,
       count(*) AS n1, count(t2) AS n2, count(t3) AS n3, count(t4) AS n4, count(t5) AS n5,
       median(epoch(t2) - epoch(t1)) AS m2, median(epoch(t3) - epoch(t2)) AS m3,
       median(epoch(t4) - epoch(t3)) AS m4, median(epoch(t5) - epoch(t4)) AS m5
FROM s1 LEFT JOIN s2 USING (uid) LEFT JOIN s3 USING (uid) LEFT JOIN s4 USING (uid) LEFT JOIN s5 USING (uid)
GROUP BY ALL ORDER BY ALL
"""


def generate(db: str, rows: int, threads: int) -> float:
    """Events of ~rows/5 entities: random step, time within 180 days, region fixed per entity (hash-based)."""
    t0 = time.perf_counter()
    con = duckdb.connect(db)
    con.execute(f"SET threads = {threads}")
    cuts, acc = [], 0.0
    for w in WEIGHTS:
        acc += w
        cuts.append(acc)
    case = " ".join(f"WHEN r < {c:.4f} THEN '{s}'" for c, s in zip(cuts[:-1], STEPS[:-1]))
    con.execute(f"""
        CREATE TABLE events AS
        SELECT uid, TIMESTAMP '2026-01-01' + to_seconds(CAST(hash(i, 2) % {180 * 86400} AS BIGINT)) AS ts,
               CASE {case} ELSE '{STEPS[-1]}' END AS kind,
               ['north', 'south', 'east', 'west', 'central'][CAST(hash(uid, 3) % 5 AS INTEGER) + 1] AS region
        FROM (SELECT i, CAST(hash(i, 1) % {max(1, rows // 5)} AS BIGINT) AS uid,
                     (hash(i, 4) % 1000000) / 1000000.0 AS r
              FROM range({rows}) t(i))""")
    con.close()
    return time.perf_counter() - t0


def best_of(con, sql: str, repeat: int) -> tuple[float, list]:
    best, rows = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - t0)
    return best, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from kpiengine.sql.funnel_sql import compile_funnel
    from kpiengine.analysis.funnels import assemble, get_funnel
    from kpiengine.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "events.duckdb")
        gen_s = generate(db, args.rows, args.threads)
        steps = "\n".join(f"      - {{name: {s}, model: events, filter: \"kind = '{s}'\"}}" for s in STEPS)
        spec_dir = Path(tmp) / "spec"
        spec_dir.mkdir()
        (spec_dir / "bench.yml").write_text(SPEC.format(db=db, threads=args.threads, steps=steps))
        project = load_project(spec_dir)
        funnel = get_funnel(project, "bench")
        t0 = time.perf_counter()
        compiled = compile_funnel(project, funnel, "month", ["region"], None, None, "cohort", "duckdb")
        sql = compiled.sql()
        compile_s = time.perf_counter() - t0

        con = duckdb.connect(db, read_only=True)
        con.execute(f"SET threads = {args.threads}")
        compiled_s, compiled_rows = best_of(con, sql, args.repeat)
        hand_s, hand_rows = best_of(con, HAND, args.repeat)
        con.close()

        result = assemble(funnel, "cohort", "month", ["region"], compiled.long_rows(compiled_rows))
        got = {(r.period_start, r.dimensions["region"]): [s.entities for s in r.steps] +
               [s.median_seconds for s in r.steps[1:]] for r in result.rows}
        want = {(r[0], r[1]): [r[2], r[3], r[4], r[5], r[6], *[None if m is None else float(m) for m in r[7:]]]
                for r in hand_rows}
        same = got.keys() == want.keys() and all(
            all((a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-6 * max(1, abs(b)))
                for a, b in zip(got[k], want[k])) for k in want)
        entities = sum(v[0] for v in want.values())
        print(f"events: {args.rows:,}  entities entering: {entities:,}  threads: {args.threads}  "
              f"(generated in {gen_s:.1f} s)")
        print(f"compile (sqlglot, 5 steps):  {compile_s * 1000:8.1f} ms")
        print(f"compiled query:              {compiled_s:8.3f} s  rows {len(compiled_rows)} ({'wide' if compiled.wide else 'long'})")
        print(f"hand-written query:          {hand_s:8.3f} s  rows {len(hand_rows)} (wide: period x region)")
        print(f"ratio compiled / hand:       {compiled_s / hand_s:8.2f}x")
        print(f"same numbers (counts and medians): {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
