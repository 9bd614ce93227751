"""The whole request as one SQL statement: the same numbers as Python, on every engine, and by hand.

Three checks on the harness data (NULL dimensions, a region with deals and no visits so
``deals_won / visits`` divides by zero, a text-dated model, formulas over three models):

1. ``Engine.compute`` runs one statement per source (not one query per model) and its
   values equal the per-model path's, where formulas are evaluated in Python, on DuckDB,
   SQLite, PostgreSQL, MariaDB and Spark;
2. the statement ``kpi compile`` prints, run as it is through the database's own driver
   (what a user pastes into a SQL client), gives the values computed in plain Python;
3. offsets, windows and formulas over them in one statement: a period-over-period formula
   equals the same arithmetic done in Python on the engine's own per-period aggregates.
"""
from __future__ import annotations

import math
import re

import pytest
from click.testing import CliRunner
from test_same_numbers import KPIS, REQUESTS, assert_same, engine_source, python_values, write_spec

from kpiengine.cli import main
from kpiengine.engine import Engine
from kpiengine.loader import load_project
from kpiengine.sql import distinct_split

ENGINES = [
    "duckdb",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mysql),
    pytest.param("spark", marks=pytest.mark.spark),
]
CASES = [1, 4, 6]  # week total, week by region (NULL region, north without visits), a date range
OFFSET_KPIS = {
    **{k: KPIS[k] for k in ("visits", "deals_won", "deals", "won_amount", "leads")},
    "conversion": {"formula": "deals_won / visits"},
    "conversion_change": {"formula": "conversion - conversion[-1]"},
    "amount_growth": {"formula": "won_amount / won_amount[-1] - 1"},
    "leads_28d": {"model": "leads", "aggregate": "count", "window": "28d"},
    "lead_share": {"formula": "leads_28d / (deals + 0)"},
}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


def _values(rs, by):
    return {(r.kpi, r.period_start, tuple(r.dimensions[d] for d in by)): r.value for r in rs.rows}


@pytest.fixture(scope="module")
def folders(request, tmp_path_factory):
    made = {}

    def folder(engine: str, kpis: dict = KPIS) -> str:
        key = (engine, tuple(kpis))
        if key not in made:
            made[key] = write_spec(tmp_path_factory.mktemp(f"one_{engine}"), engine_source(engine, request),
                                   kpis=kpis)
        return made[key]
    return folder


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", CASES)
def test_one_statement_equals_per_model_path(engine, index, folders):
    grain, by, start, end = REQUESTS[index]
    engine_ = Engine(load_project(folders(engine)))
    names, statements = engine_.plan(list(KPIS), grain, by, start, end)
    assert len(statements) == 1 and hasattr(statements[0], "outputs"), "one statement for the one source"
    one = engine_.compute(list(KPIS), grain, by, start, end)
    _, per_model = engine_.plan(list(KPIS), grain, by, start, end, one_query=False)
    assert len(per_model) == 3  # visits, deals, leads: the path the statement replaces
    legacy = Engine(load_project(folders(engine)))
    legacy.plan = lambda *a, **k: Engine.plan(legacy, *a, **{**k, "one_query": False})
    expected = _values(legacy.compute(list(KPIS), grain, by, start, end), by)
    got = _values(one, by)
    assert got.keys() == expected.keys()
    bad = [(k, got[k], expected[k]) for k in got if not _same(got[k], expected[k])]
    assert not bad, bad[:5]
    assert any(v is None for k, v in got.items() if k[0] == "conversion") == bool(by), "x / 0 is null"
    # integers stay integers: counts are not turned into floats by the statement
    assert all(isinstance(got[k], int) for k in got if k[0] in ("visits", "deals", "leads"))


def _run_by_hand(engine: str, sql: str, request):
    """Rows of ``sql`` through the database's own driver, as a SQL client would run it."""
    if engine == "duckdb":
        import duckdb
        con = duckdb.connect(request.getfixturevalue("duckdb_warehouse")["path"], read_only=True)
        try:
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
        finally:
            con.close()
    if engine == "sqlite":
        import sqlite3
        con = sqlite3.connect(request.getfixturevalue("sqlite_warehouse"))
        try:
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
        finally:
            con.close()
    if engine == "postgres":
        import psycopg
        opts = request.getfixturevalue("postgres_warehouse")
        with psycopg.connect(host=opts["host"], port=opts["port"], user=opts["user"], dbname=opts["dbname"],
                             options=f"-csearch_path={opts['search_path']}") as con:
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
    import pymysql
    opts = request.getfixturevalue("mysql_warehouse")
    con = pymysql.connect(host=opts["host"], port=int(opts["port"]), user=opts["user"],
                          password=opts.get("password") or "", database=opts["database"])
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("engine", [e for e in ENGINES if getattr(e, "values", [e])[0] != "spark"])
def test_compiled_statement_run_by_hand_gives_the_numbers(engine, folders, dataset, request):
    from kpiengine.run.normalize import normalize_date, normalize_number, normalize_value

    grain, by, start, end = REQUESTS[4]  # week by region
    wanted = ["visits", "deals_won", "avg_won_amount", "leads", "conversion", "lead_to_deal", "score"]
    res = CliRunner().invoke(main, ["compile", "-s", folders(engine), "--grain", grain, "--by", ",".join(by),
                                    *sum((["--kpi", k] for k in wanted), [])])
    assert res.exit_code == 0, res.output
    header, sql = res.stdout.split("\n", 1)
    assert sql.count(";") == 1
    columns = dict(re.findall(r"(v\d+) = (\w+)", header))  # "-- ... columns: v0 = visits, v1 = ..."
    assert set(columns.values()) == set(wanted)
    names, rows = _run_by_hand(engine, sql.strip().rstrip(";"), request)
    expected = python_values(dataset, grain, by, start, end)
    flags = [i for i, n in enumerate(names) if re.fullmatch(r"f\d+", n)]
    checked = 0
    for row in rows:
        key = (normalize_date(row[0]), tuple(normalize_value(v) for v in row[1:1 + len(by)]))
        for i, name in enumerate(names):
            kpi = columns.get(name)
            if kpi is None or (kpi, *key) not in expected:
                continue
            assert any(row[f] for f in flags)
            assert _same(normalize_number(row[i]), expected[(kpi, *key)]), (kpi, key, row[i])
            checked += 1
    assert checked >= len(wanted) * 10


