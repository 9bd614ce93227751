"""Issue 10: `where:` in alert rules. The rule judges the KPI computed under the filter; its alerts,
texts, `kpi backtest` and `kpi test` say so; filtered values never reach the history store.
Real DuckDB warehouse, real CLI; expected values from hand-written SQL on the same file."""
from __future__ import annotations

import json
import sqlite3
import textwrap

import duckdb
import pytest
from click.testing import CliRunner
from rate_warehouse import build_rate_warehouse, file_lines, week, write_rate_project

from kpiengine.cli import main


@pytest.fixture(autouse=True)
def _own_history(monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# east drops to 5 % in week 3; west (three times the visits) holds the whole KPI above 12 %
WEEKS = {"east": [(100, 20), (100, 20), (100, 19), (100, 5)],
         "west": [(300, 60), (300, 60), (300, 61), (300, 60)]}

SINKS = 'sinks:\n  out: {type: file, path: "OUT"}\nroutes:\n  sinks: [out]\n'


def rules(where: str = "region = 'east'") -> str:
    return f"""
rules:
  east_low:
    kpi: conversion
    where: "{where}"
    warning: {{below: 12%}}
  all_low:
    kpi: conversion
    warning: {{below: 12%}}
"""


def spec(tmp_path, alerts: str):
    db = tmp_path / "w.duckdb"
    build_rate_warehouse(db, WEEKS)
    return write_rate_project(tmp_path / "spec", db, SINKS.replace("OUT", str(tmp_path / "out.jsonl")) + alerts), db


def sql_conversion(db, w: int, region: str | None) -> float:
    """won / visits of week ``w``, written by hand (region None: all regions)."""
    con = duckdb.connect(str(db), read_only=True)
    cond = "" if region is None else f" AND region = '{region}'"
    lo, hi = week(w).isoformat(), week(w + 1).isoformat()
    won = con.execute(f"SELECT count(*) FROM deals WHERE stage = 'won' AND closed_at >= '{lo}' "
                      f"AND closed_at < '{hi}'{cond}").fetchone()[0]
    visits = con.execute(f"SELECT count(*) FROM activities WHERE kind = 'visit' AND happened_at >= '{lo}' "
                         f"AND happened_at < '{hi}'{cond}").fetchone()[0]
    con.close()
    return won / visits


def test_a_filtered_rule_judges_the_filtered_kpi_and_names_the_filter(tmp_path):
    folder, db = spec(tmp_path, rules())
    east, whole = sql_conversion(db, 3, "east"), sql_conversion(db, 3, None)
    assert east < 0.12 < whole  # the planted case: only the filtered KPI is low

    result = kpi("check", "-s", folder, "--period", week(3))
    assert result.exit_code == 1, result.output
    con = sqlite3.connect(folder / ".kpiengine" / "history.db")
    states = {(r, k): json.loads(d) for r, k, d in con.execute("SELECT rule, key, data FROM alert_state")}
    assert states[("east_low", "{} where region = 'east'")]["state"] == "firing"
    assert states[("east_low", "{} where region = 'east'")]["value"] == pytest.approx(east)
    assert states[("all_low", "{}")]["state"] != "firing"
    assert states[("all_low", "{}")]["value"] == pytest.approx(whole)

    [note] = file_lines(tmp_path / "out.jsonl")
    [item] = note["items"]
    assert item["rule"] == "east_low" and item["labels"]["where"] == "region = 'east'"
    assert "where region = 'east'" in note["title"] and "where region = 'east'" in item["message"]

    # the history store holds the whole KPI only: the filtered value was never written as if unfiltered
    stored = con.execute("SELECT value FROM kpi_values WHERE kpi = 'conversion' AND period_start = ?",
                         (week(3).isoformat(),)).fetchall()
    con.close()
    assert stored and all(v == pytest.approx(whole) for (v,) in stored)


def test_a_changed_filter_starts_its_alerts_afresh(tmp_path):
    folder, _db = spec(tmp_path, rules())
    assert kpi("check", "-s", folder, "--period", week(3)).exit_code == 1
    (folder / "alerts.yml").write_text(
        SINKS.replace("OUT", str(tmp_path / "out.jsonl")) + textwrap.dedent(rules("region = 'west'")),
        encoding="utf-8")
    assert kpi("check", "-s", folder, "--period", week(3)).exit_code == 0  # west is fine
    con = sqlite3.connect(folder / ".kpiengine" / "history.db")
    keys = {k for (k,) in con.execute("SELECT key FROM alert_state WHERE rule = 'east_low'")}
    con.close()
    assert keys == {"{} where region = 'west'"}  # the east alert did not carry over to west


def test_backtest_replays_the_filtered_kpi(tmp_path):
    folder, _db = spec(tmp_path, rules())
    out = json.loads(kpi("backtest", "-s", folder, "east_low", "--from", week(1), "--to", week(4),
                         "--format", "json").output)
    assert [e["fired"] for e in out["episodes"]] == [week(3).isoformat()]
    assert json.loads(kpi("backtest", "-s", folder, "all_low", "--from", week(1), "--to", week(4),
                          "--format", "json").output)["episodes"] == []
    refused = kpi("backtest", "-s", folder, "east_low", "--from", week(1), "--to", week(4), "--history")
    assert refused.exit_code != 0 and "unfiltered values only" in refused.output


def test_rule_unit_tests_see_the_filter_label(tmp_path):
    folder, _db = spec(tmp_path, rules())
    (folder / "east.test.yml").write_text(textwrap.dedent(f"""
        tests:
          - name: east drops
            start: {week(0)}
            rules: [east_low]
            values:
              "conversion": 0.2 0.2 0.05
            expect:
              - at: 2
                firing:
                  - {{rule: east_low, severity: warning, labels: {{where: "region = 'east'"}}}}
              - at: 1
                firing: []
    """), encoding="utf-8")
    result = kpi("test", "-s", folder)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where, words", [
    ("teritory = 'east'", "teritory"),               # not a dimension of the KPI
    ("region = (SELECT 'east')", "subqueries are not allowed"),  # not allow-listed
    ("", "`where` must be a filter"),
])
def test_a_bad_filter_is_a_located_error(tmp_path, where, words):
    folder, _db = spec(tmp_path, rules(where))
    result = kpi("validate", "-s", folder)
    assert result.exit_code != 0
    text = result.output
    line = next(i for i, x in enumerate((folder / "alerts.yml").read_text().splitlines(), 1) if "where:" in x)
    assert f"alerts.yml:{line}" in text and "east_low" in text
    assert words in text


