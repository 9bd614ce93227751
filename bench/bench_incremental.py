"""Incremental runs: a run after one new day of data against a full run, at 10M rows.

    .venv/bin/python bench/bench_incremental.py [--rows 10000000] [--repeat 3] [--db FILE] [--cli]

Two layouts of the same rows: as generated (timestamps in random order, the
worst case: every block of the table holds rows of every day) and ordered by
time, as an append-only event table lands. A copy of the database gets one more day of rows (the same daily
volume as the year before it), then for each timed round: the incremental run
(``execute_run(..., incremental=True)``: day counts per model, the last week
computed again, the rest from history; only the recomputed values are written) is measured against a full
run of the same request (``execute_run`` without it, also stored), alternating. The same rounds time a
hand-written reference of the warehouse work alone (a fresh DuckDB connection, the first new day from
each table's remembered latest time, the hand-written single statement for the weeks from there; and
that statement in full), so the floor an embedded warehouse sets (opening a database builds its
catalog, about 15-20 ms here; each statement's planning) is printed beside kpiengine's figure.
Before each incremental round the history is put back to its state after the
first day, so every round really has one new day to pick up. Then the next day
(a Tuesday) is added and timed the same way: its restart is the week's Monday,
so two days of rows are read again. The project is
loaded through the spec cache, as ``kpi run`` loads it, so neither run compiles
again what an unchanged spec compiled before. Values of the two are compared. With ``--cli`` the same rounds run again as ``kpi run`` commands,
each a new process as a scheduler starts it (start-up, imports and the spec
cache included; the first round fills the cache and the modules' bytecode).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402 - the shared data generator and spec


def append_day(db: str, rows_per_year: int, day_text: str = "2026-01-05") -> str:
    """Add one day (by default 2026-01-05, after the generated year) with a year's daily share of each table."""
    import duckdb

    con = duckdb.connect(db)
    day = f"TIMESTAMP '{day_text}' + to_seconds((random() * 86399)::BIGINT)"
    for table, n in (("activities", rows_per_year), ("leads", rows_per_year // 2), ("deals", rows_per_year // 10)):
        con.execute(f"CREATE TEMP TABLE extra AS SELECT * FROM {table} USING SAMPLE {max(1, n // 364)} ROWS")
        time_col = "happened_at" if table == "activities" else "created_at"
        con.execute(f"UPDATE extra SET {time_col} = {day}")
        con.execute(f"INSERT INTO {table} SELECT * FROM extra")
        con.execute("DROP TABLE extra")
    con.execute("CHECKPOINT")
    con.close()
    return day_text


def order_by_time(db: str) -> None:
    import duckdb

    con = duckdb.connect(db)
    for table, column in (("activities", "happened_at"), ("leads", "created_at"), ("deals", "created_at")):
        con.execute(f"CREATE TABLE sorted AS SELECT * FROM {table} ORDER BY {column}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE sorted RENAME TO {table}")
    con.execute("CHECKPOINT")
    con.close()


TIME_COLUMNS = {"leads": "created_at", "activities": "happened_at", "deals": "created_at"}


def last_times(db: str) -> dict[str, str]:
    """Each table's latest time: what a hand-written incremental job remembers between runs."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        return {t: str(con.execute(f"SELECT max({c}) FROM {t}").fetchone()[0]) for t, c in TIME_COLUMNS.items()}
    finally:
        con.close()


def hand_incremental(db: str, since: dict[str, str]) -> int:
    """The warehouse work of an incremental run, hand-written, with nothing around it: on a fresh
    connection, the first day of rows newer than each table's remembered latest time (one statement),
    then the hand-written single statement for the weeks from that day on. It sees new rows only
    (no late rows, no deletes): the least any incremental job asks of the warehouse."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        new = " UNION ALL ".join(f"SELECT min({c})::DATE FROM {t} WHERE {c} > TIMESTAMP '{since[t]}'"
                                 for t, c in TIME_COLUMNS.items())
        firsts = [d for (d,) in con.execute(new).fetchall() if d is not None]
        if not firsts:
            return 0
        restart = min(firsts).isoformat()
        narrowed = {m: sql.replace(f"FROM {m} GROUP BY",
                                   f"FROM {m} WHERE {TIME_COLUMNS[m]} >= date_trunc('week', DATE '{restart}') GROUP BY")
                    for m, sql in bench_engine.hand_sql("region").items()}
        return len(con.execute(bench_engine.HAND_SINGLE_SQL.format(dim="region", **narrowed)).fetchall())
    finally:
        con.close()


def hand_full(db: str) -> int:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        return len(con.execute(bench_engine.hand_single_sql("region")).fetchall())
    finally:
        con.close()


def cpu_now() -> float:
    """CPU seconds of this process, every thread (DuckDB's workers included)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rounds(db: str, history: Path, saved: Path, remembered: dict[str, str], run, args, what: str) -> None:
    """Time the incremental run (history put back to ``saved`` before each) against the full run, and the
    hand-written reference beside them, in alternating rounds; print the figures."""
    full_t, inc_t, full_cpu, inc_cpu, hand_inc_t, hand_full_t = [], [], [], [], [], []
    full_rs = inc_rs = None
    for _ in range(args.repeat + 1):  # the first round warms the file cache and is not counted
        shutil.copyfile(saved, history)  # history as it was before the new day
        for leftover in (Path(str(history) + "-wal"), Path(str(history) + "-shm")):
            leftover.unlink(missing_ok=True)
        c0 = cpu_now()
        t, inc_rs = run(True)
        inc_t.append(t)
        inc_cpu.append(cpu_now() - c0)
        c0 = cpu_now()
        t, full_rs = run(False)
        full_t.append(t)
        full_cpu.append(cpu_now() - c0)
        for fn, out in ((lambda: hand_incremental(db, remembered), hand_inc_t), (lambda: hand_full(db), hand_full_t)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    inc, full = statistics.median(inc_t[1:]), statistics.median(full_t[1:])
    # each round's own ratio: a shared machine's speed drifts between rounds, and both runs of a round
    # see about the same
    paired = statistics.median(i / f for i, f in zip(inc_t[1:], full_t[1:]))
    cpu = statistics.median(i / f for i, f in zip(inc_cpu[1:], full_cpu[1:]))
    hand_inc, hand_all = statistics.median(hand_inc_t[1:]), statistics.median(hand_full_t[1:])
    hand_paired = statistics.median(i / f for i, f in zip(hand_inc_t[1:], hand_full_t[1:]))

    def key(r):
        return (r.kpi, r.period_start, r.dimensions.get("region"))

    want = {key(r): r.value for r in full_rs.rows}
    agree = len(want) == len(inc_rs.rows) and all(
        (r.value is None) == (want.get(key(r)) is None) and
        (r.value is None or math.isclose(float(r.value), float(want[key(r)]), rel_tol=1e-12))
        for r in inc_rs.rows)
    import sqlite3

    con = sqlite3.connect(str(history))
    stored = con.execute("SELECT COUNT(*) FROM kpi_values WHERE run_id = ?", (inc_rs.run_id,)).fetchone()[0]
    con.close()
    print(f"{what}: incremental run {inc:.3f} s (recomputed from "
          f"{inc_rs.incremental.recomputed_from}; {stored:,} of its {len(inc_rs.rows):,} values written to history), "
          f"full run {full:.3f} s, ratio {inc / full:.3f}, median of each round's ratio {paired:.3f} "
          f"(target <= 0.10); CPU {cpu:.3f}; values identical to the full run: {agree}")
    print(f"  hand-written, the warehouse work alone (fresh connection, new rows only, no history): "
          f"incremental {hand_inc:.3f} s, full {hand_all:.3f} s, ratio {hand_inc / hand_all:.3f}, "
          f"median of each round's {hand_paired:.3f}; kpiengine against it: incremental {inc / hand_inc:.2f}x, "
          f"full {full / hand_all:.2f}x")


def one_layout(source: str, folder: Path, layout: str, args) -> None:
    from kpiengine.run.runs import execute_run
    from kpiengine.spec.cache import load_project_cached

    folder.mkdir()
    db = str(folder / "bench.duckdb")
    shutil.copyfile(source, db)
    if layout == "time-ordered":
        order_by_time(db)
    spec = folder / "spec"
    spec.mkdir()
    bench_engine.write_bench_spec(spec, db, None)
    history = folder / "history.db"
    os.environ["KPIENGINE_HISTORY"] = str(history)
    # With the spec cache, as `kpi run` loads it: the plans of both runs and the day-counts statement
    # are read back instead of compiled with sqlglot every round.
    project = load_project_cached(spec)

    def run(incremental: bool):
        t0 = time.perf_counter()
        rs = execute_run(project, [], "week", ["region"], None, None, incremental=incremental)
        return time.perf_counter() - t0, rs

    run(True)  # the first incremental run is a full one: it leaves the day counts in history
    saved = folder / "history-before.db"
    shutil.copyfile(history, saved)
    remembered = last_times(db)
    day = append_day(db, args.rows)
    rounds(db, history, saved, remembered, run, args, f"one new day ({day}), rows {layout}")
    # The next day of the same week: the restart is the week's Monday, so two days are read again.
    saved_next = folder / "history-monday.db"
    shutil.copyfile(saved, history)
    for leftover in (Path(str(history) + "-wal"), Path(str(history) + "-shm")):
        leftover.unlink(missing_ok=True)
    run(True)
    shutil.copyfile(history, saved_next)
    remembered_next = last_times(db)
    next_day = append_day(db, args.rows, "2026-01-06")
    rounds(db, history, saved_next, remembered_next, run, args, f"the next day ({next_day}), rows {layout}")
    if args.cli:
        cli_rounds(folder, spec, history, saved, layout, args)


def cli_rounds(folder: Path, spec: Path, history: Path, saved: Path, layout: str, args) -> None:
    """``kpi run --incremental`` against ``kpi run``, each a new process as from cron: start-up, imports and
    the spec cache count too. The first round fills the spec cache (spec, plans, day-counts template)."""
    import json
    import subprocess

    # Bytecode as an installed kpiengine has it: with PYTHONDONTWRITEBYTECODE every command compiled
    # each module from source again (~45 ms, the same for both), kept out of the checkout here.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")

    def kpi(*extra: str) -> tuple[float, dict]:
        argv = [sys.executable, "-c", "from kpiengine.cli import main; main()", "run", "-s", str(spec),
                "--by", "region", "--format", "json", *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=folder, env=env, check=True)
        return time.perf_counter() - t0, json.loads(proc.stdout)

    inc_t, full_t = [], []
    for _ in range(args.repeat + 1):
        shutil.copyfile(saved, history)
        for leftover in (Path(str(history) + "-wal"), Path(str(history) + "-shm")):
            leftover.unlink(missing_ok=True)
        t, inc_out = kpi("--incremental")
        inc_t.append(t)
        t, full_out = kpi()
        full_t.append(t)
    inc, full = statistics.median(inc_t[1:]), statistics.median(full_t[1:])

    def values(out):
        return {(r["kpi"], r["period_start"], r["dimensions"].get("region")): r["value"] for r in out["rows"]}

    got, want = values(inc_out), values(full_out)
    agree = got.keys() == want.keys() and all(
        (got[k] is None) == (want[k] is None) and (want[k] is None or math.isclose(got[k], want[k], rel_tol=1e-12))
        for k in want)
    print(f"  as commands (new processes, spec cached), rows {layout}: kpi run --incremental {inc:.3f} s "
          f"(recomputed from {inc_out['incremental']['recomputed_from']}), kpi run {full:.3f} s, "
          f"ratio {inc / full:.3f}; values identical: {agree}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", default=None, help="a database made by bench_engine.generate (copied, not changed)")
    ap.add_argument("--cli", action="store_true", help="also time both as `kpi run` commands (new processes)")
    args = ap.parse_args(argv)

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="kpibench-inc-") as tmp_name:
        tmp = Path(tmp_name)
        source = args.db
        if not source:
            source = str(tmp / "generated.duckdb")
            bench_engine.generate(source, args.rows)
        for layout in ("random", "time-ordered"):
            one_layout(source, tmp / layout, layout, args)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
