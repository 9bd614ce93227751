"""`kpi explain --by a,b,c` on a real warehouse: planted segments named, numbers checked with hand-written SQL."""
from __future__ import annotations

import csv
import json
import sqlite3
import statistics
from datetime import date, timedelta

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from kpiengine.analysis.baselines import Baseline, rule_baseline
from kpiengine.analysis.explain_change import explain, top_drivers_text
from kpiengine.analysis.leaves import fetch_leaves
from kpiengine.cli import main
from kpiengine.engine import Engine
from kpiengine.loader import load_project

WEEKS = [date(2026, 3, 2) + timedelta(weeks=i) for i in range(6)]
NOW = WEEKS[-1]
LAST_YEAR = NOW - timedelta(days=364)
REGIONS, CHANNELS, PRODUCTS = ["east", "west", "north", "south"], ["web", "store", "phone"], list("ABCDE")

SPEC = """
project: {{name: shop, default_source: wh}}
sources:
  wh: {source}
models:
  orders:
    table: orders
    time: t
    dimensions: {{region: region, channel: channel, product: product}}
  visits:
    table: visits
    time: t
    dimensions: {{region: region, channel: channel, product: product}}
kpis:
  revenue: {{label: Revenue, model: orders, aggregate: sum, column: amount, unit: number,
            dimensions: [region, channel, product]}}
  profit: {{label: Profit, model: orders, aggregate: sum, column: profit, unit: number}}
  order_count: {{label: Orders, model: orders, aggregate: count, unit: count}}
  visit_count: {{label: Visits, model: visits, aggregate: count, unit: count}}
  conversion: {{label: Conversion, formula: order_count / visit_count, unit: percent}}
  margin: {{label: Margin, formula: profit / revenue, unit: percent}}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Orders and visits per region x channel x product; in the last week east x web sells 40 % as much."""
    rng = np.random.default_rng(11)
    base = tmp_path_factory.mktemp("shop")
    orders, visits = [], []
    for week in WEEKS + [LAST_YEAR]:
        for r in REGIONS:
            for c in CHANNELS:
                for p in PRODUCTS:
                    n_visits = int(rng.poisson(120))
                    rate = 0.2 * (0.4 if week == NOW and (r, c) == ("east", "web") else 1.0)
                    for k in range(n_visits):
                        t = f"{week + timedelta(days=int(k % 7))} 10:00:00"
                        visits.append((t, r, c, p))
                        if rng.random() < rate:
                            amount = round(float(rng.uniform(50, 150)), 2)
                            # the margin turns negative in the last week (heavy discounts in east)
                            cost = amount * (1.4 if week == NOW and r == "east" else 0.7)
                            orders.append((t, r, c, p, amount, round(amount - cost, 2)))
    for name, rows, header in (("orders", orders, "t,region,channel,product,amount,profit"),
                               ("visits", visits, "t,region,channel,product")):
        with open(base / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header.split(","))
            w.writerows(rows)
    db = base / "shop.duckdb"
    con = duckdb.connect(str(db))
    lite = sqlite3.connect(base / "shop.sqlite")
    for name, cols in (("orders", "t TIMESTAMP, region TEXT, channel TEXT, product TEXT, amount DOUBLE, profit DOUBLE"),
                       ("visits", "t TIMESTAMP, region TEXT, channel TEXT, product TEXT")):
        con.execute(f"CREATE TABLE {name} ({cols})")
        con.execute(f"INSERT INTO {name} SELECT * FROM read_csv('{base / name}.csv', header = true)")
        lite.execute(f"CREATE TABLE {name} ({cols.replace('TIMESTAMP', 'TEXT')})")
        rows = orders if name == "orders" else visits
        lite.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.close()
    lite.commit()
    lite.close()
    folders = {}
    for kind, path in (("duckdb", db), ("sqlite", base / "shop.sqlite")):
        folder = base / f"spec_{kind}"
        folder.mkdir()
        (folder / "shop.yml").write_text(SPEC.format(source=f"{{type: {kind}, path: '{path}'}}"))
        folders[kind] = folder
    return {"db": str(db), "specs": folders}


def weekly(db: str, sql: str, week: date, *params):
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(sql + " AND t >= ? AND t < ?", [*params, week, week + timedelta(days=7)]).fetchone()[0] or 0
    finally:
        con.close()


