"""Time constructs compiled for nine dialects side by side (in the spirit of sqlglot's own tests).

Each (construct, dialect) cell says how that dialect must spell the window bound; every query
must parse back in its dialect. Values are checked on real engines in
tests/crossengine/test_time_relative.py; this table covers the dialects with no engine here.
"""
from __future__ import annotations

from datetime import date

import pytest
import sqlglot

from kpiengine.engine import Engine
from kpiengine.loader import load_project

DIALECTS = ["duckdb", "postgres", "mysql", "sqlite", "spark", "snowflake", "bigquery", "trino", "tsql"]

SPEC = """
project: {name: s, default_source: w}
sources: {w: {type: duckdb, path: ":memory:"}}
models:
  deals: {table: sales.deals, time: closed_at, dimensions: {region: region}}
kpis:
  revenue: {label: r, model: deals, aggregate: sum, column: amount}
  yoy: {label: y, formula: "revenue / revenue[same_period_last_year] - 1"}
  growth: {label: g, formula: "revenue - revenue[-1]"}
  reps_3m: {label: r3, model: deals, aggregate: count_distinct, column: rep_id, window: "3 periods"}
  rev_ytd: {label: ytd, model: deals, aggregate: sum, column: amount, window: ytd}
  rev_28d: {label: d28, model: deals, aggregate: sum, column: amount, window: 28d}
  rev_cum: {label: cum, model: deals, aggregate: sum, column: amount, window: cumulative}
  pipeline: {label: p, model: deals, aggregate: last, column: amount, filter: "stage = 'open'"}
  opening: {label: o, model: deals, aggregate: first, column: amount}
"""

# construct -> dialect -> a piece the SQL must contain (the dialect-specific date arithmetic).
MARKERS = {
    "reps_3m": {
        "duckdb": "s.__kpi_p + INTERVAL (-2) MONTH", "postgres": "s.__kpi_p + INTERVAL '-2 MONTH'",
        "mysql": "DATE_ADD(s.__kpi_p, INTERVAL -2 MONTH)", "sqlite": "DATE(s.__kpi_p, '-2 MONTH')",
        "spark": "ADD_MONTHS(s.__kpi_p, -2)", "snowflake": "DATEADD(MONTH, -2, s.__kpi_p)",
        "bigquery": "DATE_ADD(s.__kpi_p, INTERVAL -2 MONTH)", "trino": "DATE_ADD('MONTH', -2, s.__kpi_p)",
        "tsql": "DATEADD(MONTH, -2, s.__kpi_p)"},
    "rev_ytd": {
        "duckdb": "DATE_TRUNC('YEAR', s.__kpi_p)", "postgres": "DATE_TRUNC('YEAR', s.__kpi_p)",
        "mysql": "MAKEDATE(YEAR(s.__kpi_p), 1)", "sqlite": "DATE(s.__kpi_p, 'start of year')",
        "spark": "DATE_TRUNC('YEAR', s.__kpi_p)", "snowflake": "DATE_TRUNC('YEAR', s.__kpi_p)",
        "bigquery": "DATE_TRUNC(CAST(s.__kpi_p AS DATE), YEAR)", "trino": "DATE_TRUNC('YEAR', s.__kpi_p)",
        "tsql": "DATEFROMPARTS(YEAR(s.__kpi_p), 1, 1)"},
    "rev_28d": {
        "duckdb": "INTERVAL (-28) DAY", "postgres": "INTERVAL '-28 DAY'", "mysql": "INTERVAL -28 DAY",
        "sqlite": "'-28 DAY'", "spark": "DATE_ADD(ADD_MONTHS(s.__kpi_p, 1), -28)",
        "snowflake": "DATEADD(DAY, -28, DATEADD(MONTH, 1, s.__kpi_p))", "bigquery": "INTERVAL -28 DAY",
        "trino": "DATE_ADD('DAY', -28, DATE_ADD('MONTH', 1, s.__kpi_p))",
        "tsql": "DATEADD(DAY, -28, DATEADD(MONTH, 1, s.__kpi_p))"},
}
# The timestamp type a window bound is compared as (SQLite compares ISO text: no cast).
BOUND_TYPE = {"mysql": "AS DATETIME)", "bigquery": "AS DATETIME)", "tsql": "AS DATETIME2)", "sqlite": None}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    (folder / "spec.yml").write_text(SPEC, encoding="utf-8")
    return Engine(load_project(folder))


