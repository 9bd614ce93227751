"""The alerting commands through the real click CLI (in process): check, alerts, silence, test, backtest."""
from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.testing import RecordingHTTPServer

from alerting_helpers import DROP_WEEK, MONDAY, build_mini_warehouse, write_mini_project


@pytest.fixture
def mini(tmp_path, monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    with RecordingHTTPServer() as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"))
        yield spec, server


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_dry_run_then_check_then_alerts(mini):
    spec, server = mini
    dry = kpi("check", "-s", spec, "--period", DROP_WEEK, "--dry-run")
    assert dry.exit_code == 2
    assert "would send 1 notification(s)" in dry.output and "region=east" in dry.output
    assert server.requests == []
    empty = kpi("alerts", "-s", spec)
    assert "no alert is pending or firing" in empty.output  # the dry run changed nothing

    real = kpi("check", "-s", spec, "--period", DROP_WEEK)
    assert real.exit_code == 2 and "delivered 1" in real.output
    assert len(server.requests) == 1

    table = kpi("alerts", "-s", spec)
    assert "conversion_drop" in table.output and "region=east" in table.output and "firing" in table.output
    data = json.loads(kpi("alerts", "-s", spec, "--format", "json").output)
    assert [(a["rule"], a["dimensions"], a["state"], a["severity"]) for a in data] == \
        [("conversion_drop", {"region": "east"}, "firing", "critical")]
    assert data[0]["value"] == pytest.approx(0.05) and data[0]["baseline"] == pytest.approx(0.2)
    outbox = json.loads(kpi("alerts", "-s", spec, "--outbox", "--format", "json").output)
    assert [r["status"] for r in outbox] == ["delivered"]
    events = json.loads(kpi("alerts", "-s", spec, "--events", "--format", "json").output)
    assert [e["transition"] for e in events] == ["firing"]


def test_silence_commands(mini):
    spec, server = mini
    added = kpi("silence", "add", "-s", spec, "--kpi", "conversion", "--region", "east", "--for", "2d",
                "--reason", "price test in east")
    assert added.exit_code == 0 and "silence 1 added" in added.output and "region=east" in added.output
    listed = kpi("silence", "list", "-s", spec)
    assert "kpi=conversion, region=east" in listed.output and "price test in east" in listed.output
    check = kpi("check", "-s", spec, "--period", DROP_WEEK)
    assert check.exit_code == 0  # the only firing alert is silenced
    assert server.requests == []
    assert kpi("silence", "expire", "-s", spec, "1").exit_code == 0
    assert "no active silence" in kpi("silence", "list", "-s", spec).output
    again = kpi("silence", "expire", "-s", spec, "1")
    assert again.exit_code != 0 and "no active silence with id 1" in again.output
    kpi("check", "-s", spec, "--period", DROP_WEEK)
    assert len(server.requests) == 1  # once the silence is gone, it is said


def test_silence_add_needs_reason_and_valid_duration(mini):
    spec, _server = mini
    r = kpi("silence", "add", "-s", spec, "--kpi", "conversion", "--for", "soon", "--reason", "x")
    assert r.exit_code == 2 and "is not a duration" in r.output
    r = kpi("silence", "add", "-s", spec, "--kpi", "conversion", "--for", "1h")
    assert r.exit_code == 2 and "--reason" in r.output


def test_check_exit_codes_for_spec_and_source_errors(mini, tmp_path):
    spec, _server = mini
    (spec / "alerts.yml").write_text((spec / "alerts.yml").read_text().replace("kpi: conversion", "kpi: convrsion"))
    bad = kpi("check", "-s", spec)
    assert bad.exit_code == 3 and "unknown KPI 'convrsion'" in bad.output and "did you mean 'conversion'" in bad.output
    (spec / "alerts.yml").write_text((spec / "alerts.yml").read_text().replace("kpi: convrsion", "kpi: conversion"))
    (tmp_path / "mini.duckdb").unlink()
    gone = kpi("check", "-s", spec, "--period", DROP_WEEK)
    assert gone.exit_code == 3 and "does not exist" in gone.output
    assert "Traceback" not in gone.output


def test_warn_ok(tmp_path, monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    with RecordingHTTPServer() as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"))
        text = (spec / "alerts.yml").read_text().replace("critical: {below: -40%}", "warning: {below: -40%}")
        (spec / "alerts.yml").write_text(text)
        assert kpi("check", "-s", spec, "--period", DROP_WEEK, "--no-send").exit_code == 1
        assert kpi("check", "-s", spec, "--period", DROP_WEEK, "--no-send", "--warn-ok").exit_code == 0


def test_kpi_test_reports_failures_with_locations(mini):
    spec, _server = mini
    (spec / "rules.test.yml").write_text(textwrap.dedent("""
        tests:
          - name: wrong on purpose
            start: 2026-01-05
            values:
              "conversion{region=east}": 0.2x3 0.05
              "visits{region=east}": 200x4
            expect:
              - at: 3
                firing: []
              - at: 2
                firing:
                  - {rule: conversion_drop, labels: {region: east}}
          - name: bad series
            start: 2026-01-05
            values:
              "conversion{region=east}": 0.2 lots
            expect:
              - {at: 0, firing: []}
    """))
    r = kpi("test", "-s", spec)
    assert r.exit_code == 1
    assert "FAIL" in r.output and "0 passed, 2 failed" in r.output
    assert "at 2026-01-26: firing: present but not expected: conversion_drop[critical]{region=east}" in r.output
    assert "at 2026-01-19: firing: expected but absent: region=east, rule=conversion_drop" in r.output
    assert "rules.test.yml:10:17: at 2026-01-26" in r.output  # points at the failing expectation
    assert "series token 'lots'" in r.output


def test_backtest_command(mini):
    spec, _server = mini
    r = kpi("backtest", "conversion_drop", "-s", spec, "--from", MONDAY, "--to", "2026-02-16")
    assert r.exit_code == 0, r.output
    assert "1 firing episode(s), 1 notification(s)" in r.output
    assert f"{DROP_WEEK}  still firing critical  region=east" in r.output
    r = kpi("backtest", "nope", "-s", spec, "--from", MONDAY, "--to", "2026-02-16")
    assert r.exit_code != 0 and "unknown rule(s): nope" in r.output
    r = kpi("backtest", "conversion_drop", "-s", spec, "--from", "2026-02-16", "--to", MONDAY)
    assert r.exit_code != 0 and "range is empty" in r.output


def test_validate_catches_a_breakdown_the_kpi_cannot_do(mini):
    spec, _server = mini
    (spec / "alerts.yml").write_text((spec / "alerts.yml").read_text().replace("by: [region]", "by: [regoin]"))
    r = kpi("validate", "-s", spec)
    assert r.exit_code != 0
    assert "rule 'conversion_drop': KPI 'conversion' cannot be broken down by 'regoin'" in r.output
    assert "did you mean 'region'?" in r.output and "alerts.yml:" in r.output


def test_baselines_come_from_history_when_the_warehouse_forgot_them(mini, tmp_path):
    import duckdb

    from kpiengine.alerting.check import run_check
    from kpiengine.loader import load_project

    spec, server = mini
    before = kpi("check", "-s", spec, "--period", "2026-02-02")  # week 4: quiet, values go to history
    assert before.exit_code == 0, before.output
    con = duckdb.connect(str(tmp_path / "mini.duckdb"))
    con.execute(f"DELETE FROM activities WHERE happened_at < DATE '{DROP_WEEK}'")  # keep only the last week
    con.execute(f"DELETE FROM deals WHERE closed_at < DATE '{DROP_WEEK}'")
    con.close()
    result = run_check(load_project(spec), period=DROP_WEEK)
    east = next(a for a in result.alerts if a.state.dimensions == {"region": "east"})
    assert east.state.state == "firing"
    assert east.state.baseline == pytest.approx(40 / 200)  # week 4's conversion, read back from history
    assert len(server.requests) == 1
