"""A scan is widened only by the offsets its own KPIs are read at.

``revenue[same_period_last_year]`` needs the deals of a year before; the visits of the same
request do not, and scanning them for that year cost the dashboard's day-by-rep view a
scan of every model over 13 months instead of 2. Values are checked against plain SQL.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project

SPEC = """
project: {{name: s, default_source: w}}
sources: {{w: {{type: duckdb, path: "{db}"}}}}
models:
  deals: {{table: deals, time: closed_at, dimensions: {{region: region}}}}
  visits: {{table: visits, time: happened_at, dimensions: {{region: region}}}}
kpis:
  revenue: {{label: r, model: deals, aggregate: sum, column: amount}}
  yoy: {{label: y, formula: "revenue / revenue[same_period_last_year] - 1"}}
  visits: {{label: v, model: visits, aggregate: count}}
  reached: {{label: c, model: visits, aggregate: count_distinct, column: lead_id, window: 28d}}
  per_visit: {{label: p, formula: "revenue / visits"}}
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lookback")
    db = folder / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE deals (closed_at TIMESTAMP, region VARCHAR, amount DOUBLE)")
    con.execute("CREATE TABLE visits (happened_at TIMESTAMP, region VARCHAR, lead_id INTEGER)")
    start = datetime(2025, 1, 1)
    deals, visits = [], []
    for i in range(800):  # two years and more, every day, a NULL region among them
        day = start + timedelta(days=i, hours=i % 24)
        region = [None, "east", "west"][i % 3]
        deals.append((day, region, float(i % 17 + 1)))
        visits += [(day, region, i % 40), (day + timedelta(minutes=5), region, None)]
    con.executemany("INSERT INTO deals VALUES (?, ?, ?)", deals)
    con.executemany("INSERT INTO visits VALUES (?, ?, ?)", visits)
    con.close()
    (folder / "spec.yml").write_text(SPEC.format(db=db))
    return folder, str(db)


def test_only_the_offset_scan_reaches_back(spec):
    folder, _ = spec
    engine = Engine(load_project(str(folder)))
    queries = engine.compile(["yoy", "visits", "per_visit", "reached"], "month", ["region"],
                             date(2026, 1, 1), date(2026, 4, 1))
    by_model = {q.model: q.sql for q in queries if not q.kpis or q.kpis != ["reached"]}
    assert "2025-01-01" in by_model["deals"] and "2025-04-01" in by_model["deals"]
    visits_sql = next(q.sql for q in queries if q.model == "visits" and q.kpis == ["visits"])
    assert "2025-" not in visits_sql, visits_sql  # neither a year back nor the month before
    window_sql = next(q.sql for q in queries if q.kpis == ["reached"])
    assert "2025-01" not in window_sql  # the window's own 28 days reach into December, no further


@pytest.mark.parametrize("one_query", [True, False])
def test_values_are_those_of_plain_sql(spec, one_query):
    folder, db = spec
    engine = Engine(load_project(str(folder)))
    engine.plan = (lambda e: (lambda *a, **k: Engine.plan(e, *a, **{**k, "one_query": one_query})))(engine)
    rs = engine.compute(["yoy", "visits", "per_visit"], "month", ["region"], date(2026, 1, 1), date(2026, 4, 1))
    got = {(r.kpi, r.period_start, r.dimensions["region"]): r.value for r in rs.rows}
    con = duckdb.connect(db, read_only=True)
    rev = {(m, r): v for m, r, v in con.execute(
        "SELECT CAST(date_trunc('month', closed_at) AS DATE), region, sum(amount) FROM deals GROUP BY 1, 2").fetchall()}
    vis = {(m, r): v for m, r, v in con.execute(
        "SELECT CAST(date_trunc('month', happened_at) AS DATE), region, count(*) FROM visits GROUP BY 1, 2").fetchall()}
    con.close()
    checked = 0
    for month in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)):
        for region in (None, "east", "west"):
            last_year = month.replace(year=2025)
            assert got[("visits", month, region)] == vis[(month, region)]
            assert got[("yoy", month, region)] == pytest.approx(rev[(month, region)] / rev[(last_year, region)] - 1)
            assert got[("per_visit", month, region)] == pytest.approx(rev[(month, region)] / vis[(month, region)])
            checked += 3
    assert checked == 27 and len(got) == 27  # nothing from the look-back months is returned
