"""KPI values on DuckDB against values computed independently, in plain Python, from the same rows."""
from __future__ import annotations

import csv
import random
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project
from kpiengine.sql.periods import python_period_start

REGIONS = ["east", "west", None]  # None: a group of its own
CHANNELS = ["web", "event", "O'Brien; DROP TABLE deals --"]


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    rnd = random.Random(20261127)
    base = datetime(2026, 1, 5)
    visits = [(i, base + timedelta(minutes=rnd.randrange(0, 60 * 24 * 42)), rnd.choice(REGIONS),
               rnd.choice(CHANNELS)) for i in range(3000)]
    deals = []
    for i in range(700):
        stage = rnd.choice(["won", "won", "lost", "open"])
        amount = None if rnd.random() < 0.05 else round(rnd.uniform(100, 5000), 2)
        deals.append((i, base + timedelta(minutes=rnd.randrange(0, 60 * 24 * 49)), rnd.choice(REGIONS), stage,
                      amount, f"rep{rnd.randrange(12)}"))
    # One region-week with deals but no visits at all: conversion must be None (x / 0), not an error.
    deals.append((9999, datetime(2026, 2, 23, 10), "north", "won", 10.0, "rep1"))
    folder = tmp_path_factory.mktemp("wh")
    db = folder / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE visits (id INT, ts TIMESTAMP, region TEXT, channel TEXT)")
    con.execute("CREATE TABLE deals (id INT, ts TIMESTAMP, region TEXT, stage TEXT, amount DOUBLE, rep TEXT)")
    for table, rows in (("visits", visits), ("deals", deals)):  # one multi-row INSERT: executemany is slow
        marks = ",".join(["(" + ",".join("?" * len(rows[0])) + ")"] * len(rows))
        con.execute(f"INSERT INTO {table} VALUES {marks}", [x for r in rows for x in r])
    con.close()
    leads_csv = folder / "leads.csv"
    leads = [(f"L{i}", (base + timedelta(days=rnd.randrange(0, 60))).strftime("%d-%m-%Y"),
              rnd.choice(["organic", "paid", ""])) for i in range(800)]
    with leads_csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lead_id", "first_contact", "origin"])
        w.writerows(leads)
    spec = folder / "spec"
    spec.mkdir()
    (spec / "kpis.yml").write_text(f"""
project: {{name: numbers, timezone: UTC}}
sources:
  w: {{type: duckdb, path: "{db}"}}
models:
  visits: {{table: visits, time: ts, dimensions: {{region: region, channel: channel}}}}
  deals: {{table: deals, time: ts, entity: id, dimensions: {{region: region}}}}
  leads: {{file: "{leads_csv}", time: first_contact, time_format: "%d-%m-%Y",
          dimensions: {{origin: "NULLIF(origin, '')"}}}}
kpis:
  visits: {{label: 拜訪量, model: visits, aggregate: count}}
  obrien_visits: {{label: Hostile, model: visits, aggregate: count,
                  filter: "channel = 'O''Brien; DROP TABLE deals --'"}}
  deals_won: {{label: Won, model: deals, aggregate: count, filter: "stage = 'won'"}}
  revenue: {{label: Revenue, model: deals, aggregate: sum, column: amount, filter: "stage = 'won'", unit: currency}}
  lost_revenue_nothing: {{label: none, model: deals, aggregate: sum, column: amount, filter: "stage = 'nope'"}}
  avg_amount: {{label: Avg, model: deals, aggregate: avg, column: amount}}
  min_amount: {{label: Min, model: deals, aggregate: min, column: amount}}
  max_amount: {{label: Max, model: deals, aggregate: max, column: amount}}
  median_amount: {{label: Median, model: deals, aggregate: percentile, column: amount, percentile: 0.5}}
  reps: {{label: Reps, model: deals, aggregate: count_distinct, column: rep}}
  conversion: {{label: 轉化率, formula: deals_won / visits, unit: percent}}
  value_per_visit: {{label: Value per visit, formula: (revenue / visits) * 1}}
  leads: {{label: Leads, model: leads, aggregate: count}}
""", encoding="utf-8")
    return {"spec": spec, "visits": visits, "deals": deals, "leads": leads}


def group(rows, key):
    out = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return out


