"""Slack sink: the exact Block Kit message a Slack incoming webhook receives."""
from __future__ import annotations

import pytest

from kpiengine.errors import PermanentSinkError
from kpiengine.testing import Reply
from kpiengine_plugins.slack_sink import SlackSink

TOKEN = "pQ7rS8tU9vW0xY1zA2bC3dE4"
HOOK_PATH = f"/services/T0123ABCD/B0456EFGH/{TOKEN}"
# HTTP headers are ASCII: the key's 華東 travels percent-encoded as UTF-8
KEY_IN_HEADER = "route-default:conversion_drop:2026-01-05:%E8%8F%AF%E6%9D%B1"


def slack(server, **options):
    return SlackSink("team-slack", {"webhook_url": server.url_for(HOOK_PATH), "timeout": 1, **options})


def test_block_kit_message_shape(http_server, notification):
    slack(http_server).send(notification)
    (request,) = http_server.requests
    assert request.path == HOOK_PATH
    assert request.header("idempotency-key") == KEY_IN_HEADER
    headline = "🔴 CRITICAL: 轉化率下降 Conversion dropped"
    assert request.json() == {
        "text": headline,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "1 alert firing / 1 條告警"}},
            {"type": "section",
             "text": {"type": "mrkdwn",
                      "text": "🔴 *轉化率 Conversion (region=華東 · 2026-01-05)*\n轉化率下降 conversion dropped"},
             "fields": [
                 {"type": "mrkdwn", "text": "*KPI*\n轉化率 Conversion"},
                 {"type": "mrkdwn", "text": "*Value*\n12.5 %"},      # 0.125
                 {"type": "mrkdwn", "text": "*Baseline*\n15.0 %"},   # 0.15
                 {"type": "mrkdwn", "text": "*Change*\n-16.7 %"},    # (0.125 - 0.15) / 0.15
                 # Slack mrkdwn requires &, <, > escaped; Slack shows "&gt;" as ">"
                 {"type": "mrkdwn", "text": "*Process*\n銷售體系 Sales &gt; 成交 Closing"},
                 {"type": "mrkdwn", "text": "*Threshold*\n13.0 %"},
                 {"type": "mrkdwn", "text": "*Owner*\nsales@example.com"},
             ]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Playbook:* 檢查報價流程 Check the quote process"}]},
        ],
    }


def test_resolved_alert_and_mrkdwn_escaping(http_server, notification_factory, item_factory):
    item = item_factory(status="resolved", kpi_label="Win <rate> & co", playbook=None, message="")
    slack(http_server).send(notification_factory(items=[item], status="resolved", title="OK again"))
    blocks = http_server.requests[0].json()["blocks"]
    assert blocks[0]["text"]["text"] == "✅ RESOLVED: OK again"
    assert blocks[2]["text"]["text"] == "✅ *Win &lt;rate&gt; &amp; co (region=華東 · 2026-01-05)*"
    assert all(b["type"] != "context" for b in blocks)  # no playbook, no context block


def test_many_alerts_stay_within_slack_block_limit(http_server, notification_factory, item_factory):
    items = [item_factory(dimensions={"region": f"r{i}"}) for i in range(40)]
    slack(http_server).send(notification_factory(items=items))
    blocks = http_server.requests[0].json()["blocks"]
    assert len(blocks) <= 50
    assert blocks[-1]["elements"][0]["text"] == "… and 25 more alert(s)"  # 15 shown in full


@pytest.mark.parametrize("status, body", [(403, "invalid_token"), (404, "no_service"), (400, "invalid_payload"),
                                          (410, "channel_is_archived")])
def test_slack_refusals_are_permanent_and_keep_the_token_secret(http_server, notification, status, body):
    http_server.respond(Reply.error(status, body))
    with pytest.raises(PermanentSinkError) as err:
        slack(http_server).send(notification)
    message = str(err.value)
    assert body in message and f"HTTP {status}" in message
    assert TOKEN not in message and "sink 'team-slack'" in message
