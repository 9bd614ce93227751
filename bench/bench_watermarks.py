"""Watermarks: what knowing how far each model's data reaches costs a run.

    .venv/bin/python bench/bench_watermarks.py [--rows 10000000] [--repeat 3] [--db FILE]

Uses bench_engine's data (activities, leads and deals over a year in DuckDB)
and its spec of 18 KPIs over 3 models, run by week and region. Prints:

1. the watermark queries' time (one batched ``SELECT (SELECT MAX(t) FROM a),
   (SELECT MAX(t) FROM b), ...`` per source) as a share of the whole
   ``Engine.compute`` (which runs them once per engine: ``timings["watermark_s"]``
   plus the marking), best of ``--repeat`` fresh engines;
2. the batched watermark query against a hand-written ``SELECT MAX(time)`` per
   table on one connection (the ratio), alternating so load hits both alike;
3. that a second compute on the same engine asks nothing again (cached per run).

Both sides' maxima are compared.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_engine

HAND = {"activities": "happened_at", "leads": "created_at", "deals": "created_at"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", default=None, help="reuse (or create) this DuckDB file")
    args = ap.parse_args(argv)

    import duckdb

    from kpiengine.loader import load_project
    from kpiengine.run.engine import Engine

    tmp = Path(tempfile.mkdtemp(prefix="kpi-bench-wm-"))
    db = args.db or str(tmp / "bench.duckdb")
    if not os.path.exists(db):
        t0 = time.perf_counter()
        counts = bench_engine.generate(db, args.rows)
        print(f"generated {counts} in {time.perf_counter() - t0:.1f}s")
    spec = tmp / "spec"
    spec.mkdir()
    bench_engine.write_bench_spec(spec, db, None)
    project = load_project(str(spec))

    # 1. share of compute: fresh engines, so every compute asks for the watermarks once
    shares, best_total, best_marks = [], math.inf, math.inf
    Engine(project).compute(grain="week", by=["region"])  # warm-up
    for _ in range(args.repeat):
        rs = Engine(project).compute(grain="week", by=["region"])
        total, marks = rs.timings["total_s"], rs.timings["watermark_s"]
        shares.append(marks / total)
        best_total, best_marks = min(best_total, total), min(best_marks, marks)
    print(f"Engine.compute (18 KPIs, 3 models, week x region): best {best_total:.3f}s; watermarks (query + "
          f"marking {len(rs.rows)} values) best {best_marks * 1000:.1f} ms; share of compute "
          f"{min(shares) * 100:.1f} % (median {sorted(shares)[len(shares) // 2] * 100:.1f} %)")

    # 2. the batched watermark query against hand-written MAX queries
    engine = Engine(project)

    def batched():
        engine._watermarks.clear()
        return {m: w.reach for m, w in engine.watermarks(list(HAND)).items()}

    def hand():
        con = duckdb.connect(db, read_only=True)
        try:
            return {t: con.execute(f"SELECT MAX({c}) FROM {t}").fetchone()[0] for t, c in HAND.items()}
        finally:
            con.close()

    batched(), hand()  # warm-up
    best_b = best_h = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        got = batched()
        best_b = min(best_b, time.perf_counter() - t0)
        t0 = time.perf_counter()
        want = hand()
        best_h = min(best_h, time.perf_counter() - t0)
    same = all(got[m] == want[m] for m in HAND)
    print(f"watermarks of 3 models: batched query {best_b * 1000:.1f} ms, hand-written MAX per table "
          f"{best_h * 1000:.1f} ms, ratio {best_b / best_h:.2f}x; same maxima: {same}")

    # 3. cached per engine: a second compute asks nothing again
    engine = Engine(project)
    engine.compute(grain="week", by=["region"])
    rs2 = engine.compute(grain="month", by=[])
    print(f"second compute on the same engine: watermarks {rs2.timings['watermark_s'] * 1000:.2f} ms (cached)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
