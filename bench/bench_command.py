"""The whole command: `kpi run` as a process against bare Python running the hand-written SQL, and large specs.

    .venv/bin/python bench/bench_command.py [--rows 10000000] [--repeat 5] [--db FILE] [--skip-big]

Figures (medians of alternating runs, so a neighbour's load hits both sides alike):

1. ``kpi run --format json`` (history recorded, spec cache warm) against a bare
   Python process that runs the 3 hand-written queries, evaluates the 3
   formulas and prints compact JSON; peak RSS of both; ``kpi --help``.
2. By week x rep (about 160,000 values): Engine.compute plus the JSON of
   ``kpi run`` against the hand-written SQL alone on one connection.
3. Specs of 1,000 and 5,000 KPIs: load + validate + compile to the one statement (and the SQL text)
   in a fresh process with the imports done, and ``kpi compile`` as a process,
   without and with the spec cache.

Values are compared with the hand-written query's; nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402 - the shared data generator, spec and hand-written SQL

BIN = Path(sys.executable).parent

BARE = '''
import json, sys, duckdb
db = sys.argv[1]
queries = json.loads(sys.argv[2])  # {model: sql}
con = duckdb.connect(db, read_only=True)
con.execute("SET enable_progress_bar = false")
values, keys = {}, {}
for model, sql in queries.items():
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    for row in cur.fetchall():
        key = (row[0].date().isoformat(), row[1])
        keys.setdefault(model, set()).add(key)
        for name, value in zip(names[2:], row[2:]):
            values[(name, *key)] = None if value is None else float(value)
con.close()
def get(n, k):
    v = values.get((n, *k))
    return 0.0 if v is None else v
def div(a, b):
    return None if not b else a / b
def row(n, k, v):
    return {"kpi": n, "period_start": k[0], "dimensions": {"region": k[1]}, "value": v}
rows = [row(n, k, v) for (n, *k), v in values.items()]
for k in keys["deals"] | keys["activities"]:
    rows.append(row("conversion", k, div(get("deals_won", k), get("visits", k))))
for k in keys["deals"]:
    won, lost = get("deals_won", k), get("deals_lost", k)
    rows += [row("win_rate", k, div(won, won + lost)), row("avg_deal_size", k, div(get("revenue", k), won))]
sys.stdout.write(json.dumps({"rows": rows}, ensure_ascii=False, separators=(",", ":")))
'''


def run_process(argv: list[str], env: dict | None = None) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS in KiB, stdout) of one child process (RSS from GNU time, same cost both sides)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "__rss_kib__ %M", *argv], capture_output=True, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{argv[:4]} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    rss = int(proc.stderr.decode().rsplit("__rss_kib__", 1)[1].split()[0])
    return elapsed, rss, proc.stdout


def alternate(repeat: int, sides: dict[str, callable]) -> dict[str, list]:
    for fn in sides.values():
        fn()  # warm-up: file cache, spec cache
    out: dict[str, list] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, fn in sides.items():
            out[name].append(fn())
    return out


def median(values) -> float:
    return statistics.median(values)


def whole_command(db: str, spec: Path, repeat: int) -> dict:
    env = {**os.environ, "KPIENGINE_HISTORY": str(spec / "history.db")}
    kpi = [str(BIN / "kpi"), "run", "-s", str(spec), "--by", "region", "--format", "json"]
    bare = [sys.executable, "-c", BARE, db, json.dumps(bench_engine.HAND_SQL)]
    results = alternate(repeat, {"kpi": lambda: run_process(kpi, env), "bare": lambda: run_process(bare)})
    kpi_rows = json.loads(results["kpi"][-1][2])["rows"]
    bare_rows = json.loads(results["bare"][-1][2])["rows"]
    agree = _same_values(kpi_rows, bare_rows)
    help_t = [run_process([str(BIN / "kpi"), "--help"])[0] for _ in range(repeat)]
    k, b = median([r[0] for r in results["kpi"]]), median([r[0] for r in results["bare"]])
    rss_k, rss_b = max(r[1] for r in results["kpi"]), max(r[1] for r in results["bare"])
    print(f"whole `kpi run --format json` as a process: {k:.3f} s, bare Python + hand SQL {b:.3f} s, "
          f"ratio {k / b:.2f}x (target <= 1.3x); values agree: {agree}")
    print(f"peak RSS: kpi run {rss_k / 1024:.0f} MiB, bare {rss_b / 1024:.0f} MiB (ratio {rss_k / rss_b:.2f}x); "
          f"`kpi --help` {median(help_t):.3f} s")
    return {"kpi_run_s": k, "bare_s": b, "ratio": k / b, "rss_kpi_mib": rss_k / 1024, "rss_bare_mib": rss_b / 1024,
            "help_s": median(help_t), "agree": agree}


def _same_values(kpi_rows, bare_rows) -> bool:
    import math

    want = {(r["kpi"], r["period_start"], r["dimensions"]["region"]): r["value"] for r in bare_rows}
    for r in kpi_rows:
        got, exp = r["value"], want.get((r["kpi"], r["period_start"], r["dimensions"]["region"]))
        if exp is None and r["kpi"] in bench_engine.AGGREGATES and \
                bench_engine.AGGREGATES[r["kpi"]][1] in ("count", "count_distinct", "sum"):
            exp = 0.0
        if (got is None) != (exp is None) or (got is not None and not math.isclose(got, exp, rel_tol=1e-9,
                                                                                      abs_tol=1e-9)):
            return False
    return len(kpi_rows) == len(want)


def high_cardinality(db: str, spec: Path, repeat: int) -> dict:
    from kpiengine.cli.json_output import run_json
    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    project = load_project(spec)
    engine = Engine(project)
    hand = list(bench_engine.hand_sql("rep_id AS rep").values())
    timings = alternate(repeat, {
        "compute": lambda: _timed(lambda: engine.compute(None, "week", ["rep"])),
        "sql": lambda: _timed(lambda: bench_engine.run_sql(db, hand, None))})
    rs = timings["compute"][-1][1]
    t_json = median([_timed(lambda: run_json(project, rs, rs.rows))[0] for _ in range(repeat)])
    hand_values = bench_engine.run_hand_written(db, None, "rep_id AS rep")
    compared, bad = bench_engine.compare(rs.rows, hand_values, "rep")
    c, s = median([t for t, _ in timings["compute"]]), median([t for t, _ in timings["sql"]])
    print(f"by week x rep ({len(rs.rows):,} values): compute {c:.3f} s + JSON {t_json:.3f} s = {c + t_json:.3f} s, "
          f"hand SQL alone {s:.3f} s, ratio {(c + t_json) / s:.2f}x; values agree: {not bad} ({compared:,})")
    return {"values": len(rs.rows), "compute_s": c, "json_s": t_json, "sql_s": s, "ratio": (c + t_json) / s}


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


BIG = '''
import sys, time
from kpiengine.loader import load_project
from kpiengine.engine import Engine
from kpiengine.plugins import default_registry
default_registry().load_all()  # imports and plugins done: the figure is the spec's own cost
t0 = time.perf_counter()
project = load_project(sys.argv[1])
t1 = time.perf_counter()
queries = Engine(project).compile_statements(None, "week", ["region"])  # what kpi run and kpi compile do
t2 = time.perf_counter()
sql = sum(len(q.sql) for q in queries)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, len(project.kpis), sql)
'''


def big_specs(db: str, tmp: Path, repeat: int) -> dict:
    out = {}
    for n in (1000, 5000):
        folder = tmp / f"big{n}"
        folder.mkdir(exist_ok=True)
        bench_engine.write_big_spec(folder, db, n)
        env = {**os.environ, "KPIENGINE_NO_CACHE": "1"}
        runs = [run_process([sys.executable, "-c", BIG, str(folder)], env)[2].split() for _ in range(repeat)]
        load, comp, render = (median([float(r[i]) for r in runs]) for i in range(3))
        cold = median([run_process([str(BIN / "kpi"), "compile", "-s", str(folder), "-b", "region"], env)[0]
                       for _ in range(repeat)])
        warm_env = {**os.environ, "KPIENGINE_NO_CACHE": ""}
        run_process([str(BIN / "kpi"), "run", "-s", str(folder), "-b", "region", "--no-history", "--format", "json",
                     "--kpi", "kpi_0000"], warm_env)
        cold_run = ["kpi", "validate", "-s", str(folder)]
        validate = median([run_process([str(BIN / cold_run[0]), *cold_run[1:]], env)[0] for _ in range(repeat)])
        print(f"{n:,} KPIs: load + validate {load:.3f} s, compile {comp:.3f} s, total {load + comp:.3f} s "
              f"(target < {'0.3' if n == 1000 else '1'} s); SQL text {render:.3f} s more; "
              f"CLI `kpi compile` {cold:.2f} s, `kpi validate` {validate:.2f} s")
        out[n] = {"load_validate_s": load, "compile_s": comp, "sql_text_s": render, "cli_compile_s": cold,
                  "cli_validate_s": validate}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", default=None, help="reuse a database made by bench_engine.generate (same --rows)")
    ap.add_argument("--skip-big", action="store_true", help="skip the 1,000 and 5,000 KPI specs")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kpibench-cmd-") as tmp_name:
        tmp = Path(tmp_name)
        db = args.db or str(tmp / "bench.duckdb")
        if not args.db:
            t0 = time.perf_counter()
            counts = bench_engine.generate(db, args.rows)
            print(f"data: {counts} (generated in {time.perf_counter() - t0:.1f} s)")
        spec = tmp / "spec"
        spec.mkdir()
        bench_engine.write_bench_spec(spec, db, None)
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        figures = {"whole_command": whole_command(db, spec, args.repeat),
                   "high_cardinality": high_cardinality(db, spec, args.repeat)}
        if not args.skip_big:
            figures["big_specs"] = big_specs(db, tmp, max(3, args.repeat // 2))
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
