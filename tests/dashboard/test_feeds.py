"""Where the views' inputs come from: history, alert state, root cause; each degrades with a reason."""
from __future__ import annotations

import json
import os

import pytest
from dash_testdata import VISITS, WEEKS, WON

from kpiengine.dashboard.alert_feed import load_alerts
from kpiengine.dashboard.collect import collect
from kpiengine.dashboard.history_feed import ValueLoader, history_file
from kpiengine.dashboard.options import parse_options
from kpiengine.dashboard.why_feed import explain
from kpiengine.engine import KpiValue, ResultSet
from kpiengine.loader import load_project

RULES = """
rules:
  conv_low:
    kpi: conversion
    grain: week
    by: [region]
    warning: {below: 12%}
  conv_target:
    kpi: conversion
    type: target
    grain: week
    warning: {below: 80%}
  visits_month:
    kpi: visits
    grain: month
    warning: {below: 10}
"""


@pytest.fixture
def project_with_rules(tmp_path):
    from dash_testdata import UNIT_SPEC

    (tmp_path / "spec.yml").write_text(UNIT_SPEC, encoding="utf-8")
    (tmp_path / "alerts.yml").write_text(RULES, encoding="utf-8")
    return load_project(tmp_path)


def test_why_splits_the_change_exactly_and_names_the_region(make_inputs):
    inputs = make_inputs(by="region", kpi="conversion")
    why, note = explain(inputs.project, inputs.options, inputs)
    assert note is None
    v0 = sum(WON[r][1] for r in WON) / sum(VISITS[r][1] for r in VISITS)
    v1 = sum(WON[r][2] for r in WON) / sum(VISITS[r][2] for r in VISITS)
    drivers = [c for c in why["contributions"] if c["kind"] == "driver"]
    segments = [c for c in why["contributions"] if c["kind"] == "segment"]
    # both decompositions are exactly additive: they add up to the change worked out by hand
    assert sum(c["value"] for c in drivers) == pytest.approx(v1 - v0, abs=1e-12)
    assert sum(c["value"] for c in segments) == pytest.approx(v1 - v0, abs=1e-12)
    assert [c["kpi"] for c in drivers] == ["deals_won", "visits"]
    assert segments[0]["name"] == "region east" and segments[0]["tone"] == "bad"
    # east's rate effect by hand: its average visit share times its rate change
    w0 = VISITS["east"][1] / sum(VISITS[r][1] for r in VISITS)
    w1 = VISITS["east"][2] / sum(VISITS[r][2] for r in VISITS)
    rate = (w0 + w1) / 2 * (WON["east"][2] / VISITS["east"][2] - WON["east"][1] / VISITS["east"][1])
    assert rate < segments[0]["value"] * 0.9  # mostly rate effect (the mix moved a little too)
    assert "region east alone moved it" in why["summary"]  # 102 % of the change: in words (test below)
    assert why["change_text"] == f"{(v1 - v0) * 100:+.1f} pp"


def test_why_picks_the_worst_explainable_mover_and_says_when_there_is_none(make_inputs):
    inputs = make_inputs(by="region")
    why, _ = explain(inputs.project, inputs.options, inputs)
    assert why["kpi"] in ("conversion", "revenue", "deals_won")
    first = make_inputs(by="region", period=WEEKS[0].isoformat())  # first week: nothing moved yet
    why, note = explain(first.project, first.options, first)
    assert why is None and "nothing to explain" in note
    first = make_inputs(by="region", period=WEEKS[0].isoformat(), kpi="conversion")
    why, note = explain(first.project, first.options, first)
    assert why is None and "two periods" in note


