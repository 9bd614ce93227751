"""Feishu / Lark sink: card and post bodies, the documented signature, and JSON error codes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.testing import Reply
from kpiengine_plugins.feishu_sink import FeishuSink

HOOK = "/open-apis/bot/v2/hook/8d2f6c1e-4b3a-4e5f-9a8b-7c6d5e4f3a2b"
SECRET = "fsk-Qm3nB7vX1zL9"
HEADLINE = "🔴 CRITICAL: 轉化率下降 Conversion dropped"


def feishu(server, **options):
    return FeishuSink("lark", {"webhook_url": server.url_for(HOOK), "timeout": 1, **options})


def _short(label, value):
    return {"is_short": True, "text": {"tag": "lark_md", "content": f"**{label}**\n{value}"}}


def test_interactive_card_shape(http_server, notification):
    http_server.respond(Reply.json({"code": 0, "msg": "success", "data": {}}))
    feishu(http_server).send(notification)
    body = http_server.requests[0].json()
    assert "sign" not in body and "timestamp" not in body  # no secret configured
    assert body == {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": HEADLINE}, "template": "red"},
        "elements": [
            {"tag": "div", "text": {"tag": "plain_text", "content": "1 alert firing / 1 條告警"}},
            {"tag": "div",
             "text": {"tag": "lark_md",
                      "content": "**🔴 轉化率 Conversion (region=華東 · 2026-01-05)**\n轉化率下降 conversion dropped"},
             "fields": [_short("KPI", "轉化率 Conversion"), _short("Value", "12.5 %"), _short("Baseline", "15.0 %"),
                        _short("Change", "-16.7 %"), _short("Threshold", "13.0 %"),
                        _short("Dimensions", "region=華東"), _short("Period", "2026-01-05"),
                        _short("Process", "銷售體系 Sales > 成交 Closing"), _short("Owner", "sales@example.com")]},
            {"tag": "note", "elements": [{"tag": "plain_text", "content": "Playbook: 檢查報價流程 Check the quote process"}]},
        ]}}


def test_signature_follows_feishu_scheme(http_server, notification):
    http_server.respond(Reply.json({"code": 0, "msg": "success"}))
    feishu(http_server, secret=SECRET).send(notification)
    body = http_server.requests[0].json()
    timestamp = body["timestamp"]
    assert isinstance(timestamp, str) and abs(int(timestamp) - time.time()) < 10  # seconds, not ms
    # Feishu: HMAC-SHA256 keyed by "timestamp\nsecret" over an empty message, base64
    key = f"{timestamp}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_post_message(http_server, notification):
    http_server.respond(Reply.json({"StatusCode": 0, "StatusMessage": "success"}))  # older bot answer
    feishu(http_server, msg_type="post", locale="zh_cn").send(notification)
    body = http_server.requests[0].json()
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == HEADLINE
    lines = [paragraph[0]["text"] for paragraph in post["content"]]
    assert lines[0] == "1 alert firing / 1 條告警"
    assert "- Value: 12.5 %" in lines and "- Change: -16.7 %" in lines
    assert "- Process: 銷售體系 Sales > 成交 Closing" in lines


@pytest.mark.parametrize("code", [9499, 11232])
def test_rate_limit_codes_are_retryable(http_server, notification, code):
    http_server.respond(Reply.json({"code": code, "msg": "too many request"}))
    with pytest.raises(RetryableSinkError, match=f"code {code}"):
        feishu(http_server, secret=SECRET).send(notification)


@pytest.mark.parametrize("code, hint", [(19021, "secret"), (19024, "keyword"), (9499999, "")])
def test_other_codes_are_permanent(http_server, notification, code, hint):
    http_server.respond(Reply.json({"code": code, "msg": "sign match fail or timestamp is not within one hour"}))
    with pytest.raises(PermanentSinkError) as err:
        feishu(http_server, secret=SECRET).send(notification)
    assert f"code {code}" in str(err.value) and hint in str(err.value)
    assert SECRET not in str(err.value) and "8d2f6c1e" not in str(err.value)


def test_non_json_answer_is_permanent(http_server, notification):
    http_server.respond(Reply.ok("<html>captive portal</html>"))
    with pytest.raises(PermanentSinkError, match="not Feishu JSON"):
        feishu(http_server).send(notification)
