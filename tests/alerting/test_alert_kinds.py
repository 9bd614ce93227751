"""Error and no-data alerts are alerts of their own; a silenced alert resolves without a word (issue 13, 8-9).

Values come from in-memory rows (as the engine returns them); notifications go
through the real file sink plugin and are read back from its JSON lines.
"""
from __future__ import annotations

import json

from kpiengine.alerting.check import run_check
from kpiengine.alerting.silences import add_silence
from kpiengine.alerting.state import connect, history_file
from kpiengine.errors import SourceError

from alerting_helpers import FakeClock, make_project, series, week


def lines(path):
    try:
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        return []


def spec(tmp_path, extra: str = "") -> str:
    return f"""
sinks:
  log: {{type: file, path: "{tmp_path}/log.jsonl"}}
routes:
  sinks: [log]
rules:
  conversion_drop:
    kpi: conversion
    type: change
    by: [region]
    critical: {{below: -40%}}
    message: "{{kpi_label}} in {{region}} fell to {{value}} ({{change}})"
{extra}
"""


def test_resolved_is_not_sent_while_silenced(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path))
    # east drops in week 4 and recovers in week 5
    fetch = fetch_rows(series("conversion", [0.2, 0.2, 0.2, 0.2, 0.08, 0.2], region="east"))
    run_check(project, period=week(4), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert [n["status"] for n in lines(tmp_path / "log.jsonl")] == ["firing"]
    con = connect(history_file(project))
    add_silence(con, {"kpi": "conversion", "region": "east"}, 7 * 86400, "price test", now=clock.t)
    con.close()
    clock.t += 3600
    res = run_check(project, period=week(5), fetch=fetch, clock=clock, sleep=clock.sleep)
    east = next(a for a in res.alerts if a.state.dimensions == {"region": "east"})
    assert east.state.state == "resolved" and east.silenced_by is not None
    assert [n["status"] for n in lines(tmp_path / "log.jsonl")] == ["firing"]  # nothing more was sent
    assert res.notifications == []
    clock.t += 8 * 86400  # the silence is over: the resolution was logged, nothing is owed
    run_check(project, period=week(5), fetch=fetch, clock=clock, sleep=clock.sleep)
    assert [n["status"] for n in lines(tmp_path / "log.jsonl")] == ["firing"]


def test_error_alert_names_the_error_not_last_weeks_value(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path).replace("    message:", "    on_error: alert\n    message:"))
    good = fetch_rows(series("conversion", [0.2, 0.2, 0.2, 0.2, 0.19], region="east"))
    run_check(project, period=week(4), fetch=good, clock=clock, sleep=clock.sleep)
    assert lines(tmp_path / "log.jsonl") == []

    def broken(*_a):
        raise SourceError("warehouse", "connection to server at 10.0.0.5 refused")

    clock.t += 3600
    res = run_check(project, fetch=broken, clock=clock, sleep=clock.sleep)
    assert res.exit_code() == 3
    [n] = lines(tmp_path / "log.jsonl")
    [item] = n["items"]
    assert (n["status"], item["reason"], item["severity"]) == ("firing", "error", "critical")
    assert item["value"] is None and item["baseline"] is None and item["change"] is None
    assert "10.0.0.5 refused" in item["error"] and "10.0.0.5 refused" in item["message"]
    assert "19.0 %" not in item["message"] and "could not be evaluated" in n["title"]
    east = next(a for a in res.alerts if a.state.dimensions == {"region": "east"})
    assert east.state.last_period == week(4).isoformat()  # nothing was judged
    # the same outage an hour later repeats nothing
    clock.t += 3600
    run_check(project, fetch=broken, clock=clock, sleep=clock.sleep)
    assert len(lines(tmp_path / "log.jsonl")) == 1


def test_no_data_alert_says_no_data(tmp_path, fetch_rows):
    clock = FakeClock()
    project = make_project(tmp_path, spec(tmp_path).replace("    message:", "    no_data: alert\n    message:"))
    rows = series("conversion", [0.2, 0.2, 0.2, 0.2, 0.2], region="east") + \
        series("conversion", [0.2, 0.2, 0.2, 0.2, 0.2, 0.2], region="west")
    fetch = fetch_rows(rows)
    run_check(project, period=week(4), fetch=fetch, clock=clock, sleep=clock.sleep)
    clock.t += 3600
    run_check(project, period=week(5), fetch=fetch, clock=clock, sleep=clock.sleep)  # east has no value
    [n] = lines(tmp_path / "log.jsonl")
    [item] = n["items"]
    assert item["dimensions"] == {"region": "east"} and item["reason"] == "no_data"
    assert item["message"].startswith("轉化率 Conversion: no data for " + week(5).isoformat())
    assert item["value"] is None and "no data" in n["title"]
    # east's data comes back with a drop: a breach is another alert than "no data", so it is announced
    rows += series("conversion", [0.05], start=5, region="east")
    clock.t += 3600
    run_check(project, period=week(5), fetch=fetch_rows(rows), clock=clock, sleep=clock.sleep)
    sent = lines(tmp_path / "log.jsonl")
    assert len(sent) == 2 and sent[1]["items"][0]["reason"] == "" and sent[1]["items"][0]["value"] == 0.05
