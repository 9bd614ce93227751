"""The fault matrix: (200, 429 with Retry-After, 500, hang, reset, refused, invalid URL) x (webhook, Slack, e-mail).

Every cell runs the real outbox against real loopback receivers (the recording
HTTP server, aiosmtpd, a silent TCP server, a closed port). The first run sees
the fault; the receiver then recovers and a second run delivers. Asserted:
delivered / pending / failed counts after each run, and that each notification
reaches the receiver under one idempotency key only (a receiver that
de-duplicates shows it once), with exactly one accepted delivery.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from kpiengine.alerting.outbox import Outbox, enqueue, outbox_rows
from kpiengine.alerting.routing import SinkSettings, build_sink
from kpiengine.alerting.state import connect
from kpiengine.sinks import AlertItem, Notification
from kpiengine.testing import RecordingHTTPServer, Reply, SilentTCPServer, SMTPTestServer, closed_port

FAULTS = ["200", "429", "500", "hang", "reset", "refused", "invalid_url"]
#: outbox status after the faulty run, and after the recovered run
EXPECTED = {"200": ("delivered", "delivered"), "429": ("pending", "delivered"), "500": ("pending", "delivered"),
            "hang": ("pending", "delivered"), "reset": ("pending", "delivered"),
            "refused": ("pending", "delivered"), "invalid_url": ("failed", "failed")}


def note() -> Notification:
    item = AlertItem(rule="conversion_drop", kpi="conversion", kpi_label="Conversion", severity="critical",
                     status="firing", period_start="2026-10-26", dimensions={"region": "east"}, value=0.085,
                     baseline=0.205, change=-0.585, unit="percent", message="conversion in east fell to 8.5 %")
    return Notification(idempotency_key="kpi-matrix-1", title="Conversion: 1 alert firing", severity="critical",
                        status="firing", text="1 firing", items=[item], route="default")


def settings(kind: str, target: str, port: int | None = None) -> SinkSettings:
    fast = {"retry_initial": timedelta(seconds=0.2), "retry_max": timedelta(seconds=0.2)}
    if kind == "email":
        return SinkSettings("s", "email", {"host": "127.0.0.1", "port": port, "from": "kpi@example.com",
                                           "to": "ops@example.com", "timeout": 0.5}, **fast)
    key = "url" if kind == "webhook" else "webhook_url"
    return SinkSettings("s", kind, {key: target, "timeout": 0.5, "connect_timeout": 0.5}, **fast)


def deliver(con, sinks, budget):
    report = Outbox(con, sinks, build_sink).deliver(budget=budget)
    return len(report.delivered), len(report.pending), len(report.failed)


def counts(status):
    return {"delivered": (1, 0, 0), "pending": (0, 1, 0), "failed": (0, 0, 1)}[status]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_http_fault_matrix(tmp_path, kind, fault):
    con = connect(tmp_path / "h.db")
    con.execute("BEGIN IMMEDIATE")
    enqueue(con, note(), "s", time.time())
    con.execute("COMMIT")
    first, then = EXPECTED[fault]
    with RecordingHTTPServer() as server, SilentTCPServer() as silent:
        url = server.url_for("/hook")
        replies = {"200": Reply.ok(), "429": Reply.rate_limited(retry_after=1), "500": Reply.error(500),
                   "reset": Reply.drop()}
        if fault in replies:
            server.respond(replies[fault])
        sinks = {"s": settings(kind, {"hang": silent.url + "/hook", "refused": f"http://127.0.0.1:{closed_port()}/h",
                                      "invalid_url": url + "\n"}.get(fault, url))}
        assert deliver(con, sinks, budget=2) == counts(first)
        time.sleep(0.7)  # a send left in flight at the deadline ends (0.5 s timeout) and frees its row
        # the receiver recovers (the hanging and refusing ones are replaced by the working server)
        server.respond(Reply.ok())
        if fault in ("hang", "refused"):
            sinks = {"s": settings(kind, url)}
        time.sleep(1.0 if fault == "429" else 0)  # Retry-After: 1 s is honoured, not skipped
        assert deliver(con, sinks, budget=3) == (counts(then) if first != then else (0, 0, 0))
        accepted = list(server.requests)
    [row] = outbox_rows(con)
    con.close()
    assert row["status"] == then
    keys = {r.header("Idempotency-Key") for r in accepted}
    if then == "delivered":
        assert keys == {"kpi-matrix-1"}  # one key: a de-duplicating receiver shows it once
        assert sum(1 for r in accepted) >= 1 and len(keys) == 1
    else:
        assert accepted == []  # an invalid URL never reaches anyone


SMTP_FAULTS = {"200": None, "429": "451 4.7.0 slow down", "500": "554 5.0.0 rejected",
               "reset": "disconnect"}


@pytest.mark.parametrize("fault", FAULTS)
def test_email_fault_matrix(tmp_path, fault):
    con = connect(tmp_path / "h.db")
    con.execute("BEGIN IMMEDIATE")
    enqueue(con, note(), "s", time.time())
    con.execute("COMMIT")
    # SMTP has no 429 or Retry-After: a 4xx is its "try later"; a 5xx is permanent
    first, then = {"500": ("failed", "failed")}.get(fault, EXPECTED[fault])
    with SMTPTestServer() as smtp, SilentTCPServer() as silent:
        if SMTP_FAULTS.get(fault):
            smtp.script(*[SMTP_FAULTS[fault]] * 50)
        port = {"hang": silent.port, "refused": closed_port()}.get(fault, smtp.port)
        sinks = {"s": settings("email", "", port)}
        if fault == "invalid_url":  # the e-mail form of a bad address: a host with a line break
            sinks["s"].options["host"] = "127.0.0.1\nevil"
        assert deliver(con, sinks, budget=2) == counts(first)
        time.sleep(0.7)  # a send left in flight at the deadline ends (0.5 s timeout) and frees its row
        smtp.clear_script()  # the server recovers
        sinks = {"s": settings("email", "", smtp.port)} if fault != "invalid_url" else sinks
        second = deliver(con, sinks, budget=3)
        assert second == (counts(then) if first != then else (0, 0, 0))
        messages = list(smtp.messages)
    [row] = outbox_rows(con)
    con.close()
    assert row["status"] == then
    if then == "delivered":
        assert len(messages) == 1  # accepted exactly once
        assert messages[0].message["X-Kpiengine-Idempotency-Key"] == "kpi-matrix-1"
    else:
        assert messages == []
