"""DingTalk sink: Markdown body, signed query string, errcode mapping."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.testing import Reply
from kpiengine_plugins.dingtalk_sink import DingTalkSink

ACCESS_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRET = "SEC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
OK = Reply.json({"errcode": 0, "errmsg": "ok"})


def dingtalk(server, **options):
    url = server.url_for(f"/robot/send?access_token={ACCESS_TOKEN}")
    return DingTalkSink("ding", {"webhook_url": url, "timeout": 1, **options})


def test_markdown_body(http_server, notification):
    http_server.respond(OK)
    dingtalk(http_server, at_mobiles=["13800000000"]).send(notification)
    request = http_server.requests[0]
    assert request.query == {"access_token": [ACCESS_TOKEN]}  # unsigned: no timestamp/sign
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert body["markdown"]["title"] == "🔴 CRITICAL: 轉化率下降 Conversion dropped"
    text = body["markdown"]["text"]
    assert text.startswith("### 🔴 CRITICAL: 轉化率下降 Conversion dropped\n")
    for line in ("**🔴 轉化率 Conversion (region=華東 · 2026-01-05)**", "- Value: 12.5 %", "- Baseline: 15.0 %",
                 "- Change: -16.7 %", "- Process: 銷售體系 Sales > 成交 Closing",
                 "> Playbook: 檢查報價流程 Check the quote process"):
        assert line in text.split("\n")
    assert text.endswith("\n\n@13800000000")  # DingTalk only notifies mobiles written in the text


def test_signature_in_query_string(http_server, notification):
    http_server.respond(OK)
    dingtalk(http_server, secret=SECRET).send(notification)
    request = http_server.requests[0]
    timestamp = request.query["timestamp"][0]
    assert abs(int(timestamp) / 1000 - time.time()) < 10  # milliseconds
    digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    assert request.query["sign"][0] == expected
    assert request.query["access_token"][0] == ACCESS_TOKEN
    # on the wire the base64 is URL-encoded (+, / and = escaped)
    assert request.raw_path.endswith(f"&timestamp={timestamp}&sign={urllib.parse.quote_plus(expected)}")


@pytest.mark.parametrize("code", [130101, -1])
def test_rate_limit_and_busy_are_retryable(http_server, notification, code):
    http_server.respond(Reply.json({"errcode": code, "errmsg": "send too fast, exceed 20 times per minute"}))
    with pytest.raises(RetryableSinkError, match=f"errcode {code}"):
        dingtalk(http_server, secret=SECRET).send(notification)


@pytest.mark.parametrize("code", [310000, 300001, 400102])
def test_other_errcodes_are_permanent_without_secrets(http_server, notification, code):
    # DingTalk's keyword error echoes parts of the request; the token must not reach the log
    http_server.respond(Reply.json({"errcode": code, "errmsg": f"keywords not in content, token {ACCESS_TOKEN}"}))
    with pytest.raises(PermanentSinkError) as err:
        dingtalk(http_server, secret=SECRET).send(notification)
    assert f"errcode {code}" in str(err.value)
    assert ACCESS_TOKEN not in str(err.value) and SECRET not in str(err.value)
