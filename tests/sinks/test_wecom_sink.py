"""WeCom (企业微信) group robot sink: Markdown body within 4096 bytes, errcode mapping, key kept secret."""
from __future__ import annotations

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.testing import Reply
from kpiengine_plugins.wecom_sink import WeComSink

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
OK = Reply.json({"errcode": 0, "errmsg": "ok"})


def wecom(server, **options):
    return WeComSink("wx", {"webhook_url": server.url_for(f"/cgi-bin/webhook/send?key={KEY}"), "timeout": 1,
                            **options})


def test_markdown_body(http_server, notification):
    http_server.respond(OK)
    wecom(http_server).send(notification)
    request = http_server.requests[0]
    assert request.path == "/cgi-bin/webhook/send" and request.query == {"key": [KEY]}
    body = request.json()
    assert list(body) == ["msgtype", "markdown"] and body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    lines = content.split("\n")
    assert lines[0] == "### 🔴 CRITICAL: 轉化率下降 Conversion dropped"
    assert "- Value: 12.5 %" in lines and "- Change: -16.7 %" in lines and "- Dimensions: region=華東" in lines


def test_key_option_builds_the_official_url():
    sink = WeComSink("wx", {"key": KEY})
    assert sink.url == f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"


def test_long_group_is_cut_to_4096_utf8_bytes_and_keeps_mentions(http_server, notification_factory, item_factory):
    http_server.respond(OK)
    items = [item_factory(dimensions={"region": f"區域{i}"}) for i in range(60)]
    wecom(http_server, mention=["zhangsan"]).send(notification_factory(items=items))
    content = http_server.requests[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith("\n\n<@zhangsan>")
    assert "…" in content  # the cut is visible


@pytest.mark.parametrize("code", [45009, -1])
def test_rate_limit_is_retryable(http_server, notification, code):
    http_server.respond(Reply.json({"errcode": code, "errmsg": "api freq out of limit"}))
    with pytest.raises(RetryableSinkError, match=f"errcode {code}"):
        wecom(http_server).send(notification)


def test_invalid_key_is_permanent_and_secret(http_server, notification):
    http_server.respond(Reply.json({"errcode": 93000, "errmsg": f"invalid webhook url, key={KEY}"}))
    with pytest.raises(PermanentSinkError) as err:
        wecom(http_server).send(notification)
    assert "errcode 93000" in str(err.value) and "robot key is invalid" in str(err.value)
    assert KEY not in str(err.value)


def test_needs_key_or_url():
    with pytest.raises(PermanentSinkError, match="sink 'wx'"):
        WeComSink("wx", {})
