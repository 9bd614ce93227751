"""Issue 13: flap detection. An alert that changes state more than N times in M periods is marked
flapping and its notifications are held (real DuckDB warehouse, real engine, real file sink)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from kpiengine.alerting.check import run_check
from kpiengine.cli import main
from kpiengine.errors import SpecError
from kpiengine.loader import load_project

from alerting_helpers import FakeClock
from rate_warehouse import build_rate_warehouse, file_lines, week, write_rate_project

WEEK = 604800.0


@pytest.fixture(autouse=True)
def _own_history(monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)


def spec(tmp_path, counts, flapping="{changes: 3, periods: 6}"):
    db = tmp_path / "w.duckdb"
    build_rate_warehouse(db, {"east": counts})
    return write_rate_project(tmp_path / "spec", db, f"""
sinks:
  log: {{type: file, path: "{tmp_path}/sent.jsonl"}}
routes:
  sinks: [log]
rules:
  conversion_low:
    kpi: conversion
    by: [region]
    warning: {{below: 12%}}
    flapping: {flapping}
""")


def test_flapping_alert_is_held_until_it_calms_down(tmp_path):
    # conversion 10 %, 15 %, 10 %, 15 %, then 10 % for good (100 visits a week)
    rates = [10, 15, 10, 15, 10, 10, 10, 10]
    folder = spec(tmp_path, [(100, r) for r in rates])
    project = load_project(folder)
    flapping = []
    for i in range(len(rates)):
        clock = FakeClock(1_900_000_000.0 + i * WEEK)
        res = run_check(project, period=week(i), clock=clock, sleep=clock.sleep)
        (view,) = res.alerts
        flapping.append(view.state.flapping)
    # changes (firing/resolved) at weeks 0, 1, 2, 3, 4. Within the last 6 weeks, week 3 counts 4 (> 3),
    # week 4 counts 5, week 5 5, week 6 4 (weeks 1-4), week 7 3 (weeks 2-4): calm again.
    assert flapping == [False, False, False, True, True, True, True, False]
    sent = [(n["status"], n["items"][0]["period_start"]) for n in file_lines(tmp_path / "sent.jsonl")]
    # sent: fired, resolved, fired again; week 3's resolve and week 4's re-fire are held; week 7 says
    # where it stands (still firing; a week is past the 24 h repeat interval)
    assert sent == [("firing", week(0).isoformat()), ("resolved", week(1).isoformat()),
                    ("firing", week(2).isoformat()), ("firing", week(7).isoformat())]
    table = CliRunner().invoke(main, ["alerts", "-s", str(folder)]).output
    assert "flapping" not in table  # calm at the end


def test_rechecking_a_period_does_not_count_twice(tmp_path):
    folder = spec(tmp_path, [(100, r) for r in (10, 15, 10)])
    project = load_project(folder)
    for i in (0, 1, 1, 1, 2, 2):
        clock = FakeClock(1_900_000_000.0 + i * WEEK)
        res = run_check(project, period=week(i), clock=clock, sleep=clock.sleep)
    assert res.alerts[0].state.changes == [week(0).isoformat(), week(1).isoformat(), week(2).isoformat()]
    assert not res.alerts[0].state.flapping


@pytest.mark.parametrize("bad, said", [("{changes: 3}", "needs `changes` and `periods`"),
                                       ("{changes: 6, periods: 6}", "can never happen in 6 periods"),
                                       ("{changes: 0, periods: 6}", "whole number >= 1")])
def test_bad_flapping_settings_are_located_errors(tmp_path, bad, said):
    folder = spec(tmp_path, [(100, 10)], flapping=bad)
    with pytest.raises(SpecError, match="alerts.yml:") as err:
        load_project(folder)
    assert said in str(err.value)
