"""Issue 13, item 16: what people read. `kpi alerts --events/--outbox` in the project time zone and
the KPI's unit; Slack's top-level text escaped; webhook URL paths redacted in errors and the outbox.
Real DuckDB warehouse, real CLI, real loopback HTTP receivers."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.testing import RecordingHTTPServer, Reply

from rate_warehouse import build_rate_warehouse, week, write_rate_project


@pytest.fixture(autouse=True)
def _own_history(monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


RULE = """
rules:
  conversion_low:
    kpi: conversion
    by: [region]
    warning: {below: 12%}
    title: "Low conversion in {region}"
"""


def project(tmp_path, regions, sinks: str, tz="UTC"):
    db = tmp_path / "w.duckdb"
    build_rate_warehouse(db, regions)
    return write_rate_project(tmp_path / "spec", db, f"{sinks}\nroutes:\n  sinks: [out]\n{RULE}", timezone=tz)


def test_events_and_outbox_in_the_project_time_zone_and_unit(tmp_path):
    spec = project(tmp_path, {"east": [(100, 4)]},
                   f'sinks:\n  out: {{type: file, path: "{tmp_path}/out.jsonl"}}', tz="America/New_York")
    assert kpi("check", "-s", spec, "--period", week(0)).exit_code == 1
    con = sqlite3.connect(spec / ".kpiengine" / "history.db")
    at, value = con.execute("SELECT at, value FROM alert_events").fetchone()
    created, delivered = con.execute("SELECT created_at, delivered_at FROM alert_outbox").fetchone()
    con.close()
    ny = ZoneInfo("America/New_York")
    local = lambda t: datetime.fromtimestamp(t, timezone.utc).astimezone(ny).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    assert value == pytest.approx(0.04)  # 4 won of 100 visits

    events = kpi("alerts", "-s", spec, "--events").output
    assert local(at) in events and "4.0 %" in events and "region=east" in events
    assert str(at) not in events and "0.04" not in events  # no epoch float, no raw fraction
    as_json = json.loads(kpi("alerts", "-s", spec, "--events", "--format", "json").output)
    offset = datetime.fromtimestamp(at, ny).strftime("%z")
    assert as_json[0]["at"] == local(at) + f"{offset[:3]}:{offset[3:]}"  # ISO 8601 with the offset
    assert as_json[0]["value"] == "4.0 %" and as_json[0]["value_raw"] == pytest.approx(0.04)

    outbox = kpi("alerts", "-s", spec, "--outbox").output
    assert local(created) in outbox and local(delivered) in outbox and str(created) not in outbox


def test_slack_top_level_text_is_escaped(tmp_path):
    region = "<!channel> & <b>"
    with RecordingHTTPServer() as server:
        spec = project(tmp_path, {region: [(100, 4)]},
                       f'sinks:\n  out: {{type: slack, webhook_url: "{server.url_for("/slack")}"}}')
        assert kpi("check", "-s", spec, "--period", week(0)).exit_code == 1
        (req,) = server.requests
    body = req.json()
    assert "<!channel>" not in body["text"] and "<b>" not in body["text"]
    assert "Low conversion in &lt;!channel&gt; &amp; &lt;b&gt;" in body["text"]
    mrkdwn = []  # every mrkdwn text in the blocks (the header is plain_text: Slack does not parse it)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                mrkdwn.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(body["blocks"])
    assert mrkdwn and not any("<!channel>" in t for t in mrkdwn)


def test_webhook_url_path_is_redacted_in_errors_and_the_outbox(tmp_path):
    token = "lowercasetoken"  # reads like a word: the old rule kept such segments
    with RecordingHTTPServer(default=Reply.error(404, "no such hook")) as server:
        url = server.url_for(f"/hooks/{token}")
        spec = project(tmp_path, {"east": [(100, 4)]}, f'sinks:\n  out: {{type: webhook, url: "{url}"}}')
        res = kpi("check", "-s", spec, "--period", week(0))
        assert len(server.requests) == 1
        port = server.port
    assert token not in res.output
    con = sqlite3.connect(spec / ".kpiengine" / "history.db")
    (last_error,) = con.execute("SELECT last_error FROM alert_outbox").fetchone()
    con.close()
    assert token not in last_error and "hooks" not in last_error
    assert f"127.0.0.1:{port}/***/***" in last_error
    assert token not in kpi("alerts", "-s", spec, "--outbox", "--format", "json").output