def test_the_dashboard_keeps_a_filtered_alert_off_the_unfiltered_tile(tmp_path):
    """east_low fires on east's conversion; the page's Conversion tile (all regions, above 12 %) is not red
    for it, no limit line of the rule is drawn on its trend, and the alerts list names the filter."""
    import urllib.request

    from kpiengine.dashboard.server import start_in_thread

    folder, db = spec(tmp_path, """
rules:
  east_low:
    kpi: conversion
    where: "region = 'east'"
    warning: {below: 12%}
""")
    assert kpi("check", "-s", folder, "--period", week(3)).exit_code == 1  # it fires
    server = start_in_thread(str(folder))
    try:
        host, port = server.server_address[:2]
        url = f"http://{host}:{port}/api/dashboard?grain=week&by=none&period={week(3).isoformat()}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            doc = json.loads(resp.read())
    finally:
        server.shutdown()
        server.server_close()
    tile = doc["process"]["tiles"]["conversion"]
    assert tile["value"] == pytest.approx(sql_conversion(db, 3, None)) and tile["value"] > 0.12
    assert tile["status"] == "ok"
    [alert] = [a for a in doc["alerts"]["active"] if a["rule"] == "east_low"]
    assert alert["state"] == "firing" and alert["where"] == "region = 'east'"
    assert "where region = 'east'" in alert["scope"]
    assert alert["value"] == pytest.approx(sql_conversion(db, 3, "east"))
    trends = {t["kpi"]: t for t in doc["trends"]["kpis"]}
    assert "conversion" in trends
    for trend in trends.values():
        assert not [t for t in trend["thresholds"] if t["rule"] == "east_low"]
        assert not [m for m in trend["markers"] if m.get("rule") == "east_low"]
