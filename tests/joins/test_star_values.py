"""Joins through entities give the numbers of hand-written SQL, on DuckDB, SQLite, PostgreSQL, MariaDB and Spark.

Each case is a request (breakdown through entities, a query filter, a
formula across two fact tables) and the SQL a person would write for it,
run on the same engine over the same star schema (tests/joins/conftest.py).
The request covers one month (``--grain month --from 2026-01-01 --to
2026-02-01``), so the hand-written SQL needs no period arithmetic and is the
same text on every engine. A second check, per week, is against plain Python.

What must hold everywhere: a deal whose rep_id is NULL, or names a rep that
does not exist, lands in the NULL group (never lost), together with the deals
of a rep whose team is NULL; the join never counts a deal twice.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project

from .conftest import DEALS, LEADS, REPS, VISITS, write_star_spec

START, END = date(2026, 1, 1), date(2026, 2, 1)
RANGE = "{t} >= '2026-01-01 00:00:00' AND {t} < '2026-02-01 00:00:00'"
DEALS_RANGE = RANGE.format(t="d.created_at")

# name: (kpis, by, where, hand-written SQL giving the dimension values then one column per KPI)
CASES = {
    "rep.team": (["deals", "won_amount"], ["rep.team"], None, f"""
        SELECT r.team, COUNT(*), SUM(CASE WHEN d.stage = 'won' THEN d.amount END)
        FROM sj_deals d LEFT JOIN sj_reps r ON d.rep_id = r.rep_id
        WHERE {DEALS_RANGE} GROUP BY r.team"""),
    "two joins": (["deals", "deals_won"], ["lead.origin", "rep.region"], None, f"""
        SELECT l.origin, r.region, COUNT(*), SUM(CASE WHEN d.stage = 'won' THEN 1 ELSE 0 END)
        FROM sj_deals d LEFT JOIN sj_leads l ON d.lead_id = l.lead_id LEFT JOIN sj_reps r ON d.rep_id = r.rep_id
        WHERE {DEALS_RANGE} GROUP BY l.origin, r.region"""),
    "two hops": (["deals", "won_amount"], ["lead.rep.team"], None, f"""
        SELECT r.team, COUNT(*), SUM(CASE WHEN d.stage = 'won' THEN d.amount END)
        FROM sj_deals d LEFT JOIN sj_leads l ON d.lead_id = l.lead_id LEFT JOIN sj_reps r ON l.rep_id = r.rep_id
        WHERE {DEALS_RANGE} GROUP BY r.team"""),
    "own and joined expression": (["deals"], ["stage", "rep.name"], None, f"""
        SELECT d.stage, UPPER(r.name), COUNT(*)
        FROM sj_deals d LEFT JOIN sj_reps r ON d.rep_id = r.rep_id
        WHERE {DEALS_RANGE} GROUP BY d.stage, UPPER(r.name)"""),
    "where on a joined dimension": (["deals", "won_amount"], ["lead.origin"], "rep.team = 'a' AND region = 'east'",
                                    f"""
        SELECT l.origin, COUNT(*), SUM(CASE WHEN d.stage = 'won' THEN d.amount END)
        FROM sj_deals d LEFT JOIN sj_leads l ON d.lead_id = l.lead_id LEFT JOIN sj_reps r ON d.rep_id = r.rep_id
        WHERE {DEALS_RANGE} AND r.team = 'a' AND d.region = 'east' GROUP BY l.origin"""),
    "where IS NULL keeps the unmatched": (["deals"], ["rep.region"], "rep.team IS NULL", f"""
        SELECT r.region, COUNT(*)
        FROM sj_deals d LEFT JOIN sj_reps r ON d.rep_id = r.rep_id
        WHERE {DEALS_RANGE} AND r.team IS NULL GROUP BY r.region"""),
}
VISITS_BY_TEAM = f"""
    SELECT r.team, COUNT(*) FROM sj_visits v LEFT JOIN sj_reps r ON v.rep_id = r.rep_id
    WHERE {RANGE.format(t='v.ts')} GROUP BY r.team"""
WON_BY_TEAM = f"""
    SELECT r.team, SUM(CASE WHEN d.stage = 'won' THEN 1 ELSE 0 END)
    FROM sj_deals d LEFT JOIN sj_reps r ON d.rep_id = r.rep_id WHERE {DEALS_RANGE} GROUP BY r.team"""

ENGINES = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("mariadb", marks=pytest.mark.mysql), pytest.param("spark", marks=pytest.mark.spark)]


def _number(v):
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else f


class Warehouse:
    """One engine: the spec folder that reads it, and a way to run hand-written SQL on it."""

    def __init__(self, engine: str, request, tmp_path_factory):
        self.engine = engine
        if engine == "duckdb":
            import duckdb

            path = request.getfixturevalue("star_duckdb")["path"]
            source = {"type": "duckdb", "path": path}
            self._run = lambda sql: duckdb.connect(path, read_only=True).execute(sql).fetchall()
        elif engine == "sqlite":
            import sqlite3

            path = request.getfixturevalue("star_sqlite")
            source = {"type": "sqlite", "path": path}
            self._run = lambda sql: sqlite3.connect(path).execute(sql).fetchall()
        elif engine == "postgres":
            import psycopg

            opts = request.getfixturevalue("star_postgres")
            dsn = request.getfixturevalue("postgres_dsn")
            source = {"type": "postgres", **opts}

            def run(sql):
                with psycopg.connect(dsn) as con:
                    return con.execute(sql).fetchall()
            self._run = run
        elif engine == "mariadb":
            import pymysql

            params = request.getfixturevalue("star_mysql")
            source = {"type": "mysql", **params}

            def run(sql):
                with pymysql.connect(**params) as con, con.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchall()
            self._run = run
        else:
            spark = request.getfixturevalue("spark")
            parquet = request.getfixturevalue("star_duckdb")["parquet"]
            source = {"type": "spark", "tables": {n: {"path": p, "format": "parquet"} for n, p in parquet.items()}}

            def run(sql):
                for name, path in parquet.items():
                    spark.read.parquet(path).createOrReplaceTempView(name)
                return [tuple(r) for r in spark.sql(sql).collect()]
            self._run = run
        self.source = source  # other star specs over the same warehouse (tests/joins/test_window_joins.py)
        self.engine_obj = Engine(load_project(write_star_spec(tmp_path_factory.mktemp(f"star_{engine}"), source)))

    def sql(self, text: str, ndims: int) -> dict[tuple, tuple]:
        return {tuple(r[:ndims]): tuple(_number(v) for v in r[ndims:]) for r in self._run(text)}

    def compute(self, kpis, by, where=None, grain="month", start=START, end=END) -> dict[tuple, dict]:
        rs = self.engine_obj.compute(kpis=kpis, grain=grain, by=by, start=start, end=end, where=where)
        out: dict[tuple, dict] = defaultdict(dict)
        for r in rs.rows:
            key = (r.period_start, *[r.dimensions[d] for d in by])
            assert r.kpi not in out[key], f"duplicate row {r}"
            out[key][r.kpi] = r.value
        return out


_warehouses: dict[str, Warehouse] = {}


@pytest.fixture(params=ENGINES)
def wh(request, tmp_path_factory) -> Warehouse:
    if request.param not in _warehouses:
        _warehouses[request.param] = Warehouse(request.param, request, tmp_path_factory)
    return _warehouses[request.param]


@pytest.mark.parametrize("case", list(CASES))
def test_join_matches_hand_written_sql(wh, case):
    kpis, by, where, sql = CASES[case]
    expected = wh.sql(sql, len(by))
    got = wh.compute(kpis, by, where)
    assert set(got) == {(START, *k) for k in expected}, f"{wh.engine} {case}: groups differ"
    for dims, values in expected.items():
        for kpi, want in zip(kpis, values):
            if want is None and kpi == "won_amount":
                want = 0  # a sum over no qualifying row is 0 in kpiengine, NULL in SQL
            assert got[(START, *dims)][kpi] == want, f"{wh.engine} {case} {kpi} {dims}"


def test_null_and_unmatched_keys_are_one_group_never_lost(wh):
    got = wh.compute(["deals"], ["rep.team"])
    in_range = [d for d in DEALS if START <= d[6].date() < END]
    assert sum(v["deals"] for v in got.values()) == len(in_range)  # no row lost, none counted twice
    null_team = [d for d in in_range if d[1] in (None, 99, 4)]  # NULL key, unmatched key, rep with NULL team
    assert {d[1] for d in null_team} == {None, 99, 4}, "the fixture must hold all three kinds"
    assert got[(START, None)]["deals"] == len(null_team)


def test_formula_across_two_fact_tables_by_a_joined_dimension(wh):
    won = {k[0]: v[0] for k, v in wh.sql(WON_BY_TEAM, 1).items()}
    visits = {k[0]: v[0] for k, v in wh.sql(VISITS_BY_TEAM, 1).items()}
    got = wh.compute(["win_per_visit"], ["rep.team"])
    assert set(got) == {(START, t) for t in set(won) | set(visits)}
    for team in set(won) | set(visits):
        v = visits.get(team, 0)
        want = None if not v else won.get(team, 0) / v
        assert got[(START, team)]["win_per_visit"] == pytest.approx(want), f"{wh.engine} {team}"


def _monday(ts: datetime) -> date:
    return (ts - timedelta(days=ts.weekday())).date()


def test_weekly_values_by_two_hop_dimension_match_python(wh):
    team_of_rep = {r[0]: r[2] for r in REPS}
    rep_of_lead = {ld[0]: ld[2] for ld in LEADS}
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0])
    for _id, _rep, lead, stage, amount, _region, ts in DEALS:
        team = team_of_rep.get(rep_of_lead.get(lead))  # NULL or unmatched anywhere on the path: None
        cell = expected[(_monday(ts), team)]
        cell[0] += 1
        cell[1] += amount if stage == "won" else 0
    got = wh.compute(["deals", "won_amount"], ["lead.rep.team"], grain="week", start=None, end=None)
    assert {k: [v["deals"], v["won_amount"]] for k, v in got.items()} == dict(expected)
    assert len({k[0] for k in expected}) >= 4  # the fixture really spans weeks


def test_visits_fixture_has_null_and_unmatched_reps():
    assert {v[1] for v in VISITS} >= {None, 99}
