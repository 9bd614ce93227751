"""One spec compiled for many dialects side by side (in the spirit of sqlglot's own tests).

Each case checks that the SQL parses back in its dialect, that KPIs sharing a
model share one query, and how each dialect finds the Monday of a week. Where
the engine is on this machine, the week expression is executed on it and
compared with Python's own date arithmetic.
"""
from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from kpiengine.engine import Engine
from kpiengine.loader import load_project
from kpiengine.sql.periods import period_start_expr, python_period_start

DIALECTS = ["duckdb", "sqlite", "postgres", "mysql", "snowflake", "bigquery", "trino", "spark", "tsql"]

# How each dialect must spell "Monday of this week": the marker proves the dialect-specific path.
WEEK_MARKERS = {
    "duckdb": "DATE_TRUNC('WEEK'",
    "postgres": "DATE_TRUNC('WEEK'",
    "trino": "DATE_TRUNC('WEEK'",
    "spark": "DATE_TRUNC('WEEK'",
    "sqlite": "'weekday 1'",
    "mysql": "WEEKDAY(",
    "snowflake": "DAYOFWEEKISO(",
    "bigquery": "ISOWEEK",
    "tsql": "@@DATEFIRST",
}

SPEC = """
project: {name: dialects, timezone: UTC, default_source: w}
sources:
  w: {type: duckdb, path: ":memory:"}
models:
  deals:
    table: sales.deals
    time: closed_at
    dimensions: {region: region, "channel": "lower(channel)"}
kpis:
  deals_won: {label: "Won \\"deals\\"; DROP TABLE x --", model: deals, aggregate: count, filter: "stage = 'won'"}
  revenue: {label: Revenue, model: deals, aggregate: sum, column: amount, filter: "stage = 'won'"}
  avg_amount: {label: Avg, model: deals, aggregate: avg, column: amount}
  reps: {label: Reps, model: deals, aggregate: count_distinct, column: rep_id}
  win_rate: {label: Win rate, formula: deals_won / (deals_won + 0 * reps)}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    (folder / "spec.yml").write_text(SPEC, encoding="utf-8")
    return Engine(load_project(folder))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
def test_spec_compiles_and_parses_back(engine, dialect, grain):
    queries = engine.compile(None, grain, ["region"], date(2026, 1, 5), date(2026, 3, 2), dialect=dialect)
    assert len(queries) == 1, "KPIs sharing a model must share one scan"
    (q,) = queries
    assert set(q.kpis) == {"deals_won", "revenue", "avg_amount", "reps"}
    parsed = sqlglot.parse_one(q.sql, read=dialect)
    assert isinstance(parsed, exp.Select)
    assert len(list(parsed.find_all(exp.Table))) == 1
    # labels never reach SQL, whatever they contain
    assert "DROP" not in q.sql.upper() and "Won" not in q.sql
    if grain == "week":
        assert WEEK_MARKERS[dialect] in q.sql, q.sql


def test_side_by_side_week_sql(engine):
    """The same KPI for every dialect: readable evidence of how each one is compiled."""
    seen = {d: engine.compile(["deals_won"], "week", [], dialect=d)[0].sql for d in DIALECTS}
    assert len(set(seen.values())) >= 6  # genuinely dialect-specific output
    assert seen["bigquery"].count("ISOWEEK") == 2  # in SELECT and GROUP BY


# Times around the week boundary: Sunday 23:59:59 belongs to the week before Monday 00:00.
INSTANTS = [datetime(2026, 3, 1, 23, 59, 59), datetime(2026, 3, 2, 0, 0, 0), datetime(2026, 3, 8, 12, 0),
            datetime(2024, 12, 31, 8, 0), datetime(2025, 1, 1, 0, 0), datetime(2024, 2, 29, 10, 0),
            datetime(2026, 12, 27, 23, 0)]


def _expected(ts: datetime, grain: str) -> date:
    return python_period_start(ts.date(), grain)


def _sql(dialect: str, grain: str) -> str:
    return exp.select(period_start_expr(exp.column("ts"), grain, dialect, "UTC")).from_("t").sql(dialect)


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
def test_period_start_on_duckdb(grain):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ts TIMESTAMP)")
    for ts in INSTANTS:
        con.execute("DELETE FROM t")
        con.execute("INSERT INTO t VALUES (?)", [ts])
        assert con.execute(_sql("duckdb", grain)).fetchone()[0] == _expected(ts, grain), ts


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
def test_period_start_on_sqlite(grain):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (ts TEXT)")
    for ts in INSTANTS:
        con.execute("DELETE FROM t")
        con.execute("INSERT INTO t VALUES (?)", [ts.isoformat(sep=" ")])
        got = con.execute(_sql("sqlite", grain)).fetchone()[0]
        assert date.fromisoformat(got) == _expected(ts, grain), ts


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
def test_period_start_on_postgres(pg_conn, grain):
    with pg_conn.cursor() as cur:
        for ts in INSTANTS:
            cur.execute(f"SELECT ({period_start_expr(exp.column('ts'), grain, 'postgres').sql('postgres')}) "
                        f"FROM (SELECT %s::timestamp AS ts) AS t", [ts])
            assert cur.fetchone()[0] == _expected(ts, grain), ts


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
def test_period_start_on_mariadb(mysql_conn, grain):
    with mysql_conn.cursor() as cur:
        for ts in INSTANTS:
            cur.execute(f"SELECT ({period_start_expr(exp.column('ts'), grain, 'mysql').sql('mysql')}) "
                        f"FROM (SELECT CAST(%s AS DATETIME) AS ts) AS t", [ts.isoformat(sep=' ')])
            got = cur.fetchone()[0]
            got = got.date() if isinstance(got, datetime) else got
            assert got == _expected(ts, grain), ts


def test_time_zone_moves_the_day_boundary():
    # 2026-03-01 23:30 UTC is already 2026-03-02 (a Monday) in Shanghai.
    con = duckdb.connect()
    sql = exp.select(period_start_expr(exp.column("ts"), "week", "duckdb", "Asia/Shanghai")).from_(
        exp.select(exp.alias_(exp.cast(exp.Literal.string("2026-03-01 23:30:00"), "timestamp"), "ts")).subquery("t")
    ).sql("duckdb")
    assert con.execute(sql).fetchone()[0] == date(2026, 3, 2)


@pytest.mark.parametrize("dialect", ["sqlite", "mysql", "tsql"])
def test_time_zone_on_engine_without_zones_is_a_clear_error(tmp_path, dialect):
    from kpiengine.errors import SpecError

    (tmp_path / "s.yml").write_text(SPEC.replace("timezone: UTC", "timezone: Europe/Berlin"), encoding="utf-8")
    engine = Engine(load_project(tmp_path))
    with pytest.raises(SpecError) as info:
        engine.compile(["deals_won"], "day", dialect=dialect)
    assert f"cannot be applied on {dialect}" in str(info.value)


def test_percentile_on_an_engine_without_it_is_a_clear_error(tmp_path):
    from kpiengine.errors import SpecError

    spec = SPEC + "  p90: {label: P90, model: deals, aggregate: percentile, column: amount, percentile: 0.9}\n"
    (tmp_path / "s.yml").write_text(spec, encoding="utf-8")
    engine = Engine(load_project(tmp_path))
    assert "PERCENTILE_CONT(0.9)" in engine.compile(["p90"], dialect="postgres")[0].sql
    with pytest.raises(SpecError, match="percentile is not available as an aggregate on sqlite"):
        engine.compile(["p90"], dialect="sqlite")


# Where a filtered count distinct beside other aggregates of its model becomes a scan of its own by
# default (sql.distinct_split): the dialects it was measured faster on. The statements' values are
# checked on every engine with the split on (tests/crossengine/test_one_statement.py).
SPLITS_BY_DEFAULT = {"duckdb": True, "postgres": True, "sqlite": False, "mysql": False, "spark": False,
                     "snowflake": False, "trino": False}


@pytest.mark.parametrize("dialect", sorted(SPLITS_BY_DEFAULT))
def test_filtered_distinct_split_where_measured(tmp_path, dialect):
    spec = SPEC.replace("  reps: {label: Reps, model: deals, aggregate: count_distinct, column: rep_id}\n",
                        "  reps: {label: Reps, model: deals, aggregate: count_distinct, column: rep_id, "
                        "filter: \"stage = 'won'\"}\n")
    (tmp_path / "spec.yml").write_text(spec, encoding="utf-8")
    [statement] = Engine(load_project(tmp_path)).compile_statements(
        ["deals_won", "revenue", "reps"], "week", ["region"], dialect=dialect)
    split = bool(re.search(r"\bq\d+d\d+ AS", statement.sql))
    assert split is SPLITS_BY_DEFAULT[dialect], statement.sql
    sqlglot.parse_one(statement.sql, read=dialect)  # and it reads back in its dialect