def _one(engine, kpi, grain, dialect, start=date(2026, 1, 1), end=date(2026, 4, 1)):
    [q] = engine.compile([kpi], grain, ["region"], start, end, dialect=dialect)
    sqlglot.parse_one(q.sql, read=dialect)  # it parses back in its own dialect
    return q.sql


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kpi", list(MARKERS))
def test_window_bounds_per_dialect(engine, kpi, dialect):
    sql = _one(engine, kpi, "month", dialect)
    assert MARKERS[kpi][dialect] in sql, sql
    on = sql[sql.index(" ON "):]
    cast = BOUND_TYPE.get(dialect, "AS TIMESTAMP)")
    assert (cast in on) if cast else ("CAST(" not in on), on


@pytest.mark.parametrize("dialect", DIALECTS)
def test_cumulative_has_no_lower_bound(engine, dialect):
    sql = _one(engine, "rev_cum", "week", dialect, start=date(2026, 3, 2))
    on = sql[sql.index(" ON "):sql.index(" GROUP BY")]
    assert ">=" not in on and "<" in on
    rows = sql[:sql.index("__kpi_s AS")]
    assert "2026-03-02" not in rows  # the rows reach back to the beginning; only the shown periods start there


@pytest.mark.parametrize("dialect", DIALECTS)
def test_offsets_widen_the_same_scan(engine, dialect):
    [q] = engine.compile(["yoy", "growth"], "month", [], date(2026, 1, 1), date(2026, 4, 1), dialect=dialect)
    sqlglot.parse_one(q.sql, read=dialect)
    # One query: the requested quarter, the same quarter a year before, and December for January's [-1].
    for day in ("2026-01-01", "2026-04-01", "2025-01-01", "2025-04-01", "2025-12-01"):
        assert day in q.sql, (day, q.sql)
    assert q.sql.count(" OR ") == 2


@pytest.mark.parametrize("dialect", DIALECTS)
def test_grain_all_groups_by_dimensions_only(engine, dialect):
    [q] = engine.compile(["revenue"], "all", ["region"], None, None, dialect=dialect)
    sqlglot.parse_one(q.sql, read=dialect)
    assert "1970-01-01" in q.sql
    assert q.sql.endswith("GROUP BY region"), q.sql
    [q] = engine.compile(["revenue"], "all", [], date(2026, 2, 1), None, dialect=dialect)
    assert "GROUP BY" not in q.sql and "'2026-02-01'" in q.sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_semi_additive_is_one_window_function_query_per_model(engine, dialect):
    [q] = engine.compile(["pipeline", "opening"], "month", ["region"], date(2026, 1, 1), None, dialect=dialect)
    sqlglot.parse_one(q.sql, read=dialect)
    sql = q.sql
    assert "MAX(CASE WHEN stage = 'open' THEN closed_at END) OVER (PARTITION BY" in sql, sql
    assert "MIN(closed_at) OVER (PARTITION BY" in sql
    assert "SUM(CASE WHEN stage = 'open' AND __kpi_t = __kpi_at0 THEN amount END)" in sql
    [q] = engine.compile(["pipeline"], "all", [], None, None, dialect=dialect)
    assert "OVER ()" in q.sql and "GROUP BY" not in q.sql


DOW = {"duckdb": "ISODOW(closed_at)", "postgres": "EXTRACT(ISODOW FROM closed_at)", "mysql": "WEEKDAY(closed_at) + 1",
       "sqlite": "STRFTIME('%w', closed_at)", "spark": "((DAYOFWEEK(closed_at) + 5) % 7) + 1",
       "snowflake": "DAYOFWEEKISO(closed_at)", "bigquery": "MOD(EXTRACT(DAYOFWEEK FROM closed_at) + 5, 7) + 1",
       "trino": "DAY_OF_WEEK(closed_at)", "tsql": "@@DATEFIRST"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_time_dimensions_per_dialect(engine, dialect):
    [q] = engine.compile(["revenue"], "week", ["day_of_week", "hour", "time_month"], None, None, dialect=dialect)
    sqlglot.parse_one(q.sql, read=dialect)
    assert DOW[dialect] in q.sql, q.sql
    assert q.dim_aliases == ["d_day_of_week", "d_hour", "d_time_month"]
