"""/api/dashboard for the demo: response size and time per breakdown, cold (first request) and warm.

    python bench/bench_dashboard.py            # builds the demo in a temporary folder first

Prints one line per breakdown (total, region, channel, rep, and rep by day): the
size of the JSON document, the time of the first request (the server computes
everything) and the median of five more. The goal for the demo: under 300 KB and
0.5 s at any breakdown. The hand-written baseline is the time of one plain SQL
count over the demo's visits table, so slower machines are seen as such.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = [("total", "by=none"), ("region", "by=region"), ("channel", "by=channel"), ("rep", "by=rep"),
         ("rep, by day", "by=rep&grain=day"), ("east only, by channel", "by=channel&filter=region=east")]


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-dash-"))
    try:
        shutil.copytree(REPO / "kpi_specs", folder / "kpi_specs", ignore=shutil.ignore_patterns(".kpiengine"))
        kpi = str(Path(sys.executable).parent / "kpi")
        subprocess.run([kpi, "demo", "--spec", "kpi_specs"], cwd=folder, check=True, capture_output=True)
        subprocess.run([kpi, "check", "--spec", "kpi_specs"], cwd=folder, capture_output=True)
        os.environ["KPI_DEMO_DB"] = str(folder / "demo.duckdb")
        import duckdb

        from kpiengine.dashboard.server import start_in_thread

        con = duckdb.connect(str(folder / "demo.duckdb"), read_only=True)
        t = time.perf_counter()
        con.execute("SELECT count(*) FROM activities WHERE kind = 'visit' GROUP BY region").fetchall()
        baseline = time.perf_counter() - t
        con.close()
        srv = start_in_thread(str(folder / "kpi_specs"))
        try:
            print(f"{'breakdown':24} {'size KB':>8} {'first s':>8} {'warm s':>8}   (plain SQL count: {baseline * 1000:.1f} ms)")
            for name, query in CASES:
                times, size = [], 0
                for _ in range(6):
                    t = time.perf_counter()
                    with urllib.request.urlopen(f"{srv.url}api/dashboard?{query}", timeout=120) as resp:
                        size = len(resp.read())
                    times.append(time.perf_counter() - t)
                print(f"{name:24} {size / 1024:8.0f} {times[0]:8.2f} {statistics.median(times[1:]):8.2f}")
        finally:
            srv.shutdown()
            srv.server_close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
