"""Matchers (=, !=, =~, !~) in routes and silences, configurable inhibition rules and time intervals
(issue 13, "What an Alertmanager or Grafana user expects"). Real DuckDB warehouse, real engine and
history, the real file sink; what is expected is worked out by hand from the planted counts."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from kpiengine.alerting.check import run_check
from kpiengine.alerting.matchers import MatcherError, parse_matcher
from kpiengine.cli import main
from kpiengine.errors import SpecError
from kpiengine.loader import load_project

from alerting_helpers import FakeClock
from rate_warehouse import build_rate_warehouse, file_lines, week, write_rate_project

# conversion in week 0: east 4 %, west 10 %, northeast 10 %, south 20 % (100 visits each)
REGIONS = {"east": [(100, 4)], "west": [(100, 10)], "northeast": [(100, 10)], "south": [(100, 20)]}
RULES = """
rules:
  conversion_low:
    kpi: conversion
    by: [region]
    critical: {below: 5%}
    warning: {below: 12%}
    labels: {team: sales}
  visits_low:
    kpi: visits
    by: [region]
    warning: {below: 150}
"""


@pytest.fixture(autouse=True)
def _own_history(monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def make(tmp_path, routes: str, extra: str = "", tz: str = "UTC", rules: str = RULES):
    db = tmp_path / "w.duckdb"
    build_rate_warehouse(db, REGIONS)
    alerts = f"""
sinks:
  root_log: {{type: file, path: "{tmp_path}/root.jsonl"}}
  a_log: {{type: file, path: "{tmp_path}/a.jsonl"}}
  b_log: {{type: file, path: "{tmp_path}/b.jsonl"}}
{routes}
{extra}
{rules}
"""
    return write_rate_project(tmp_path / "spec", db, alerts, timezone=tz)


def sent(tmp_path, name):
    """(rule, region, severity) of every firing item the file sink received."""
    return sorted((i["rule"], i["dimensions"]["region"], i["severity"])
                  for n in file_lines(tmp_path / f"{name}.jsonl") for i in n["items"] if i["status"] == "firing")


def check(folder, t: float = 1_800_000_000.0):
    clock = FakeClock(t)
    return run_check(load_project(folder), period=week(0), clock=clock, sleep=clock.sleep)


# -- the matcher language ---------------------------------------------------------------------

def test_matcher_semantics_are_alertmanagers():
    labels = {"region": "northeast", "team": "sales"}
    assert not parse_matcher('region=~"east"').matches(labels)  # anchored
    assert parse_matcher('region=~".*east"').matches(labels)
    assert parse_matcher("region!~east|west").matches(labels)
    assert parse_matcher("owner!=bob").matches(labels)  # a missing label is ""
    assert parse_matcher('owner=""').matches(labels)
    assert not parse_matcher("owner=~.+").matches(labels)
    assert parse_matcher('team = "sales"').matches(labels)
    assert parse_matcher(r'team="sa\"les"').value == 'sa"les'
    with pytest.raises(MatcherError, match="not a regular expression"):
        parse_matcher("region=~(east")
    with pytest.raises(MatcherError, match="cannot read matcher"):
        parse_matcher("region~east")


def test_route_matchers_regex_and_negation(tmp_path):
    routes = """
routes:
  sinks: [root_log]
  routes:
    - name: coasts
      matchers: ['region=~"east|west"', 'severity!=critical']
      sinks: [a_log]
    - name: not_sales
      match_re: {rule: "visits_.*"}
      matchers: ["region!~north.*"]
      sinks: [b_log]