def test_cli_names_the_planted_pair_with_its_sql_sums(shop):
    out = CliRunner().invoke(main, ["explain", "revenue", "--spec", str(shop["specs"]["duckdb"]), "--change",
                                    WEEKS[-2].isoformat(), NOW.isoformat(), "--by", "region,channel",
                                    "--by", "product", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    rc = data["root_cause"][0]
    assert rc["dimensions"] == ["region", "channel", "product"] and rc["method"] == "ripple scan"
    assert [e["dimensions"] for e in rc["elements"]] == [{"region": "east", "channel": "web"}]
    e = rc["elements"][0]
    sql = "SELECT sum(amount) FROM orders WHERE region = 'east' AND channel = 'web'"
    assert e["before"] == pytest.approx(weekly(shop["db"], sql, WEEKS[-2]))
    assert e["after"] == pytest.approx(weekly(shop["db"], sql, NOW))
    total = "SELECT sum(amount) FROM orders WHERE true"
    change = weekly(shop["db"], total, NOW) - weekly(shop["db"], total, WEEKS[-2])
    assert e["contribution"] + rc["other"]["contribution"] == pytest.approx(change)
    assert data["summary"].startswith("revenue -") and "region=east & channel=web explains" in data["summary"]


def test_last_year_is_one_query_per_model_and_reads_that_week(shop):
    engine = Engine(load_project(shop["specs"]["duckdb"]))
    table = fetch_leaves(engine, ["revenue", "order_count"], ["region", "channel"], "week", [LAST_YEAR, NOW])
    assert table.queries == 1 and len(table.keys) == len(REGIONS) * len(CHANNELS)
    i = table.keys.index(("east", "web"))
    sql = "SELECT sum(amount) FROM orders WHERE region = 'east' AND channel = 'web'"
    assert table.at("revenue", LAST_YEAR)[i] == pytest.approx(weekly(shop["db"], sql, LAST_YEAR))
    ex = explain(engine, "revenue", None, NOW, ["region", "channel", "product"], baseline=Baseline("last_year"))
    assert ex.from_period == LAST_YEAR
    assert [e.dims for e in ex.best_root_cause().localization.elements] == [{"region": "east", "channel": "web"}]


def test_forecast_splits_the_deviation_from_the_rules_expected_value(shop):
    engine = Engine(load_project(shop["specs"]["duckdb"]))
    ex = explain(engine, "revenue", None, NOW, ["region", "channel", "product"],
                 baseline=Baseline("forecast", window=4))
    total = "SELECT sum(amount) FROM orders WHERE true"
    expected = statistics.median(weekly(shop["db"], total, w) for w in WEEKS[-5:-1])
    assert ex.before == pytest.approx(expected)
    loc = ex.best_root_cause().localization
    assert [e.dims for e in loc.elements] == [{"region": "east", "channel": "web"}]
    assert sum(e.contribution for e in loc.elements) + loc.other.contribution == pytest.approx(ex.change)
    assert ex.change == pytest.approx(weekly(shop["db"], total, NOW) - expected)


def test_a_ratio_across_two_models_names_the_rate_drop(shop):
    engine = Engine(load_project(shop["specs"]["duckdb"]))
    ex = explain(engine, "conversion", WEEKS[-2], NOW, ["region", "channel", "product"])
    loc = ex.best_root_cause().localization
    assert loc.kind == "ratio" and [e.dims for e in loc.elements] == [{"region": "east", "channel": "web"}]
    e = loc.elements[0]
    where = "WHERE region = 'east' AND channel = 'web'"
    n0, n1 = (weekly(shop["db"], f"SELECT count(*) FROM orders {where}", w) for w in (WEEKS[-2], NOW))
    d0, d1 = (weekly(shop["db"], f"SELECT count(*) FROM visits {where}", w) for w in (WEEKS[-2], NOW))
    D0, D1 = (weekly(shop["db"], "SELECT count(*) FROM visits WHERE true", w) for w in (WEEKS[-2], NOW))
    assert (e.before, e.after) == (pytest.approx(n0 / d0), pytest.approx(n1 / d1))
    assert e.rate_effect == pytest.approx((d0 / D0 + d1 / D1) / 2 * (n1 / d1 - n0 / d0))
    assert "rate" in e.channels and e.contribution + loc.other.contribution == pytest.approx(ex.change)


def test_a_margin_changing_sign_is_explained_not_a_crash(shop):
    out = CliRunner().invoke(main, ["explain", "margin", "--spec", str(shop["specs"]["duckdb"]), "--change",
                                    WEEKS[-2].isoformat(), NOW.isoformat(), "--by", "region", "--by", "channel"])
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output and "margin" in out.output
    out = CliRunner().invoke(main, ["explain", "margin", "--spec", str(shop["specs"]["duckdb"]), "--change",
                                    WEEKS[-2].isoformat(), NOW.isoformat(), "--by", "region,channel",
                                    "--search", "dimensions"])
    assert out.exit_code == 0, out.output
    assert "region east explains" in out.output


def test_leaves_are_the_same_on_sqlite(shop):
    tables = {}
    for kind, folder in shop["specs"].items():
        engine = Engine(load_project(folder))
        t = fetch_leaves(engine, ["revenue", "visit_count"], ["region", "channel", "product"], "week",
                         [WEEKS[0], NOW])
        tables[kind] = {(p, k): (t.at("revenue", p)[i], t.at("visit_count", p)[i])
                        for p in t.periods for i, k in enumerate(t.keys)}
    assert tables["duckdb"].keys() == tables["sqlite"].keys()
    for key, (rev, vis) in tables["duckdb"].items():
        assert tables["sqlite"][key] == (pytest.approx(rev), vis)


def test_alert_line_uses_the_rules_baseline(shop):
    class Anomaly:  # the fields an alerting Rule carries
        type, grain, compare, window, seasonal, periods = "anomaly", "week", "previous", 4, False, 4

    engine = Engine(load_project(shop["specs"]["duckdb"]))
    baseline = rule_baseline(Anomaly(), NOW)
    assert baseline == Baseline("forecast", window=4)
    text = top_drivers_text(engine, "revenue", NOW, grain="week", baseline=baseline)
    assert text.startswith("revenue -") and "against the expected value (median of the 4 weeks before)" in text
    assert "region=east & channel=web explains" in text


def test_bad_input_is_a_clear_error(shop):
    spec = str(shop["specs"]["duckdb"])
    out = CliRunner().invoke(main, ["explain", "revenue", "--spec", spec, "--at", NOW.isoformat(),
                                    "--by", "region,chanel"])
    assert out.exit_code != 0 and "unknown dimension 'chanel'" in out.output and "did you mean 'channel'" in out.output
    out = CliRunner().invoke(main, ["explain", "revenue", "--spec", spec, "--change", WEEKS[0].isoformat(),
                                    NOW.isoformat(), "--baseline", "forecast"])
    assert out.exit_code != 0 and "either --change" in out.output and "Traceback" not in out.output
