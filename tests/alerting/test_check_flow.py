"""kpi check end to end on in-memory values: grouping, repeat, resolve, silences, inhibition,
templates, exit codes and dry runs. Notifications go through the real file sink plugin."""
from __future__ import annotations

import json
import sqlite3

import pytest

from kpiengine.alerting.check import run_check
from kpiengine.alerting.silences import add_silence, expire_silence
from kpiengine.alerting.state import connect, history_file

from alerting_helpers import FakeClock, make_project, series, week

REGIONS = [f"r{i:02d}" for i in range(20)]


def spec(tmp_path, rules: str, routes: str | None = None) -> str:
    routes = routes or """
routes:
  sinks: [everything]
  group_by: [rule]
  repeat_interval: 1d
  routes:
    - name: pager
      match: {severity: critical}
      sinks: [critical_log]
"""
    return f"""
sinks:
  everything: {{type: file, path: "{tmp_path}/all.jsonl"}}
  critical_log: {{type: file, path: "{tmp_path}/critical.jsonl"}}
{routes}
{rules}
"""


def lines(path):
    try:
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        return []


DROP_RULES = """
rules:
  conversion_drop:
    kpi: conversion
    type: change
    by: [region]
    critical: {below: -40%}
    warning: {below: -20%}
    message: "{kpi_label} in {region}: {value} vs {baseline} ({change}); {process_path}; {playbook}"
"""


def twenty_regions(drop_weeks=(2,), regions=REGIONS):
    rows = []
    for r in regions:
        vals = [0.08 if i in drop_weeks else 0.20 for i in range(5)]
        rows += series("conversion", vals, region=r)
    return rows


def test_twenty_regions_give_one_grouped_message_per_route(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES))
    res = run_check(project, period=week(2), fetch=fetch_rows(twenty_regions()), clock=clock, sleep=clock.sleep)
    assert res.exit_code() == 2
    crit = lines(tmp_path / "critical.jsonl")
    assert len(crit) == 1 and lines(tmp_path / "all.jsonl") == []
    n = crit[0]
    assert n["severity"] == "critical" and n["status"] == "firing" and n["route"] == "pager"
    assert sorted(i["dimensions"]["region"] for i in n["items"]) == REGIONS
    item = n["items"][0]
    assert item["value"] == pytest.approx(0.08) and item["baseline"] == pytest.approx(0.20)
    assert item["change"] == pytest.approx(-0.6)
    assert item["threshold"] == pytest.approx(0.20 * 0.6)  # the level the value crossed, in KPI units
    assert item["process_path"] == ["Sales system / 銷售體系", "Closing / 成交"]
    assert "轉化率 Conversion in r00: 8.0 % vs 20.0 % (-60.0 %)" in item["message"]
    assert "Call the regional lead" in item["message"]
    assert res.delivery.delivered and not res.delivery.pending


def test_repeat_only_after_interval_then_resolved(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES))
    fetch = fetch_rows(twenty_regions(drop_weeks=(2, 3)))
    run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    clock.t += 3600
    again = run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert again.notifications == []  # same period, an hour later: nothing new
    clock.t += 86400
    repeat = run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert len(repeat.notifications) == 1  # still firing after repeat_interval: one reminder
    clock.t += 3600
    # week 4 is back to normal against the average of week 3 (0.08): a rise, no drop -> resolved
    resolved = run_check(project, period=week(4), fetch=fetch, clock=clock, sleep=clock.sleep)
    crit = lines(tmp_path / "critical.jsonl")
    assert [n["status"] for n in crit] == ["firing", "firing", "resolved"]
    assert len(crit[-1]["items"]) == 20 and all(i["status"] == "resolved" for i in crit[-1]["items"])
    assert resolved.exit_code() == 0


