"""Fallback copies are never dropped silently (issue 13, item 7).

Real webhook receivers on loopback: failing sinks answer 400 (permanent), the
fallback is a recording server; what it received is counted and read back.
"""
from __future__ import annotations

import time

from kpiengine.alerting.outbox import Outbox, enqueue, outbox_rows
from kpiengine.alerting.routing import SinkSettings, build_sink
from kpiengine.alerting.state import connect
from kpiengine.sinks import Notification
from kpiengine.testing import RecordingHTTPServer, Reply


def note() -> Notification:
    return Notification(idempotency_key="kpi-fb-1", title="Conversion: 1 alert firing", severity="critical",
                        status="firing", text="1 firing")


def hook(name, url, **kw):
    return SinkSettings(name, "webhook", {"url": url, "timeout": 1, "connect_timeout": 1}, **kw)


def run(tmp_path, sinks, order):
    con = connect(tmp_path / "h.db")
    con.execute("BEGIN IMMEDIATE")
    for sink in order:
        enqueue(con, note(), sink, time.time())
    con.execute("COMMIT")
    report = Outbox(con, sinks, build_sink).deliver(budget=5)
    rows = outbox_rows(con)
    con.close()
    return report, rows


def test_two_failing_sinks_sharing_one_fallback(tmp_path):
    with RecordingHTTPServer(default=Reply.error(400, "bad")) as broken, RecordingHTTPServer() as backup:
        sinks = {"a": hook("a", broken.url_for("/a"), fallback="ops"),
                 "b": hook("b", broken.url_for("/b"), fallback="ops"),
                 "ops": hook("ops", backup.url_for("/ops"))}
        report, rows = run(tmp_path, sinks, ["a", "b"])
        texts = [r.json()["text"] for r in backup.requests]
    # both failures reached the fallback: none was dropped
    assert sum("delivery to sink 'a' failed" in t for t in texts) == 1
    assert sum("delivery to sink 'b' failed" in t for t in texts) == 1
    assert all("1 firing" in t for t in texts)
    assert {r["status"] for r in rows if r["sink"] in ("a", "b")} == {"failed"}
    assert all(r["status"] == "delivered" for r in rows if r["sink"] == "ops")


def test_slack_falling_back_to_an_email_already_on_the_route(tmp_path):
    for order in (["slack", "mail"], ["mail", "slack"]):  # the fallback's own copy still queued, or sent
        folder = tmp_path / "-".join(order)
        folder.mkdir()
        with RecordingHTTPServer(default=Reply.error(404, "no_service")) as slack, RecordingHTTPServer() as mail:
            sinks = {"slack": hook("slack", slack.url_for("/s"), fallback="mail"),
                     "mail": hook("mail", mail.url_for("/m"))}
            report, rows = run(folder, sinks, order)
            texts = [r.json()["text"] for r in mail.requests]
        assert any("delivery to sink 'slack' failed" in t for t in texts), (order, texts)
        assert all("1 firing" in t for t in texts) and 1 <= len(texts) <= 2
        said = " ".join(report.errors)
        assert "fallback sink 'mail'" in said and "NOT delivered" not in said
