"""A run whose spec and plan the cache holds imports no SQL machinery: it reads the plan and runs it.

The whole command's time (issue 11: <= 1.3x a bare Python process running the hand-written
query) is mostly start-up once the query itself is one statement; sqlglot and the spec
checks cost more than the rest together. The second `kpi run` of an unchanged spec must
not import them, and must give the numbers the first one gave (checked against SQL here).
"""
from __future__ import annotations

import os

import duckdb

SPEC = """
project: {name: warm, timezone: UTC, default_source: wh}
sources:
  wh: {type: duckdb, path: "%s"}
models:
  visits: {table: visits, time: ts, dimensions: {region: region}}
  deals: {table: deals, time: ts, dimensions: {region: region}}
kpis:
  visits: {label: Visits, model: visits, aggregate: count}
  won: {label: Won, model: deals, aggregate: count, filter: "stage = 'won'"}
  conversion: {label: Conversion, formula: won / visits}
"""


def test_second_run_imports_no_sqlglot_and_gives_the_same_numbers(tmp_path, kpi_run_process):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE visits AS SELECT TIMESTAMP '2026-03-02 10:00:00' + INTERVAL (i) HOUR AS ts, "
                "CASE WHEN i % 3 = 0 THEN 'east' WHEN i % 3 = 1 THEN 'west' END AS region FROM range(500) t(i)")
    con.execute("CREATE TABLE deals AS SELECT TIMESTAMP '2026-03-02 12:00:00' + INTERVAL (i * 5) HOUR AS ts, "
                "CASE WHEN i % 2 = 0 THEN 'east' END AS region, "
                "CASE WHEN i % 4 = 0 THEN 'lost' ELSE 'won' END AS stage FROM range(100) t(i)")
    expected = {}
    for week, region, visits, won in con.execute("""
            SELECT coalesce(v.w, d.w), coalesce(v.region, d.region), coalesce(v.n, 0), coalesce(d.n, 0) FROM
            (SELECT date_trunc('week', ts)::DATE w, region, count(*) n FROM visits GROUP BY ALL) v
            FULL JOIN (SELECT date_trunc('week', ts)::DATE w, region, count(*) n FROM deals
                       WHERE stage = 'won' GROUP BY ALL) d
            ON v.w = d.w AND v.region IS NOT DISTINCT FROM d.region""").fetchall():
        expected[(week.isoformat(), region)] = None if visits == 0 else won / visits
    con.close()
    (tmp_path / "spec.yml").write_text(SPEC % db, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "KPIENGINE_NO_CACHE"}
    first, first_imports = kpi_run_process(tmp_path, env, "--no-history")
    assert "sqlglot" in first_imports  # the first run compiles
    second, second_imports = kpi_run_process(tmp_path, env, "--no-history")
    assert "sqlglot" not in second_imports and "jsonschema" not in second_imports and "yaml" not in second_imports
    for out in (first, second):
        got = {(r["period_start"], r["dimensions"]["region"]): r["value"] for r in out["rows"]
               if r["kpi"] == "conversion"}
        assert got == expected