@pytest.mark.parametrize("engine", ENGINES)
def test_offsets_and_windows_in_one_statement(engine, folders):
    """A formula over an input at the previous period, inside the statement, against Python over the
    engine's own per-period aggregates (which the other tests check against plain Python)."""
    grain, by = "week", ["region"]
    engine_ = Engine(load_project(folders(engine, OFFSET_KPIS)))
    names, statements = engine_.plan(list(OFFSET_KPIS), grain, by, None, None)
    assert len(statements) == 1 and hasattr(statements[0], "outputs")
    got = _values(engine_.compute(list(OFFSET_KPIS), grain, by), by)
    from datetime import timedelta

    def at(kpi, period, dims):
        v = got.get((kpi, period, dims))
        return 0 if v is None and kpi in ("visits", "deals_won", "deals", "won_amount", "leads", "leads_28d") else v

    def div(a, b):
        return None if a is None or b is None or b == 0 else a / b

    checked = 0
    for (kpi, period, dims), value in got.items():
        prev = period - timedelta(days=7)
        if kpi == "conversion_change":
            now, before = div(at("deals_won", period, dims), at("visits", period, dims)), \
                div(at("deals_won", prev, dims), at("visits", prev, dims))
            expected = None if now is None or before is None else now - before
        elif kpi == "amount_growth":
            g = div(at("won_amount", period, dims), at("won_amount", prev, dims))
            expected = None if g is None else g - 1
        elif kpi == "lead_share":
            expected = div(at("leads_28d", period, dims), at("deals", period, dims))
        else:
            continue
        assert _same(value, expected), (kpi, period, dims, value, expected)
        checked += 1
    assert checked > 30


# Filtered count distincts next to other aggregates of their model: on DuckDB and PostgreSQL each is a scan of its own
# with the filter in WHERE (sql.distinct_split). A key where no row passes the filter still reads 0,
# a NULL lead id is not counted, and the NULL region stays a group; "east_sources" is the only KPI
# of its model, so that scan is not split.
DISTINCT_KPIS = {
    **{k: KPIS[k] for k in ("visits", "visitors", "deals_won", "deals", "mobile_visits")},
    "mobile_visitors": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id",
                        "filter": "channel = 'mobile'"},
    "non_web_visitors": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id",
                         "filter": "channel <> 'web'"},
    "fax_visitors": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id",
                     "filter": "channel = 'fax'"},  # no such visit: 0 wherever there are visits
    "east_sources": {"model": "leads", "aggregate": "count_distinct", "column": "source",
                     "filter": "region = 'east'"},
    "conversion": {"formula": "deals_won / visits"},
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", CASES)
def test_filtered_distinct_as_its_own_scan(engine, index, tmp_path, dataset, request, monkeypatch):
    # Split on every engine here, where it is on by default for DuckDB and PostgreSQL: the statement must be right
    # wherever it is turned on.
    monkeypatch.setattr(distinct_split, "SPLIT_DIALECTS", {"duckdb", "sqlite", "postgres", "mysql", "spark"})
    grain, by, start, end = REQUESTS[index]
    engine_ = Engine(load_project(write_spec(tmp_path, engine_source(engine, request), kpis=DISTINCT_KPIS)))
    [statement] = engine_.compile_statements(list(DISTINCT_KPIS), grain, by, start, end)
    scans = re.findall(r"\b(q\d+d\d+) AS", statement.sql)
    assert len(scans) == 3, statement.sql  # the three distincts of visits; leads' only KPI keeps its scan
    got = _values(engine_.compute(list(DISTINCT_KPIS), grain, by, start, end), by)
    expected = python_values(dataset, grain, by, start, end, kpis=DISTINCT_KPIS)
    assert_same(got, expected, f"{engine} filtered distincts")
    fax = {k[1:]: v for k, v in got.items() if k[0] == "fax_visitors"}
    assert fax and set(fax.values()) == {0}
    assert fax.keys() == {k[1:] for k in got if k[0] == "visits"}, "0 at every key of the model, not missing"
