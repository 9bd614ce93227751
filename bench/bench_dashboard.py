"""/api/dashboard for the demo: response size and time per breakdown, cold, first and warm.

    python bench/bench_dashboard.py            # builds the demo in a temporary folder first
    python bench/bench_dashboard.py --quick    # one warm repetition, no cold server per case

Prints one line per breakdown (total, region, channel, rep, rep by day, a filter and a
where filter). The live page asks for its first screen (``part=first``: every panel but
"why it changed" and the funnels, which are pending) and then for those (``part=rest``); the
figures but the last columns are the first screen's, the one the goal is about:

* ``size KB``: the JSON document;
* ``cold s``: the request on a server that answered nothing yet (no spec, value,
  funnel or response kept): what the first visitor after ``kpi serve`` starts waits;
  ``cold cpu``: the CPU seconds it took (all threads, DuckDB's included), which a busy
  machine inflates far less than the wall time;
* ``first s``: the first request for this address on a server that answered the
  addresses above it a moment ago (it lends their totals, funnel totals and spec):
  what switching the breakdown on the page costs;
* ``new addr s``: the median of three requests for the same breakdown that miss the
  response cache (another sparkline length, as a clicked node or another focus KPI would);
* ``warm s``: the median of the same address again (the response cache);
* ``rest s``: the page's second request (why, the funnel and product matrix panels), sent
  right after ``first s`` as the page does; ``--whole`` also times the whole document
  (``/api/dashboard`` without ``part``, as API users and older pages ask) on a fresh server.

The goal for the demo: under 300 KB and 0.5 s at any breakdown. The hand-written
baselines, timed in the same run, are one plain SQL count over the visits table and
one hand-written funnel (leads, their visits within 60 days) in DuckDB, so slower or
busier machines are seen as such; the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = [("total", "by=none"), ("region", "by=region"), ("channel", "by=channel"), ("rep", "by=rep"),
         ("rep, by day", "by=rep&grain=day"), ("east only, by channel", "by=channel&filter=region=east"),
         ("where east+web, by rep", "by=rep&" + urllib.parse.urlencode({"where": "region = 'east' AND channel = 'web'"}))]

HAND_FUNNEL = """
WITH v AS (SELECT l.lead_id, min(a.happened_at) AS t FROM leads l JOIN activities a ON a.lead_id = l.lead_id
           AND a.kind = 'visit' AND a.happened_at >= l.created_at AND a.happened_at <= l.created_at + INTERVAL 60 DAY
           GROUP BY 1)
SELECT date_trunc('week', l.created_at) AS w, count(*), count(v.t) FROM leads l LEFT JOIN v USING (lead_id) GROUP BY 1
"""


LAST_CPU = [0.0]  # CPU seconds of this process (server threads and DuckDB's included) during the last fetch


def fetch(url: str) -> tuple[float, int]:
    t, c = time.perf_counter(), time.process_time()
    try:
        with urllib.request.urlopen(url, timeout=300) as resp:
            size = len(resp.read())
    except urllib.error.HTTPError as exc:  # an older server without an option: no figure rather than a crash
        print(f"  {url.split('?')[1]}: HTTP {exc.code} {exc.read()[:120]!r}", file=sys.stderr)
        return float("nan"), 0
    LAST_CPU[0] = time.process_time() - c
    return time.perf_counter() - t, size


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one warm repetition and no cold server per case")
    parser.add_argument("--whole", action="store_true", help="also time the whole document on a fresh server")
    args = parser.parse_args()
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
        t = time.perf_counter()
        con.execute(HAND_FUNNEL).fetchall()
        funnel_baseline = time.perf_counter() - t
        con.close()
        print(f"load average before: {load_average()}  ({os.cpu_count()} CPUs)")
        print(f"hand-written SQL: plain count {baseline * 1000:.1f} ms, two-step funnel {funnel_baseline * 1000:.1f} ms")
        print(f"{'breakdown':24} {'size KB':>8} {'cold s':>8} {'cold cpu':>8} {'first s':>8} {'new addr s':>10} "
              f"{'warm s':>8} {'rest s':>8}" + (f" {'whole s':>8}" if args.whole else ""))
        specs = str(folder / "kpi_specs")
        srv = start_in_thread(specs)
        reps = 1 if args.quick else 3
        try:
            for name, whole_query in CASES:
                query = whole_query + "&part=first"
                cold = cold_cpu = whole = float("nan")
                if not args.quick:
                    fresh = start_in_thread(specs)  # nothing kept: spec, values, funnels, responses
                    try:
                        cold, _ = fetch(f"{fresh.url}api/dashboard?{query}")
                        cold_cpu = LAST_CPU[0]
                    finally:
                        fresh.shutdown()
                        fresh.server_close()
                if args.whole:
                    fresh = start_in_thread(specs)
                    try:
                        whole, _ = fetch(f"{fresh.url}api/dashboard?{whole_query}")
                    finally:
                        fresh.shutdown()
                        fresh.server_close()
                first, size = fetch(f"{srv.url}api/dashboard?{query}")
                rest, _ = fetch(f"{srv.url}api/dashboard?{whole_query}&part=rest")
                # another sparkline length: the same values and funnels, a new address (response cache misses)
                other = statistics.median(fetch(f"{srv.url}api/dashboard?{query}&spark_periods={12 + i}")[0]
                                          for i in range(1, reps + 1))
                warm = statistics.median(fetch(f"{srv.url}api/dashboard?{query}")[0] for _ in range(reps))
                print(f"{name:24} {size / 1024:8.0f} {cold:8.2f} {cold_cpu:8.2f} {first:8.2f} {other:10.2f} "
                      f"{warm:8.2f} {rest:8.2f}" + (f" {whole:8.2f}" if args.whole else ""))
        finally:
            srv.shutdown()
            srv.server_close()
        print(f"load average after: {load_average()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
