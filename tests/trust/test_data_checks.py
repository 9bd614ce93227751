"""Data checks (the ``checks:`` section) fire on planted bad data and stay quiet on clean data.

Twenty days of 100 orders a day (ids unique, regions east and west, amounts 10
to 49); the last day is then spoiled one way at a time: 10 % of the usual rows,
40 % NULL regions, duplicate ids, amounts out of range, no west at all. Each
spoil must fire exactly its own check, with the measure counted here by hand.
On DuckDB and SQLite.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from kpiengine.cli import main

from .conftest import load_duckdb, load_sqlite

DAY0 = datetime(2026, 2, 1)
DAYS = 20
LAST_DAY = (DAY0 + timedelta(days=DAYS - 1)).date()

CHECKS = """
checks:
  orders:
    - {type: volume, min_ratio: 50%, days: 14}
    - {type: nulls, column: region, max_share: 5%}
    - {type: unique, column: id, severity: critical}
    - {type: range, column: amount, min: 0, max: 1000}
    - {type: required, dimension: region, values: [east, west]}
"""


def clean_rows() -> list[tuple]:
    rows = []
    for d in range(DAYS):
        for i in range(100):
            n = d * 100 + i + 1
            rows.append((n, "east" if i % 2 else "west", float(10 + i % 40),
                         DAY0 + timedelta(days=d, minutes=14 * i)))
    return rows


def spoil(kind: str) -> list[tuple]:
    rows = clean_rows()
    head, last = rows[:-100], rows[-100:]
    if kind == "volume":
        last = last[:10]
    elif kind == "nulls":
        last = [(n, None if i < 40 else r, a, t) for i, (n, r, a, t) in enumerate(last)]
    elif kind == "unique":
        last = [(n - 100 if i < 10 else n, r, a, t) for i, (n, r, a, t) in enumerate(last)]  # ids of the day before
    elif kind == "range":
        last = [(n, r, -5.0 if i < 3 else a, t) for i, (n, r, a, t) in enumerate(last)]
    elif kind == "required":
        last = [(n, "east", a, t) for n, _r, a, t in last]
    return head + last


SPEC = """
project: {{name: checks, timezone: UTC, history: hist.db}}
sources:
  w: {source}
models:
  orders:
    table: orders
    time: ts
    dimensions: {{region: region}}
kpis:
  orders: {{label: Orders, model: orders, aggregate: count, unit: count}}
sinks:
  log: {{type: file, path: "{outbox}"}}
routes:
  sinks: [log]
"""


@pytest.fixture(params=["duckdb", "sqlite"])
def shop(request, tmp_path):
    if request.param == "duckdb":
        db = tmp_path / "w.duckdb"
        loader, source = (lambda rows: load_duckdb(db, rows)), f'{{type: duckdb, path: "{db}"}}'
    else:
        db = tmp_path / "w.sqlite"
        loader, source = (lambda rows: load_sqlite(db, rows)), f'{{type: sqlite, path: "{db}"}}'
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "s.yml").write_text(SPEC.format(source=source, outbox=tmp_path / "alerts.jsonl") + CHECKS,
                                  encoding="utf-8")
    return folder, loader, tmp_path / "alerts.jsonl"


def check(folder) -> dict:
    res = CliRunner().invoke(main, ["check", "-s", str(folder), "--format", "json"], catch_exceptions=False)
    assert res.exit_code in (0, 1, 2), res.output
    return json.loads(res.stdout)


def firing(doc) -> dict[str, dict]:
    return {a["rule"]: a for a in doc["alerts"] if a["state"] == "firing"}


def test_clean_data_fires_no_check(shop):
    folder, load, _log = shop
    load(clean_rows())
    doc = check(folder)
    checks = {a["rule"]: a for a in doc["alerts"] if a["rule"].startswith("check:")}
    assert set(checks) == {"check:orders.volume", "check:orders.nulls_region", "check:orders.unique_id",
                           "check:orders.range_amount", "check:orders.required_region"}
    assert all(a["state"] == "inactive" and a["last_period"] == LAST_DAY.isoformat() for a in checks.values())
    assert checks["check:orders.volume"]["value"] == 1.0 and checks["check:orders.nulls_region"]["value"] == 0
    assert doc["errors"] == []


@pytest.mark.parametrize("kind, rule, value, severity", [
    ("volume", "check:orders.volume", 10 / 100, "warning"),
    ("nulls", "check:orders.nulls_region", 40 / 100, "warning"),
    ("unique", "check:orders.unique_id", 10, "critical"),
    ("range", "check:orders.range_amount", 3, "warning"),
    ("required", "check:orders.required_region", 1, "warning"),
])
def test_each_check_fires_on_its_planted_bad_data(shop, kind, rule, value, severity):
    folder, load, log = shop
    load(spoil(kind))
    doc = check(folder)
    assert set(firing(doc)) == {rule}, firing(doc)
    alert = firing(doc)[rule]
    assert alert["value"] == pytest.approx(value) and alert["severity"] == severity
    assert alert["last_period"] == LAST_DAY.isoformat()
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    assert [i["rule"] for n in sent for i in n["items"]] == [rule]  # routed like any alert
    # fixed: the next check resolves it
    load(clean_rows())
    doc = check(folder)
    assert firing(doc) == {}
    assert [n["status"] for n in (json.loads(x) for x in log.read_text().splitlines())][-1] == "resolved"


def test_one_check_can_be_run_by_name(shop):
    folder, load, _log = shop
    load(spoil("unique"))
    res = CliRunner().invoke(main, ["check", "-s", str(folder), "--format", "json", "--rule",
                                    "check:orders.unique_id"], catch_exceptions=False)
    assert res.exit_code == 2, res.output  # a critical check fires
    doc = json.loads(res.stdout)
    assert [(a["rule"], a["state"], a["value"]) for a in doc["alerts"]] == [("check:orders.unique_id", "firing", 10)]
