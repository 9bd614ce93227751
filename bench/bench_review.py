"""`kpi review` on the demo: time of the whole review against the hand-written queries it cannot avoid.

    python bench/bench_review.py [DEMO_FOLDER]   # without a folder: builds the demo in a temporary one

A review needs every KPI per week over the window and each target period's
values (totals and per dimension value). The baseline is one hand-written
DuckDB query per model and breakdown that returns those numbers (weekly totals
of the four demo models, Q3/Q4 conversion and visits, Q4 conversion by
region), run in the same process on the same file. Prints both times, the
ratio, and the parts of the review (engine requests, root-cause line).
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END, TODAY = date(2026, 7, 1), date(2026, 11, 2), date(2026, 12, 1)
HAND = [
    "SELECT date_trunc('week', happened_at) w, count(*) FILTER (WHERE kind = 'visit'), count(*) FILTER (WHERE kind = "
    "'call'), count(*) FILTER (WHERE kind = 'meeting') FROM activities WHERE happened_at >= DATE '2026-06-29' AND "
    "happened_at < DATE '2026-11-02' GROUP BY 1",
    "SELECT date_trunc('week', closed_at) w, count(*) FILTER (WHERE stage = 'won'), count(*) FILTER (WHERE stage = "
    "'lost'), sum(amount) FILTER (WHERE stage = 'won') FROM deals WHERE closed_at >= DATE '2026-06-29' AND closed_at "
    "< DATE '2026-11-02' GROUP BY 1",
    "SELECT date_trunc('week', created_at) w, count(*), count(*) FILTER (WHERE grade = 'A') FROM leads WHERE "
    "created_at >= DATE '2026-06-29' AND created_at < DATE '2026-11-02' GROUP BY 1",
    "SELECT date_trunc('week', week_start) w, avg(score) FROM rep_mindset WHERE week_start >= DATE '2026-06-29' AND "
    "week_start < DATE '2026-11-02' GROUP BY 1",
    "SELECT date_trunc('quarter', happened_at) q, region, count(*) FROM activities WHERE kind = 'visit' AND "
    "happened_at >= DATE '2026-07-01' AND happened_at < DATE '2026-11-02' GROUP BY ALL",
    "SELECT date_trunc('quarter', closed_at) q, region, count(*) FROM deals WHERE stage = 'won' AND closed_at >= "
    "DATE '2026-07-01' AND closed_at < DATE '2026-11-02' GROUP BY ALL",
]


def main() -> None:
    given = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    folder = given or Path(tempfile.mkdtemp(prefix="kpi-bench-review-"))
    try:
        if given is None:
            shutil.copytree(REPO / "kpi_specs", folder / "kpi_specs", ignore=shutil.ignore_patterns(".kpiengine"))
            kpi = str(Path(sys.executable).parent / "kpi")
            subprocess.run([kpi, "demo", "--spec", "kpi_specs"], cwd=folder, check=True, capture_output=True)
        os.environ["KPI_DEMO_DB"] = str(folder / "demo.duckdb")
        import duckdb

        from kpiengine.analysis import review as review_module
        from kpiengine.analysis.review import build_review
        from kpiengine.loader import load_project
        from kpiengine.run.engine import Engine

        hand = []
        for _ in range(5):
            t = time.perf_counter()
            con = duckdb.connect(str(folder / "demo.duckdb"), read_only=True)
            for sql in HAND:
                con.execute(sql).fetchall()
            con.close()
            hand.append(time.perf_counter() - t)
        project = load_project(folder / "kpi_specs")
        calls = {"n": 0}
        original = Engine.compute

        def counted(self, *args, **kwargs):
            calls["n"] += 1
            return original(self, *args, **kwargs)

        Engine.compute = counted
        runs, located = [], []
        for _ in range(3):
            calls["n"] = 0
            t = time.perf_counter()
            build_review(Engine(project), START, END, today=TODAY, locate=False)
            runs.append(time.perf_counter() - t)
            requests = calls["n"]
            t = time.perf_counter()
            review_module.locate_change(Engine(project), "conversion", date(2026, 6, 29), date(2026, 10, 26),
                                 project.kpis["conversion"].dimensions, "week")
            located.append(time.perf_counter() - t)
        Engine.compute = original
        h, r = statistics.median(hand), statistics.median(runs)
        print(f"hand-written queries ({len(HAND)}, one connection): {h * 1000:8.1f} ms")
        print(f"build_review, {len(project.kpis)} KPIs, 17 weeks ({requests} engine requests): {r * 1000:8.1f} ms"
              f"   ratio {r / h:.1f}x")
        print(f"root-cause line of one KPI to strengthen (kpi explain --change, 2 dimensions): "
              f"{statistics.median(located) * 1000:8.1f} ms")
    finally:
        if given is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
