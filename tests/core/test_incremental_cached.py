"""`kpi run --incremental` from a cached spec imports no SQL machinery once its statements are cached.

Each command is a new process: importing sqlglot and the compiler for the day counts cost more
than the rest of an incremental run at 10M rows. The day-counts statement is kept with the spec
cache as a template (the since days move on every run), the narrowed request's plan under its
restart period; a later day of the same week needs neither compiled again. The values are
checked against plain SQL over the table after every run.
"""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import duckdb

SPEC = """
project: {name: inc, timezone: UTC, default_source: wh, history: hist.db}
sources:
  wh: {type: duckdb, path: "%s"}
models:
  visits: {table: visits, time: ts, dimensions: {region: region}}
kpis:
  visits: {label: Visits, model: visits, aggregate: count}
  reps: {label: Reps, model: visits, aggregate: count_distinct, column: rep}
"""


def add_day(db, day: date, n: int) -> None:
    con = duckdb.connect(str(db))
    con.executemany("INSERT INTO visits VALUES (?, ?, ?)",
                    [(datetime.combine(day, datetime.min.time()) + timedelta(hours=i % 24),
                      ["east", "west", None][i % 3], i % 7) for i in range(n)])
    con.close()


def assert_values_equal_sql(db, out) -> None:
    con = duckdb.connect(str(db), read_only=True)
    want = {}
    for week, region, n, reps in con.execute(
            "SELECT date_trunc('week', ts)::DATE, region, COUNT(*), COUNT(DISTINCT rep) FROM visits GROUP BY ALL").fetchall():
        want["visits", week.isoformat(), region] = n
        want["reps", week.isoformat(), region] = reps
    con.close()
    got = {(r["kpi"], r["period_start"], r["dimensions"]["region"]): r["value"] for r in out["rows"]}
    assert got == want


def test_a_later_day_of_the_same_week_needs_no_sqlglot(tmp_path, kpi_run_process):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE visits (ts TIMESTAMP, region TEXT, rep INT)")
    con.close()
    for d in range(23):  # 2026-01-05 .. 2026-01-27, a Tuesday
        add_day(db, date(2026, 1, 5) + timedelta(days=d), 9 + d % 4)
    (tmp_path / "spec.yml").write_text(SPEC % db, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("KPIENGINE_NO_CACHE", "KPIENGINE_HISTORY")}

    first, _ = kpi_run_process(tmp_path, env, "--incremental")
    assert first["incremental"]["recomputed_from"] is None
    assert_values_equal_sql(db, first)
    add_day(db, date(2026, 1, 28), 11)
    second, imports = kpi_run_process(tmp_path, env, "--incremental")
    assert second["incremental"]["recomputed_from"] == "2026-01-26"
    assert_values_equal_sql(db, second)
    add_day(db, date(2026, 1, 29), 5)  # the same week: its plan is cached, the day counts' template too
    third, imports = kpi_run_process(tmp_path, env, "--incremental")
    assert third["incremental"]["recomputed_from"] == "2026-01-26"
    assert_values_equal_sql(db, third)
    assert " sqlglot" not in imports and "kpiengine.sql.compiler" not in imports
