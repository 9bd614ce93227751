"""Alert statistics of the review, read from a real alert state store that real checks wrote."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from kpiengine.alerting.acks import add_ack
from kpiengine.alerting.check import run_check
from kpiengine.alerting.episodes import alert_statistics, project_alert_statistics
from kpiengine.alerting.evaluate import dims_key
from kpiengine.alerting.rules import load_rules
from kpiengine.alerting.silences import add_silence
from kpiengine.alerting.state import AlertStore, history_file
from kpiengine.engine import KpiValue
from kpiengine.loader import load_project

SPEC = """
project: {name: episodes, history: hist.db}
sources: {wh: {type: duckdb, path: ":memory:"}}
models: {m: {source: wh, table: t, time: at, dimensions: {region: region}}}
kpis:
  won: {label: Won, model: m, aggregate: count}
  visits: {label: Visits, model: m, aggregate: count}
  conversion: {label: Conversion, formula: won / visits, unit: percent}
rules:
  conversion_floor: {kpi: conversion, by: [region], warning: {below: 15%}, critical: {below: 8%}}
sinks: {log: {type: file, path: log.jsonl}}
routes: {sinks: [log]}
"""
WEEKS = [date(2026, 9, 7) + timedelta(weeks=i) for i in range(7)]
EAST = [0.20, 0.10, 0.10, 0.20, 0.20, 0.05, 0.05]  # fires in week 2, resolves in week 4, fires again in week 6
DAY = 86400.0
T0 = 1_790_000_000.0


@pytest.fixture
def checked(tmp_path):
    (tmp_path / "spec.yml").write_text(SPEC, encoding="utf-8")
    project = load_project(tmp_path)
    rows = [KpiValue("conversion", "week", w, {"region": r}, v) for i, w in enumerate(WEEKS)
            for r, v in (("east", EAST[i]), ("west", 0.2))]

    def fetch(grain, by, kpis, start, end):
        return [r for r in rows if (start is None or r.period_start >= start) and (end is None or r.period_start < end)]

    store = AlertStore.open(history_file(project))
    try:
        for i, week in enumerate(WEEKS):
            now = T0 + i * DAY
            run_check(project, period=week, fetch=fetch, now=now, deliver=False)
            if i == 1:  # the first episode: someone acts on it
                add_ack(store.con, "conversion_floor", dims_key({"region": "east"}), week, "called the east lead",
                        "ann", now=now + 60)
            if i == 5:  # the second: someone silences it for a week
                add_silence(store.con, {"region": "east"}, 7 * DAY, "known: price change", now=now + 60)
    finally:
        store.close()
    return project


def test_fired_open_acted_on_and_silenced(checked):
    stats = project_alert_statistics(checked, WEEKS[0], WEEKS[-1] + timedelta(weeks=1), now=T0 + 10 * DAY)
    s = stats["conversion"]
    assert s.rules == ["conversion_floor"]
    assert [(e.fired_period, e.resolved_period, e.severity) for e in s.episodes] == [
        (WEEKS[1], WEEKS[3], "warning"), (WEEKS[5], None, "critical")]
    assert (s.fired, s.critical, s.still_open, s.acted_on, s.silenced) == (2, 1, 1, 1, 1)
    assert [e.acted_on for e in s.episodes] == [True, False]
    assert [e.silenced for e in s.episodes] == [False, True]
    assert s.mean_open_periods == 2  # fired for 2026-09-14, resolved for 2026-09-28
    assert s.mean_open_hours == pytest.approx(48.0)  # the checks ran a day apart


def test_the_window_counts_episodes_that_fired_in_it(checked):
    con = AlertStore.open(history_file(checked)).con
    rules = load_rules(checked)
    later = alert_statistics(con, rules, WEEKS[4], WEEKS[-1] + timedelta(weeks=1), now=T0 + 10 * DAY)["conversion"]
    assert [e.fired_period for e in later.episodes] == [WEEKS[5]]
    earlier = alert_statistics(con, rules, WEEKS[0], WEEKS[4], now=T0 + 10 * DAY)["conversion"]
    assert (earlier.fired, earlier.still_open) == (1, 0)
    con.close()


def test_without_a_history_file_the_statistics_are_empty(tmp_path):
    (tmp_path / "spec.yml").write_text(SPEC, encoding="utf-8")
    project = load_project(tmp_path)
    stats = project_alert_statistics(project, WEEKS[0], WEEKS[-1])
    assert stats["conversion"].fired == 0 and not history_file(project).exists()