def test_alert_state_silences_markers_and_threshold_lines(project_with_rules):
    from kpiengine.alerting.machine import AlertState
    from kpiengine.alerting.silences import add_silence
    from kpiengine.alerting.state import AlertStore, history_file as alert_file

    project = project_with_rules
    snapshot, note = load_alerts(project, "week")
    assert not snapshot.available and "kpi check" in note
    assert not alert_file(project).exists()  # reading never creates the file

    store = AlertStore.open(alert_file(project))
    for region, severity in (("east", "warning"), ("west", "warning")):
        st = AlertState(rule="conv_low", key=f"region={region}", dimensions={"region": region}, state="firing",
                        severity=severity, since="2026-10-26", last_period="2026-10-26", value=0.0762)
        store.save(st, "firing")
    store.save(AlertState(rule="conv_target", key="", state="inactive", last_period="2026-10-26"), None)
    add_silence(store.con, {"region": "west"}, 3600, "west is being reorganised", created_by="ana")
    store.close()

    snapshot, note = load_alerts(project, "week")
    assert snapshot.available and note is None
    states = {r.dimensions["region"]: r for r in snapshot.active}
    assert set(states) == {"east", "west"}  # the inactive target alert is not listed
    assert not states["east"].silenced and states["west"].silenced
    assert states["east"].since == "2026-10-26" and states["east"].kpi == "conversion"
    assert sorted(m["dimensions"]["region"] for m in snapshot.fired) == ["east", "west"]
    assert snapshot.silences[0]["matchers"] == {"region": "west"}
    assert snapshot.silences[0]["comment"] == "west is being reorganised"
    lines = {(t.rule, t.op): t.value for t in snapshot.thresholds}
    # static floor 12 %; target rule: 80 % of the KPI's target 18 %; the monthly rule is not drawn on weeks
    assert lines == {("conv_low", "below"): pytest.approx(0.12), ("conv_target", "below"): pytest.approx(0.8 * 0.18)}


def test_values_come_from_history_when_a_run_stored_them(unit_project, tmp_path, monkeypatch):
    from kpiengine.run.history import HistoryStore

    monkeypatch.setenv("KPIENGINE_HISTORY", str(tmp_path / "h.db"))
    assert history_file(unit_project) is None
    rows = [KpiValue("visits", "week", w, {"region": "east"}, v) for w, v in zip(WEEKS, VISITS["east"])]
    HistoryStore.for_project(unit_project).record_run(
        unit_project, ResultSet("week", ["region"], None, None, ["visits"], rows))
    loaded = ValueLoader(unit_project, allow_engine=False).load(["visits", "conversion"], "week", ["region"], None, None)
    assert loaded.origin == "history"
    assert [v for _, v in loaded.table.series("visits", {"region": "east"})] == VISITS["east"]
    assert loaded.missing == ["conversion"]  # not stored, and this loader may not query the warehouse
    # KPIs that cannot be broken down by a dimension are not asked for it
    assert ValueLoader(unit_project, allow_engine=False).load(["churn"], "week", ["region"], None, None).origin == "none"


