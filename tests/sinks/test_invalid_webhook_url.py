"""A webhook URL with CR/LF or a space is a permanent failure, and a located validation error (issue 13, item 6)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from click.testing import CliRunner

from kpiengine.alerting.outbox import Outbox, enqueue, outbox_rows
from kpiengine.alerting.routing import SinkSettings, build_sink
from kpiengine.alerting.state import connect
from kpiengine.cli import main
from kpiengine.errors import PermanentSinkError
from kpiengine.sinks import Notification
from kpiengine.testing import RecordingHTTPServer
from kpiengine_plugins.slack_sink import SlackSink
from kpiengine_plugins.webhook_sink import WebhookSink

BREAKS = ["\n", "\r\n", " ", "\t", "\u2028"]


def note() -> Notification:
    return Notification(idempotency_key="kpi-url-1", title="t", severity="critical", status="firing", text="x")


@pytest.mark.parametrize("breaker", BREAKS, ids=["lf", "crlf", "space", "tab", "u2028"])
def test_url_with_a_break_fails_for_good_and_goes_to_the_fallback(tmp_path, breaker):
    with RecordingHTTPServer() as server:
        bad = server.url_for("/hook") + breaker + ("tail" if breaker == " " else "")
        for make in (lambda: WebhookSink("hook", {"url": bad}), lambda: SlackSink("slack", {"webhook_url": bad})):
            with pytest.raises(PermanentSinkError) as err:
                make().send(note())
            assert "line breaks" in str(err.value) and "/hook" not in str(err.value)
        # below the option check, the HTTP helper refuses such a URL too, whoever calls it
        from kpiengine.http import post_json
        with pytest.raises(PermanentSinkError) as err:
            post_json(bad, {"x": 1}, sink="raw")
        assert "invalid URL" in str(err.value) and "line break" in str(err.value)
        con = connect(tmp_path / "h.db")
        sinks = {"hook": SinkSettings("hook", "webhook", {"url": bad}, fallback="backup",
                                      retry_initial=timedelta(seconds=0.05)),
                 "backup": SinkSettings("backup", "webhook", {"url": server.url_for("/backup")})}
        con.execute("BEGIN IMMEDIATE")
        enqueue(con, note(), "hook", time.time())
        con.execute("COMMIT")
        report = Outbox(con, sinks, build_sink).deliver(budget=5)
        rows = {r["sink"]: r for r in outbox_rows(con)}
        con.close()
        assert rows["hook"]["status"] == "failed" and rows["hook"]["attempts"] == 1  # not retried for 24 h
        assert "line breaks" in rows["hook"]["last_error"]
        assert rows["backup"]["status"] == "delivered" and len(report.failed) == 1
        assert [r.path for r in server.requests] == ["/backup"]


def test_url_with_a_space_is_a_located_validation_error(tmp_path):
    (tmp_path / "project.yml").write_text(
        "project: {name: t}\n"
        "sinks:\n"
        "  hook:\n"
        "    type: webhook\n"
        "    url: \"https://example.com/hooks/abc def\"\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "-s", str(tmp_path)])
    assert result.exit_code != 0
    assert "project.yml:5" in result.output, result.output
    assert "url" in result.output and "no spaces or line breaks" in result.output
    assert "abc def" not in result.output  # the secret is not printed