"""
    check(make(tmp_path, routes))
    # firing: conversion_low east (critical), west + northeast (warning); visits_low everywhere (100 < 150)
    # coasts takes non-critical alerts in exactly east or west (northeast is not "east": anchored)
    assert sent(tmp_path, "a") == [("conversion_low", "west", "warning"), ("visits_low", "east", "warning"),
                                   ("visits_low", "west", "warning")]
    # not_sales: visits_* outside north*; east and west went to coasts first (no continue)
    assert sent(tmp_path, "b") == [("visits_low", "south", "warning")]
    assert sent(tmp_path, "root") == [("conversion_low", "east", "critical"),
                                      ("conversion_low", "northeast", "warning"),
                                      ("visits_low", "northeast", "warning")]


def test_bad_matchers_and_unknown_intervals_are_located_errors(tmp_path):
    routes = """
routes:
  sinks: [root_log]
  routes:
    - matchers: ['region=~"(east"']
      sinks: [a_log]
    - match: {team: sales}
      mute_time_intervals: [nigths]
      sinks: [b_log]
"""
    extra = """
time_intervals:
  nights:
    - times: [{start_time: "20:00", end_time: "24:00"}]
  weekends:
    - weekdays: [saturday, sundy]
"""
    folder = make(tmp_path, routes, extra)
    with pytest.raises(SpecError) as err:
        load_project(folder)
    text = str(err.value)
    lines = (folder / "alerts.yml").read_text().splitlines()
    at = {k: next(i + 1 for i, t in enumerate(lines) if k in t) for k in ("(east", "nigths", "sundy")}
    assert f"alerts.yml:{at['(east']}" in text and "not a regular expression" in text
    assert f"alerts.yml:{at['nigths']}" in text and "did you mean 'nights'?" in text
    assert f"alerts.yml:{at['sundy']}" in text and "'sundy' is not one of monday" in text


# -- silences -------------------------------------------------------------------------------------

def test_silence_with_regex_and_negative_matchers(tmp_path):
    folder = make(tmp_path, "routes:\n  sinks: [root_log]\n")
    out = kpi("silence", "add", "-s", folder, "--match", 'region=~"east|west"', "--match", "rule!=visits_low",
              "--for", "2d", "--reason", "price test on the coasts")
    assert out.exit_code == 0, out.output
    assert 'region=~"east|west"' in out.output and 'rule!="visits_low"' in out.output
    listed = kpi("silence", "list", "-s", folder)
    assert 'region=~"east|west"' in listed.output
    import time
    check(folder, time.time())
    # silenced: conversion_low in exactly east and west; not northeast (anchored), not visits_low
    assert sent(tmp_path, "root") == [("conversion_low", "northeast", "warning"),
                                      ("visits_low", "east", "warning"), ("visits_low", "northeast", "warning"),
                                      ("visits_low", "south", "warning"), ("visits_low", "west", "warning")]


@pytest.mark.parametrize("args, said", [
    (["--kpi", "convrsion"], "unknown kpi 'convrsion'; did you mean 'conversion'?"),
    (["--rule", "conversion_lo"], "unknown rule 'conversion_lo'; did you mean 'conversion_low'?"),
    (["--regoin", "east"], "no alert has the label 'regoin'; did you mean 'region'?"),
    (["--match", "tem=sales"], "did you mean 'team'?"),
])
def test_silence_add_refuses_unknown_names(tmp_path, args, said):
    folder = make(tmp_path, "routes:\n  sinks: [root_log]\n")
    out = kpi("silence", "add", "-s", folder, *args, "--for", "1h", "--reason", "typo")
    assert out.exit_code != 0 and said in out.output
    assert "no active silence" in kpi("silence", "list", "-s", folder).output


# -- inhibition rules -----------------------------------------------------------------------------

def test_configured_inhibition_across_kpis_with_equal_labels(tmp_path):
    extra = """
inhibit_rules:
  - source_matchers: ['severity="critical"', "kpi=conversion"]
    target_matchers: ["severity=~warning|info"]
    equal: [region]