def test_send_resolved_false(tmp_path, fetch_rows):
    clock = FakeClock()
    routes = "routes:\n  sinks: [everything]\n  send_resolved: false\n"
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES, routes))
    fetch = fetch_rows(twenty_regions(regions=["east"]))
    run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    run_check(project, period=week(3), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert [n["status"] for n in lines(tmp_path / "all.jsonl")] == ["firing"]


def test_silence_mutes_then_expiry_lets_it_through(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES))
    con = connect(history_file(project))
    s = add_silence(con, {"kpi": "conversion", "region": "east"}, 2 * 86400, "planned price test", now=clock.t)
    fetch = fetch_rows(twenty_regions(regions=["east", "west"], drop_weeks=(2, 3)))
    res = run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    [n] = lines(tmp_path / "critical.jsonl")
    assert [i["dimensions"]["region"] for i in n["items"]] == ["west"]
    east = next(a for a in res.alerts if a.state.dimensions == {"region": "east"})
    assert east.state.state == "firing" and east.silenced_by == s.id  # still tracked, just quiet
    assert expire_silence(con, s.id, now=clock.t + 60)
    con.close()
    clock.t += 120
    run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    crit = lines(tmp_path / "critical.jsonl")
    assert len(crit) == 2
    # east now goes out; west is listed again as part of the group's whole story
    assert sorted(i["dimensions"]["region"] for i in crit[1]["items"]) == ["east", "west"]


def test_silence_ends_by_itself(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES))
    con = connect(history_file(project))
    add_silence(con, {"region": "east"}, 3600, "deploy", now=clock.t)
    con.close()
    fetch = fetch_rows(twenty_regions(regions=["east"], drop_weeks=(2, 3)))
    assert run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep).notifications == []
    clock.t += 3601
    assert len(run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep).notifications) == 1


def test_inhibition_critical_hides_warning_on_same_kpi_and_dimensions(tmp_path, fetch_rows):
    clock = FakeClock()
    rules = """
rules:
  conversion_drop:
    kpi: conversion
    type: change
    by: [region]
    critical: {below: -40%}
  conversion_low:
    kpi: conversion
    by: [region]
    warning: {below: 15%}
"""
    project = make_project(tmp_path, spec(tmp_path, rules))
    rows = series("conversion", [0.20, 0.08], region="east") + series("conversion", [0.12, 0.11], region="west")
    res = run_check(project, period=week(1), fetch=fetch_rows(rows), clock=clock, sleep=clock.sleep)
    low_east = next(a for a in res.alerts if a.rule.name == "conversion_low" and a.state.dimensions["region"] == "east")
    assert low_east.state.state == "firing" and low_east.inhibited
    warnings = lines(tmp_path / "all.jsonl")
    assert len(warnings) == 1
    assert [(i["rule"], i["dimensions"]["region"]) for i in warnings[0]["items"]] == [("conversion_low", "west")]
    assert [(i["rule"], i["dimensions"]["region"]) for i in lines(tmp_path / "critical.jsonl")[0]["items"]] == \
        [("conversion_drop", "east")]


def test_broken_template_falls_back_to_plain_message(tmp_path, fetch_rows):
    clock = FakeClock()
    rules = """
rules:
  low:
    kpi: visits
    warning: {below: 50}
    message: "visits {value:.2f} is low"
"""
    project = make_project(tmp_path, spec(tmp_path, rules))
    res = run_check(project, period=week(0), fetch=fetch_rows(series("visits", [12])), clock=clock,
                    sleep=clock.sleep)
    [n] = lines(tmp_path / "all.jsonl")
    msg = n["items"][0]["message"]
    assert msg.startswith("拜訪量 Visits is 12") and "threshold 50" in msg
    assert any("template failed" in w for w in res.warnings)
    assert res.exit_code() == 1 and res.exit_code(warn_ok=True) == 0


def test_query_error_exits_3_and_keeps_state(tmp_path, fetch_rows):
    from kpiengine.errors import SourceError

    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES))
    good = fetch_rows(twenty_regions(regions=["east"], drop_weeks=(2, 3)))
    run_check(project, period=week(2), fetch=good, clock=clock, sleep=clock.sleep)

    def broken(*_a):
        raise SourceError("warehouse", "connection refused")

    res = run_check(project, period=week(3), fetch=broken, clock=clock, sleep=clock.sleep)
    assert res.exit_code() == 3 and "connection refused" in res.errors[0]
    east = next(a for a in res.alerts if a.state.dimensions == {"region": "east"})
    assert east.state.state == "firing"  # default on_error: keep_state
    assert res.notifications == []


def test_dry_run_changes_nothing(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path, DROP_RULES))
    fetch = fetch_rows(twenty_regions(regions=["east"]))
    dry = run_check(project, period=week(2), fetch=fetch, dry_run=True, clock=clock, sleep=clock.sleep)
    assert len(dry.notifications) == 1 and dry.delivery is None
    con = sqlite3.connect(history_file(project))
    assert con.execute("SELECT count(*) FROM alert_state").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM alert_outbox").fetchone()[0] == 0
    con.close()
    assert lines(tmp_path / "critical.jsonl") == []
    real = run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert len(real.notifications) == 1 and len(lines(tmp_path / "critical.jsonl")) == 1


