"""Incremental runs over several models and sources: the day counts of a source's models are one
statement, and each model still falls back to counting every day on its own when its earlier days
changed. Each run is compared with a full Engine.compute and with plain SQL over the tables.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project
from kpiengine.run.runs import execute_run

START = datetime(2026, 1, 5)  # a Monday


def rows_for(day: int, n: int, first_id: int):
    return [(first_id + i, START + timedelta(days=day, hours=(i * 5) % 24), ["east", "west"][i % 2], 1 + i % 4)
            for i in range(n)]


def insert(db, table, rows):
    con = duckdb.connect(str(db))
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)
    con.close()


def execute(db, sql):
    con = duckdb.connect(str(db))
    con.execute(sql)
    con.close()


@pytest.fixture
def warehouses(tmp_path):
    """Two tables in one DuckDB file (source a), a third in another file (source b)."""
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    for db, tables in ((a, ("visits", "calls")), (b, ("deals",))):
        con = duckdb.connect(str(db))
        for t in tables:
            con.execute(f"CREATE TABLE {t} (id INT, ts TIMESTAMP, region TEXT, rep INT)")
        con.close()
        for i, t in enumerate(tables):
            for day in range(28 - 3 * i):  # each table ends on another day: each has its own watermark
                insert(db, t, rows_for(day, 6 + i, day * 100 + i * 10_000))
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "s.yml").write_text(f"""
project: {{name: inc, timezone: UTC, history: hist.db}}
sources:
  a: {{type: duckdb, path: "{a}"}}
  b: {{type: duckdb, path: "{b}"}}
models:
  visits: {{source: a, table: visits, time: ts, dimensions: {{region: region}}}}
  calls: {{source: a, table: calls, time: ts, dimensions: {{region: region}}}}
  deals: {{source: b, table: deals, time: ts, dimensions: {{region: region}}}}
kpis:
  visits: {{label: Visits, model: visits, aggregate: count}}
  visit_reps: {{label: Visiting reps, model: visits, aggregate: count_distinct, column: rep}}
  calls: {{label: Calls, model: calls, aggregate: count}}
  deals: {{label: Deals, model: deals, aggregate: count}}
  avg_rep: {{label: Average rep, model: deals, aggregate: avg, column: rep}}
""", encoding="utf-8")
    return a, b, spec


def as_map(rows):
    return {(r.kpi, r.period_start, json.dumps(r.dimensions, sort_keys=True)): r.value for r in rows}


def assert_equal_to_full(spec, rs):
    want = as_map(Engine(load_project(spec)).compute(None, "week", ["region"]).rows)
    got = as_map(rs.rows)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert (got[key] is None) == (value is None), key
        assert value is None or math.isclose(got[key], value, rel_tol=1e-12), (key, got[key], value)


def plain_sql(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {(d, region): n for d, region, n in con.execute(sql).fetchall()}
    finally:
        con.close()


def incremental(spec):
    return execute_run(load_project(spec), [], "week", ["region"], None, None, incremental=True)


def test_models_of_two_sources_each_pick_up_their_own_changes(warehouses):
    a, b, spec = warehouses
    assert incremental(spec).incremental.recomputed_from is None
    assert incremental(spec).incremental.reason == "nothing changed"

    insert(a, "calls", rows_for(25, 4, 50_000))  # a new day in one model of source a (2026-01-30)
    rs = incremental(spec)
    assert rs.incremental.recomputed_from == date(2026, 1, 26) and rs.incremental.changed_days == 1
    assert_equal_to_full(spec, rs)

    # late rows before visits' watermark (its earlier days no longer add up: every day counted again),
    # a delete in the other source, and a new day of deals, in one run
    insert(a, "visits", [(60_000 + i, START + timedelta(days=9, hours=i), "west", 9) for i in range(3)])
    execute(b, "DELETE FROM deals WHERE ts >= TIMESTAMP '2026-01-20' AND ts < TIMESTAMP '2026-01-21'")
    insert(b, "deals", rows_for(22, 5, 70_000))
    rs = incremental(spec)
    assert rs.incremental.recomputed_from == date(2026, 1, 12)
    assert rs.incremental.changed_days == 3
    assert_equal_to_full(spec, rs)
    got = as_map(rs.rows)
    visits = plain_sql(a, "SELECT date_trunc('week', ts)::DATE, region, COUNT(*) FROM visits GROUP BY ALL")
    reps = plain_sql(a, "SELECT date_trunc('week', ts)::DATE, region, COUNT(DISTINCT rep) FROM visits GROUP BY ALL")
    deals = plain_sql(b, "SELECT date_trunc('week', ts)::DATE, region, COUNT(*) FROM deals GROUP BY ALL")
    assert got["visits", date(2026, 1, 12), '{"region": "west"}'] == visits[date(2026, 1, 12), "west"]
    assert got["visit_reps", date(2026, 1, 12), '{"region": "west"}'] == reps[date(2026, 1, 12), "west"]
    assert got["deals", date(2026, 1, 19), '{"region": "east"}'] == deals[date(2026, 1, 19), "east"]

    again = incremental(spec)
    assert again.incremental.reason == "nothing changed"
    assert_equal_to_full(spec, again)


def test_kept_values_keep_the_breakdown_order_of_their_dimensions(warehouses):
    a, b, spec = warehouses
    by = ["rep", "region"]  # not alphabetical: JSON, CSV and tables show the keys in this order
    text = (spec / "s.yml").read_text(encoding="utf-8")
    (spec / "s.yml").write_text(text.replace("{region: region}}\n  calls", "{region: region, rep: rep}}\n  calls"),
                                encoding="utf-8")
    execute_run(load_project(spec), ["visits"], "week", by, None, None, incremental=True)
    insert(a, "visits", rows_for(28, 4, 80_000))
    rs = execute_run(load_project(spec), ["visits"], "week", by, None, None, incremental=True)
    assert rs.incremental.recomputed_from == date(2026, 2, 2)
    full = Engine(load_project(spec)).compute(["visits"], "week", by)
    assert [(r.period_start, list(r.dimensions.items()), r.value) for r in rs.rows] == \
        [(r.period_start, list(r.dimensions.items()), r.value) for r in full.rows]
    assert any(r.period_start < date(2026, 2, 2) for r in rs.rows)
