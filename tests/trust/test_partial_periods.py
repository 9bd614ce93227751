"""Data ending on a Wednesday afternoon, mid-month: partial periods are marked, never judged as full ones.

Each test runs on DuckDB, SQLite and PostgreSQL (the ``shop`` fixture); expected
counts come from the fixture's rows in plain Python.
"""
from __future__ import annotations

import json
from datetime import date

from click.testing import CliRunner

from kpiengine.cli import main

from .conftest import LAST, count_by, week_of


def kpi(*args, ok=(0,)):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code in ok, res.output
    return res


def test_partial_week_and_month_are_marked_in_json(shop):
    _engine, folder, _load, rows = shop
    doc = json.loads(kpi("run", "-s", str(folder), "-k", "orders", "-k", "avg_order", "--format", "json",
                         "--no-history").stdout)
    weeks = count_by(rows, lambda r: week_of(r[3].date()))
    got = {date.fromisoformat(r["period_start"]): r for r in doc["rows"] if r["kpi"] == "orders"}
    assert {p: r["value"] for p, r in got.items()} == weeks
    last_week = week_of(LAST.date())
    assert last_week == date(2026, 3, 9)
    assert got[last_week]["complete"] is False
    assert all("complete" not in r for p, r in got.items() if p != last_week)
    # a formula reads the same model: its last week is partial too
    avg = {r["period_start"]: r for r in doc["rows"] if r["kpi"] == "avg_order"}
    assert avg["2026-03-09"]["complete"] is False and "complete" not in avg["2026-03-02"]
    mark = doc["watermarks"]["orders"]
    assert mark["reach"] == "2026-03-11 14:00:00" and mark["stale"] is True

    months = json.loads(kpi("run", "-s", str(folder), "-k", "orders", "-g", "month", "--format", "json",
                            "--no-history").stdout)["rows"]
    expected = count_by(rows, lambda r: r[3].date().replace(day=1).isoformat())
    assert {r["period_start"]: r["value"] for r in months} == expected
    assert [r["period_start"] for r in months if r.get("complete") is False] == ["2026-03-01"]


def test_a_range_cutting_a_week_marks_it_partial_not_full(shop):
    """--from Wednesday cuts the week of Monday 2026-02-09: its value is marked, never shown as the full week."""
    _engine, folder, _load, rows = shop
    doc = json.loads(kpi("run", "-s", str(folder), "-k", "orders", "--from", "2026-02-11", "--to", "2026-02-25",
                         "--format", "json", "--no-history").stdout)
    got = {r["period_start"]: r for r in doc["rows"]}
    cut = [r for r in rows if date(2026, 2, 11) <= r[3].date() < date(2026, 2, 25)]
    assert {p: r["value"] for p, r in got.items()} == {k.isoformat(): v for k, v in
                                                       count_by(cut, lambda r: week_of(r[3].date())).items()}
    assert got["2026-02-09"]["complete"] is False  # Wednesday to Sunday of that week only
    assert got["2026-02-23"]["complete"] is False  # Monday and Tuesday only
    assert "complete" not in got["2026-02-16"]


def test_table_marks_the_partial_week(shop):
    _engine, folder, _load, _rows = shop
    out = kpi("run", "-s", str(folder), "-k", "orders", "--no-history", "--last", "2").output
    lines = out.splitlines()
    assert any(line.startswith("2026-03-09 *") for line in lines), out
    assert any(line.startswith("2026-03-02 ") and "*" not in line for line in lines), out
    assert "* partial period (data up to 2026-03-11 14:00)" in out
    assert "model orders is stale: data reaches 2026-03-11 14:00" in out


def test_csv_says_which_rows_are_complete(shop):
    _engine, folder, _load, _rows = shop
    out = kpi("run", "-s", str(folder), "-k", "orders", "--no-history", "--format", "csv").stdout.splitlines()
    assert out[0] == "kpi,period_start,value,complete"
    assert out[-1].startswith("orders,2026-03-09,") and out[-1].endswith(",false")
    assert out[-2].endswith(",true")