def close(a, b):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def test_week_by_region_matches_independent_python(warehouse):
    rs = Engine(load_project(warehouse["spec"])).compute(grain="week", by=["region"])
    got = {(r.kpi, r.period_start, r.dimensions["region"]): r.value for r in rs.rows}
    v_groups = group(warehouse["visits"], lambda v: (monday(v[1].date()), v[2]))
    d_groups = group(warehouse["deals"], lambda d: (monday(d[1].date()), d[2]))
    for key, rows in v_groups.items():
        assert got[("visits", *key)] == len(rows)
        assert got[("obrien_visits", *key)] == sum(1 for v in rows if v[3] == CHANNELS[2])
    for key, rows in d_groups.items():
        won = [d for d in rows if d[3] == "won"]
        amounts = [d[4] for d in rows if d[4] is not None]
        assert got[("deals_won", *key)] == len(won)
        assert close(got[("revenue", *key)], sum(d[4] for d in won if d[4] is not None))
        assert got[("lost_revenue_nothing", *key)] == 0  # a sum over no rows is 0, not NULL
        assert close(got[("avg_amount", *key)], statistics.fmean(amounts) if amounts else None)
        assert close(got[("min_amount", *key)], min(amounts) if amounts else None)
        assert close(got[("max_amount", *key)], max(amounts) if amounts else None)
        if amounts:
            assert close(got[("median_amount", *key)], statistics.median(amounts))
        assert got[("reps", *key)] == len({d[5] for d in rows})
    # Formulas: inputs from two models meet on (week, region), NULL region meeting NULL region.
    keys = set(v_groups) | set(d_groups)
    for key in keys:
        n_visits = len(v_groups.get(key, []))
        n_won = sum(1 for d in d_groups.get(key, []) if d[3] == "won")
        expected = None if n_visits == 0 else n_won / n_visits
        assert close(got[("conversion", *key)], expected), key
    assert got[("conversion", date(2026, 2, 23), "north")] is None  # deals but no visits: x / 0 -> null
    assert any(k[2] is None for k in got if k[0] == "conversion")  # the NULL group exists


def test_month_totals_and_csv_text_dates(warehouse):
    rs = Engine(load_project(warehouse["spec"])).compute(["leads", "conversion"], grain="month")
    got = {(r.kpi, r.period_start): r.value for r in rs.rows}
    leads_by_month = group(warehouse["leads"],
                           lambda l: python_period_start(datetime.strptime(l[1], "%d-%m-%Y").date(), "month"))
    for month, rows in leads_by_month.items():
        assert got[("leads", month)] == len(rows)
    visits_m = group(warehouse["visits"], lambda v: python_period_start(v[1].date(), "month"))
    deals_m = group(warehouse["deals"], lambda d: python_period_start(d[1].date(), "month"))
    for month in set(visits_m) | set(deals_m):
        won = sum(1 for d in deals_m.get(month, []) if d[3] == "won")
        n = len(visits_m.get(month, []))
        assert close(got[("conversion", month)], won / n if n else None)


def test_blank_text_dimension_becomes_its_own_null_group(warehouse):
    rs = Engine(load_project(warehouse["spec"])).compute(["leads"], grain="year", by=["origin"])
    got = {r.dimensions["origin"]: r.value for r in rs.rows}
    expected = defaultdict(int)
    for _, _, origin in warehouse["leads"]:
        expected[origin or None] += 1
    assert got == dict(expected)


def test_date_range_is_start_inclusive_end_exclusive(warehouse):
    start, end = date(2026, 1, 12), date(2026, 1, 26)
    rs = Engine(load_project(warehouse["spec"])).compute(["visits"], grain="day", start=start, end=end)
    got = {r.period_start: r.value for r in rs.rows}
    expected = defaultdict(int)
    for v in warehouse["visits"]:
        if start <= v[1].date() < end:
            expected[v[1].date()] += 1
    assert got == dict(expected)


def test_empty_period_range_gives_no_rows_not_an_error(warehouse):
    rs = Engine(load_project(warehouse["spec"])).compute(["conversion"], grain="week", start=date(2030, 1, 1),
                                                         end=date(2030, 2, 1))
    assert rs.rows == []


def test_parquet_file_model(tmp_path):
    rows = [(date(2026, 3, 2) + timedelta(days=i % 10), "east" if i % 3 else None, float(i)) for i in range(50)]
    path = tmp_path / "orders.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE o (d DATE, region TEXT, amount DOUBLE)")
    con.execute("INSERT INTO o VALUES " + ",".join(["(?,?,?)"] * len(rows)), [x for r in rows for x in r])
    con.execute(f"COPY o TO '{path}' (FORMAT PARQUET)")
    (tmp_path / "s.yml").write_text("""
sources: {w: {type: duckdb, path: ":memory:"}}
models:
  orders: {file: orders.parquet, time: d, dimensions: {region: region}}
kpis:
  amount: {label: Amount, model: orders, aggregate: sum, column: amount}
""", encoding="utf-8")
    rs = Engine(load_project(tmp_path)).compute(["amount"], grain="week", by=["region"])
    expected = defaultdict(float)
    for d, region, amount in rows:
        expected[(monday(d), region)] += amount
    assert {(r.period_start, r.dimensions["region"]): r.value for r in rs.rows} == dict(expected)
