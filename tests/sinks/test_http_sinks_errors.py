"""Every HTTP sink maps the same transport failures the same way, and never prints its token."""
from __future__ import annotations

import time

import pytest

from kpiengine.errors import RetryableSinkError
from kpiengine.testing import RecordingHTTPServer, Reply, closed_port
from kpiengine_plugins.dingtalk_sink import DingTalkSink
from kpiengine_plugins.feishu_sink import FeishuSink
from kpiengine_plugins.slack_sink import SlackSink
from kpiengine_plugins.webhook_sink import WebhookSink
from kpiengine_plugins.wecom_sink import WeComSink

TOKEN = "c0ffee5ecret9a8b7c6d"
SIGNING = "SECd7e6f5a4b3c2d1e0"


def _sinks(base: str):
    """(name, sink) pairs whose URL carries TOKEN the way the real service does."""
    t = {"timeout": 0.3, "connect_timeout": 1}
    return [
        ("slack", SlackSink("s", {"webhook_url": f"{base}/services/T01/B02/{TOKEN}", **t})),
        ("webhook", WebhookSink("s", {"url": f"{base}/hook?token={TOKEN}", "secret": SIGNING, **t})),
        ("feishu", FeishuSink("s", {"webhook_url": f"{base}/open-apis/bot/v2/hook/{TOKEN}", "secret": SIGNING, **t})),
        ("dingtalk", DingTalkSink("s", {"webhook_url": f"{base}/robot/send?access_token={TOKEN}",
                                        "secret": SIGNING, **t})),
        ("wecom", WeComSink("s", {"webhook_url": f"{base}/cgi-bin/webhook/send?key={TOKEN}", **t})),
    ]


SINK_NAMES = [name for name, _ in _sinks("http://127.0.0.1:1")]


def _sink(name: str, base: str):
    return dict(_sinks(base))[name]


def _assert_secret_free(err):
    assert TOKEN not in str(err.value) and SIGNING not in str(err.value)


@pytest.mark.parametrize("name", SINK_NAMES)
def test_500_is_retryable(http_server, notification, name):
    http_server.respond(Reply.error(500, f"boom for {TOKEN}"))  # even an echoing server cannot leak it
    with pytest.raises(RetryableSinkError) as err:
        _sink(name, http_server.url).send(notification)
    assert "HTTP 500" in str(err.value) and err.value.retry_after is None
    _assert_secret_free(err)


@pytest.mark.parametrize("name", SINK_NAMES)
def test_429_is_retryable_with_retry_after(http_server, notification, name):
    http_server.respond(Reply.rate_limited(retry_after=7))
    with pytest.raises(RetryableSinkError) as err:
        _sink(name, http_server.url).send(notification)
    assert err.value.retry_after == 7.0
    _assert_secret_free(err)


@pytest.mark.parametrize("name", SINK_NAMES)
def test_hanging_receiver_times_out(http_server, notification, name):
    http_server.respond(Reply.hang_for(5))
    started = time.monotonic()
    with pytest.raises(RetryableSinkError) as err:
        _sink(name, http_server.url).send(notification)
    assert time.monotonic() - started < 2.5  # the 0.3 s read timeout, not the 5 s hang
    assert "timeout" in str(err.value)
    _assert_secret_free(err)


@pytest.mark.parametrize("name", SINK_NAMES)
def test_refused_connection_is_retryable(notification, name):
    with pytest.raises(RetryableSinkError) as err:
        _sink(name, f"http://127.0.0.1:{closed_port()}").send(notification)
    assert "connection refused" in str(err.value)
    _assert_secret_free(err)


@pytest.mark.parametrize("name", SINK_NAMES)
def test_recovers_after_scripted_failures(notification, name):
    ok = {"slack": Reply.ok("ok"), "webhook": Reply(204)}.get(name, Reply.json({"code": 0, "errcode": 0}))
    with RecordingHTTPServer(default=ok) as server:
        server.script(Reply.error(502), Reply.rate_limited(1))
        sink = _sink(name, server.url)
        for _ in range(2):
            with pytest.raises(RetryableSinkError):
                sink.send(notification)
        sink.send(notification)  # third attempt is acknowledged: returns normally
        assert len(server.requests) == 3
