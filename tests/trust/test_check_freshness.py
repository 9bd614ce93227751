"""``kpi check`` on data ending mid-week: it judges the last complete week and the freshness rule fires once.

On DuckDB, SQLite and PostgreSQL. The orders of the partial week (Monday to
Wednesday 14:00) are 40 % fewer than a full week's, so a change rule judging it
would fire; the last complete week equals the one before (hand-counted here),
so nothing fires. The data ends long before now (the real clock), so the model
is stale: the freshness rule fires, a second check sends nothing new, and once
rows up to now arrive it resolves, once.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from click.testing import CliRunner

from kpiengine.cli import main

from .conftest import LAST, count_by, make_orders, week_of


def check(folder, *extra, ok=(0, 1)):
    res = CliRunner().invoke(main, ["check", "-s", str(folder), "--format", "json", *extra], catch_exceptions=False)
    assert res.exit_code in ok, res.output
    return json.loads(res.stdout)


def sent(folder) -> list[dict]:
    path = folder / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_check_judges_the_last_complete_week_and_freshness_fires_once(shop):
    _engine, folder, load, rows = shop
    weeks = count_by(rows, lambda r: week_of(r[3].date()))
    partial, last_full, before = date(2026, 3, 9), date(2026, 3, 2), date(2026, 2, 23)
    assert (weeks[partial] - weeks[last_full]) / weeks[last_full] < -0.25  # judging it would fire
    assert weeks[last_full] == weeks[before]

    doc = check(folder)
    assert doc["periods"]["orders_drop"] == last_full.isoformat()
    drop = [a for a in doc["alerts"] if a["rule"] == "orders_drop"]
    assert [a["state"] for a in drop] == ["inactive"] and drop[0]["value"] == weeks[last_full]
    fresh = [a for a in doc["alerts"] if a["rule"] == "orders_fresh"]
    assert [a["state"] for a in fresh] == ["firing"]
    delay = (datetime.now() - LAST).total_seconds()  # the project is in UTC; the container's clock too
    assert abs(fresh[0]["value"] - delay) < 120
    assert any("model orders is stale" in note for note in doc["stale"])
    first = sent(folder)
    assert [(n["status"], [i["rule"] for i in n["items"]]) for n in first] == [("firing", ["orders_fresh"])]

    # a second check while still stale: nothing new is sent
    doc = check(folder)
    assert [a["state"] for a in doc["alerts"] if a["rule"] == "orders_fresh"] == ["firing"]
    assert len(sent(folder)) == 1

    # the data arrives (orders up to a minute ago): resolved, once
    load(rows + make_orders(LAST + timedelta(hours=2), datetime.now() - timedelta(minutes=1)))
    doc = check(folder, ok=(0,))
    assert [a["state"] for a in doc["alerts"] if a["rule"] == "orders_fresh"] in (["resolved"], ["inactive"])
    assert doc["stale"] == []
    statuses = [n["status"] for n in sent(folder)]
    assert statuses == ["firing", "resolved"]
    check(folder, ok=(0,))
    assert [n["status"] for n in sent(folder)] == ["firing", "resolved"]


def test_an_explicit_partial_period_is_judged_with_a_warning(shop):
    _engine, folder, _load, rows = shop
    res = CliRunner().invoke(main, ["check", "-s", str(folder), "--format", "json", "--rule", "orders_drop",
                                    "--period", "2026-03-09", "--no-send"], catch_exceptions=False)
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    (alert,) = [a for a in doc["alerts"] if a["rule"] == "orders_drop"]
    weeks = count_by(rows, lambda r: week_of(r[3].date()))
    assert alert["state"] == "firing" and alert["value"] == weeks[date(2026, 3, 9)]
    assert any("period 2026-03-09 is partial" in w for w in doc["warnings"])
