"""TeamsSink against kpiengine's recording HTTP server: payload shape and error mapping."""
from __future__ import annotations

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.sinks import AlertItem, Notification
from kpiengine.testing import RecordingHTTPServer, Reply, closed_port
from kpiengine_teams import TeamsSink

TOKEN_PATH = "/webhookb2/0a1b2c3d@4e5f/IncomingWebhook/9f8e7d6c5b4a/1a2b3c4d"


@pytest.fixture
def notification():
    item = AlertItem(rule="win_rate_drop", kpi="win_rate", kpi_label="贏單率 Win rate", severity="warning",
                     status="firing", period_start="2026-02-02", dimensions={"region": "華南"},
                     value=0.2, baseline=0.25, change=-0.2, unit="percent",
                     process_path=["Sales", "Closing"], playbook="Review lost deals")
    return Notification(idempotency_key="k-1", title="Win rate dropped", severity="warning", status="firing",
                        text="", items=[item])


@pytest.fixture
def server():
    with RecordingHTTPServer(default=Reply(202)) as srv:
        yield srv


def sink(server):
    return TeamsSink("teams", {"webhook_url": server.url_for(TOKEN_PATH), "timeout": 0.5})


def test_adaptive_card_payload(server, notification):
    sink(server).send(notification)
    body = server.requests[0].json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "🟠 WARNING: Win rate dropped"
    assert card["body"][1]["text"] == "🟠 贏單率 Win rate (region=華南 · 2026-02-02)"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Value"] == "20.0 %" and facts["Baseline"] == "25.0 %" and facts["Change"] == "-20.0 %"
    assert facts["Process"] == "Sales > Closing"


def test_errors_are_typed_and_secret_free(server, notification):
    server.script(Reply.rate_limited(12), Reply.error(500), Reply.hang_for(3), Reply.error(400, "bad card"),
                  Reply.ok("Microsoft Teams endpoint returned HTTP error 429 with ContextId ..."))
    s = sink(server)
    for expected in (RetryableSinkError, RetryableSinkError, RetryableSinkError, PermanentSinkError,
                     RetryableSinkError):
        with pytest.raises(expected) as err:
            s.send(notification)
        assert "9f8e7d6c5b4a" not in str(err.value)
    with pytest.raises(RetryableSinkError, match="connection refused"):
        TeamsSink("teams", {"webhook_url": f"http://127.0.0.1:{closed_port()}{TOKEN_PATH}"}).send(notification)