"""
    res = check(make(tmp_path, "routes:\n  sinks: [root_log]\n", extra))
    hidden = sorted((a.rule.name, a.state.dimensions["region"]) for a in res.alerts if a.inhibited)
    # the critical conversion alert in east hides east's visits warning (another KPI); no other region
    # has a critical source
    assert hidden == [("visits_low", "east")]
    assert ("visits_low", "east", "warning") not in sent(tmp_path, "root")
    assert ("visits_low", "west", "warning") in sent(tmp_path, "root")


def test_inhibition_defaults_to_the_builtin_rule_and_an_empty_list_turns_it_off(tmp_path):
    rules = RULES + """
  conversion_floor:
    kpi: conversion
    by: [region]
    warning: {below: 6%}
"""
    res = check(make(tmp_path / "a", "routes:\n  sinks: [root_log]\n", rules=rules))
    # built in: east's critical conversion_low hides east's conversion_floor warning (same KPI, dims)
    assert sorted((a.rule.name, a.state.dimensions["region"]) for a in res.alerts if a.inhibited) == \
        [("conversion_floor", "east")]
    res = check(make(tmp_path / "b", "routes:\n  sinks: [root_log]\n", "inhibit_rules: []", rules=rules))
    assert [a for a in res.alerts if a.inhibited] == []


# -- time intervals -------------------------------------------------------------------------------

def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_mute_and_active_intervals_in_the_project_time_zone(tmp_path):
    routes = """
routes:
  sinks: [root_log]
  routes:
    - match: {rule: conversion_low}
      sinks: [a_log]
      mute_time_intervals: [nights]
    - match: {rule: visits_low}
      sinks: [b_log]
      active_time_intervals: [office_hours]
"""
    extra = """
time_intervals:
  nights:
    - times: [{start_time: "00:00", end_time: "08:00"}, {start_time: "20:00", end_time: "24:00"}]
  office_hours:
    - weekdays: ["monday:friday"]
      times: [{start_time: "09:00", end_time: "17:00"}]
"""
    folder = make(tmp_path, routes, extra, tz="Asia/Shanghai")  # UTC+8, no daylight saving
    # Friday 2027-01-15 14:00 UTC is 22:00 in Shanghai: night (muted) and after office hours
    res = check(folder, ts("2027-01-15T14:00:00"))
    assert sent(tmp_path, "a") == [] and sent(tmp_path, "b") == []
    assert any(v.muted_on for v in res.alerts)
    # Saturday 01:30 UTC is 09:30 in Shanghai: day (not muted) but a weekend (not active)
    check(folder, ts("2027-01-16T01:30:00"))
    assert [r for r, _reg, _s in sent(tmp_path, "a")] == ["conversion_low"] * 3
    assert sent(tmp_path, "b") == []
    # Monday 2027-01-18 02:00 UTC is 10:00 in Shanghai: office hours; what was held on b goes out
    check(folder, ts("2027-01-18T02:00:00"))
    assert [r for r, _reg, _s in sent(tmp_path, "b")] == ["visits_low"] * 4
    assert len(sent(tmp_path, "a")) == 6  # a's reminder: 48 h since Saturday > repeat_interval 24 h
    # two hours later nothing is due on either route
    check(folder, ts("2027-01-18T04:00:00"))
    assert len(sent(tmp_path, "a")) == 6 and len(sent(tmp_path, "b")) == 4


def test_inhibition_in_alertmanagers_older_form_and_a_rule_without_targets(tmp_path):
    extra = """
inhibit_rules:
  - source_match: {severity: critical}
    target_match: {rule: visits_low}
    equal: [region]
"""
    res = check(make(tmp_path / "ok", "routes:\n  sinks: [root_log]\n", extra))
    assert sorted((a.rule.name, a.state.dimensions["region"]) for a in res.alerts if a.inhibited) == \
        [("visits_low", "east")]
    folder = make(tmp_path / "bad", "routes:\n  sinks: [root_log]\n",
                  "inhibit_rules:\n  - source_matchers: ['severity=critical']\n    equal: [region]\n")
    with pytest.raises(SpecError, match=r"alerts.yml:\d+:\d+.*inhibit rule 1: `target_matchers` is required"):
        load_project(folder)