def test_for_is_satisfied_from_history_on_first_run(tmp_path, fetch_rows):
    clock = FakeClock()
    rules = "rules:\n  low:\n    kpi: visits\n    for: 3\n    warning: {below: 50}\n"
    project = make_project(tmp_path, spec(tmp_path, rules))
    fetch = fetch_rows(series("visits", [80, 40, 40, 40]))
    res = run_check(project, period=week(3), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert res.alerts[0].state.state == "firing"  # weeks 1..3 were all low: the hold is over


def test_default_period_is_latest_complete_with_data(tmp_path, fetch_rows):
    clock = FakeClock()  # 2027-01-15
    rules = "rules:\n  low:\n    kpi: visits\n    warning: {below: 50}\n"
    project = make_project(tmp_path, spec(tmp_path, rules))
    res = run_check(project, fetch=fetch_rows(series("visits", [80, 40])), clock=clock, sleep=clock.sleep)
    assert res.periods["low"] == week(1)  # the data ends there, long before today
    assert res.alerts[0].state.state == "firing"


def test_explain_attaches_drivers_and_a_failing_explainer_never_blocks_the_alert(tmp_path, fetch_rows):
    clock = FakeClock()
    rules = DROP_RULES.replace("    by: [region]\n", "    by: [region]\n    explain: true\n", 1)
    project = make_project(tmp_path, spec(tmp_path, rules))
    fetch = fetch_rows(twenty_regions(regions=["east", "west"]))
    calls = []

    def explainer(rule, period):
        calls.append((rule.name, period))
        return "region east explains 50 % of it"

    run_check(project, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep, explainer=explainer)
    assert calls == [("conversion_drop", week(2))]  # once per rule, not per region
    [n] = lines(tmp_path / "critical.jsonl")
    assert "Why: region east explains 50 % of it" in n["text"]

    def broken(rule, period):
        raise RuntimeError("warehouse went away")

    project2 = make_project(tmp_path / "b", spec(tmp_path / "b", rules))
    (tmp_path / "b").mkdir(exist_ok=True)
    res = run_check(project2, period=week(2), fetch=fetch, clock=clock, sleep=clock.sleep, explainer=broken)
    assert len(res.notifications) == 1 and res.delivery.delivered
    assert any("could not explain the change: warehouse went away" in w for w in res.warnings)


def test_skipped_checks_are_caught_up_in_order(tmp_path, fetch_rows):
    clock = FakeClock()
    rules = "rules:\n  low:\n    kpi: visits\n    for: 2\n    warning: {below: 50}\n"
    project = make_project(tmp_path, spec(tmp_path, rules))
    fetch = fetch_rows(series("visits", [80, 80, 40, 40, 80, 80]))
    run_check(project, period=week(1), fetch=fetch, clock=clock, sleep=clock.sleep)
    # weeks 2..4 were never checked: they are replayed, so the firing in week 3 and the
    # resolve in week 4 are both recorded, in order
    res = run_check(project, period=week(4), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert res.alerts[0].state.state == "resolved"
    con = connect(history_file(project))
    events = [(r[0], r[1]) for r in con.execute("SELECT period, transition FROM alert_events ORDER BY id")]
    con.close()
    assert events == [(str(week(2)), "pending"), (str(week(3)), "firing"), (str(week(4)), "resolved")]
    # nothing was ever notified as firing on the route, so no "resolved" message either
    assert lines(tmp_path / "all.jsonl") == []


def test_removed_rules_are_forgotten(tmp_path, fetch_rows):
    clock = FakeClock()
    rules = "rules:\n  low:\n    kpi: visits\n    warning: {below: 50}\n"
    project = make_project(tmp_path, spec(tmp_path, rules))
    fetch = fetch_rows(series("visits", [40]))
    run_check(project, period=week(0), fetch=fetch, clock=clock, sleep=clock.sleep)
    project.sections["rules"] = {}
    res = run_check(project, period=week(0), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert res.alerts == [] and res.exit_code() == 0
    con = connect(history_file(project))
    assert con.execute("SELECT count(*) FROM alert_state").fetchone()[0] == 0
    con.close()