def test_a_project_without_history_or_warehouse_gives_explained_panels(unit_project, monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    inputs = collect(unit_project, parse_options(unit_project, {}))
    path = os.path.join(unit_project.folder, unit_project.history_path)
    assert not os.path.exists(path)  # the dashboard is read-only: it created nothing
    assert "values" in inputs.notes  # the :memory: warehouse has no tables: the engine's message is kept
    assert "kpi check" in inputs.notes["alerts"]
    assert inputs.notes["funnel"].startswith("the spec defines no funnel")


def test_why_labels_its_two_lists_colours_by_direction_and_words_offsetting_moves(make_inputs):
    """Issue 16 item 4: formula inputs and regions are two labelled lists, each adding up to the change
    alone; an input is coloured by its own move (more visits is good news) and its effect by the KPI's
    direction; a region that moved the KPI more than the whole change gets words, not "254 %"."""
    inputs = make_inputs(by="region", kpi="conversion")
    why, _ = explain(inputs.project, inputs.options, inputs)
    v0 = sum(WON[r][1] for r in WON) / sum(VISITS[r][1] for r in VISITS)  # 60 / 300
    v1 = sum(WON[r][2] for r in WON) / sum(VISITS[r][2] for r in VISITS)  # 50 / 315
    drivers, segments = why["groups"]
    assert (drivers["kind"], drivers["title"]) == ("driver", "By formula input (deals_won / visits)")
    assert (segments["kind"], segments["title"]) == ("segment", "By region")
    for group in (drivers, segments):
        assert sum(c["value"] for c in group["items"]) == pytest.approx(v1 - v0, abs=1e-12)
    visits = next(c for c in drivers["items"] if c["kpi"] == "visits")
    won = next(c for c in drivers["items"] if c["kpi"] == "deals_won")
    assert sum(VISITS[r][2] for r in VISITS) > sum(VISITS[r][1] for r in VISITS)  # visits rose ...
    assert visits["tone"] == "good" and visits["value"] < 0 and visits["effect_tone"] == "bad"  # ... and diluted it
    assert (won["tone"], won["effect_tone"]) == ("bad", "bad")
    assert visits["move"] == f"{(315 / 300 - 1) * 100:+.1f}%" and visits["detail"] == "300 → 315"
    # east alone moved conversion further down than the whole change; west moved it back up
    east = next(c for c in segments["items"] if c["name"] == "region east")
    west = next(c for c in segments["items"] if c["name"] == "region west")
    assert east["value"] / (v1 - v0) > 1 and west["value"] > 0 and west["tone"] == "good"
    assert "%" not in why["summary"].split("region east")[1].split(",")[0]  # no share above 100 %
    assert f"region east alone moved it by {east['value'] * 100:+.1f} pp" in why["summary"]
    assert f"the other values offset {(v1 - v0 - east['value']) * 100:+.1f} pp of that" in why["summary"]


def test_history_gives_the_latest_runs_value_per_period_and_keeps_older_periods(unit_project, tmp_path):
    """The one-pass read (issue 16 item 7) keeps the old self-join's meaning: per KPI, period and
    dimension values the latest run wins; a period only an older run stored stays."""
    import sqlite3

    from kpiengine.run.history import HistoryStore

    store = HistoryStore(tmp_path / "h.db")
    east, west = {"region": "east"}, {"region": "west"}
    first = [KpiValue("visits", "week", WEEKS[0], east, 1.0), KpiValue("visits", "week", WEEKS[1], east, 2.0),
             KpiValue("visits", "week", WEEKS[1], west, 3.0)]
    second = [KpiValue("visits", "week", WEEKS[1], east, 20.0), KpiValue("visits", "week", WEEKS[2], east, 30.0)]
    for rows in (first, second):
        store.record_run(unit_project, ResultSet("week", ["region"], None, None, ["visits"], rows))
    got = [(r.period_start, r.dimensions, r.value) for r in store.values(None, "week", ["region"])]
    assert got == [(WEEKS[0], east, 1.0), (WEEKS[1], east, 20.0), (WEEKS[1], west, 3.0), (WEEKS[2], east, 30.0)]
    # the same rows as plain SQL picks them: the value of the highest run_id per key
    con = sqlite3.connect(tmp_path / "h.db")
    expected = con.execute("SELECT period_start, dimensions, value FROM kpi_values v WHERE run_id = (SELECT max(run_id) "
                           "FROM kpi_values w WHERE w.kpi = v.kpi AND w.period_start = v.period_start AND "
                           "w.dimensions = v.dimensions AND w.grain = v.grain AND w.by_dims = v.by_dims) "
                           "ORDER BY period_start, dimensions").fetchall()
    con.close()
    assert [(p.isoformat(), d["region"], v) for p, d, v in got] == [(p, json.loads(d)["region"], v) for p, d, v in expected]
    assert [r.value for r in store.values(["visits"], "week", ["region"], start=WEEKS[1], end=WEEKS[2])] == [20.0, 3.0]


def test_a_contribution_that_rounds_to_nothing_has_no_sign():
    from kpiengine.dashboard.why_feed import contribution_text

    assert contribution_text(-0.00004, "percent") == "0.0 pp" and contribution_text(0.00004, "percent") == "0.0 pp"
    assert contribution_text(-0.028, "percent") == "-2.8 pp" and contribution_text(0.005, "percent") == "+0.5 pp"
    assert contribution_text(-0.2, "count") == "0" and contribution_text(-1_086_643.5, "currency") == "-1.1M"
