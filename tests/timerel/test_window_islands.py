"""Distinct counts over a window of days computed from each value's runs of days (sql/window_islands.py).

Hand-made visits where the edges matter: a customer seen again exactly 27, 28 and 29 days later
(the same run, touching runs, a gap), two visits on one day, a NULL customer (not counted), a NULL
region (a group of its own), a KPI filter that drops some rows (the group still has a row at a
period where no row passes it: 0). Checked against brute force in plain Python at day, week
and month grain on DuckDB and SQLite, with and without a range.
"""
from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project

SPEC = """
project: {{name: w, default_source: w}}
sources: {{w: {{type: {engine}, path: "{db}"}}}}
models:
  visits: {{table: visits, time: ts, dimensions: {{region: region}}}}
kpis:
  customers_28d: {{label: c, model: visits, aggregate: count_distinct, column: customer, window: 28d}}
  web_customers_7d: {{label: w, model: visits, aggregate: count_distinct, column: customer, window: 7d,
                     filter: "channel = 'web'"}}
  shop_customers_28d: {{label: s, model: visits, aggregate: count_distinct, column: customer, window: 28d,
                       filter: "channel = 'shop'"}}
"""
START = datetime(2026, 1, 1, 10)


def _rows():
    rows = []
    for gap_from, customer in ((0, 1), (27, 1), (55, 1), (84, 1)):  # 27 and 28 days apart, then 29
        rows.append((START + timedelta(days=gap_from), customer, "east", "web"))
    rows += [(START + timedelta(days=3, hours=h), 2, "east", "shop") for h in (0, 5)]  # twice on one day
    rows += [(START + timedelta(days=9), None, "east", "web"), (START + timedelta(days=12), 3, None, "web"),
             (START + timedelta(days=40, hours=13), 4, "west", "shop"), (START + timedelta(days=41), 5, "west", "web")]
    return rows


@pytest.fixture(scope="module", params=["duckdb", "sqlite"])
def engine(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"islands_{request.param}")
    db = str(folder / f"w.{request.param}")
    con = (duckdb if request.param == "duckdb" else sqlite3).connect(db)
    ts_type = "TIMESTAMP" if request.param == "duckdb" else "TEXT"
    con.execute(f"CREATE TABLE visits (ts {ts_type}, customer INTEGER, region VARCHAR, channel VARCHAR)")
    con.executemany("INSERT INTO visits VALUES (?, ?, ?, ?)",
                    [(t if request.param == "duckdb" else t.strftime("%Y-%m-%d %H:%M:%S"), c, r, ch)
                     for t, c, r, ch in _rows()])
    con.commit()
    con.close()
    (folder / "spec.yml").write_text(SPEC.format(engine=request.param, db=db))
    return Engine(load_project(str(folder)))


def _period(d: date, grain: str) -> date:
    if grain == "week":
        return d - timedelta(days=d.weekday())
    return d.replace(day=1) if grain == "month" else d


def _next(p: date, grain: str) -> date:
    if grain == "month":
        return (p.replace(day=28) + timedelta(days=4)).replace(day=1)
    return p + timedelta(days=7 if grain == "week" else 1)


def _expected(grain, by, start, end):
    rows = _rows()
    spine = {_period(t.date(), grain) for t, *_ in rows
             if (start is None or t.date() >= start) and (end is None or t.date() < end)}
    out = {}
    for p in spine:
        hi = datetime.combine(_next(p, grain), datetime.min.time())
        for name, days, only in (("customers_28d", 28, None), ("web_customers_7d", 7, "web"),
                                 ("shop_customers_28d", 28, "shop")):
            inside = [r for r in rows if hi - timedelta(days=days) <= r[0] < hi and (end is None or r[0].date() < end)]
            for group in {tuple([r[2]] if by else []) for r in inside}:
                mine = [r for r in inside if tuple([r[2]] if by else []) == group]
                out[(name, p, group)] = len({r[1] for r in mine
                                             if r[1] is not None and (only is None or r[3] == only)})
    return out


@pytest.mark.parametrize("grain", ["day", "week", "month"])
@pytest.mark.parametrize("by", [[], ["region"]])
@pytest.mark.parametrize("start, end", [(None, None), (date(2026, 1, 20), date(2026, 3, 10))])
def test_runs_of_days_equal_brute_force(engine, grain, by, start, end):
    names = ["customers_28d", "web_customers_7d", "shop_customers_28d"]  # two KPIs share the 28-day query
    queries = engine.compile(names, grain, by, start, end)
    assert len(queries) == 2 and all("__kpi_run" in q.sql for q in queries)  # runs of days, no join to rows
    rs = engine.compute(names, grain, by, start, end)
    got = {(r.kpi, r.period_start, tuple(r.dimensions[d] for d in by)): r.value for r in rs.rows}
    want = _expected(grain, by, start, end)
    assert got == want


def test_the_cases_are_not_vacuous():
    want = _expected("day", ["region"], None, None)
    assert any(v == 0 for (k, *_), v in want.items() if k == "web_customers_7d")  # a row, and nothing passes
    assert any(g == (None,) for _, _, g in want)  # the NULL region is a group
    by_day = {p: v for (k, p, g), v in want.items() if k == "customers_28d" and g == ("east",)}
    assert by_day[date(2026, 1, 28)] == 2 and by_day[date(2026, 2, 25)] == 1  # day 27 and day 55 ends a run
