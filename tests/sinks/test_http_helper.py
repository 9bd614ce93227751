"""kpiengine.http: outcome mapping, timeouts, Retry-After and URL redaction, against a real local server."""
from __future__ import annotations

import email.utils
import time

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.http import parse_retry_after, post_json, redact_url
from kpiengine.testing import RecordingHTTPServer, Reply, closed_port

TOKEN = "Zq8xT2mLw9Kd4Rb7"
SLACK_STYLE = "/services/T04ABCD12/B05EFGH34/" + TOKEN


def test_2xx_returns_the_answer_and_sends_utf8_json(http_server):
    http_server.respond(Reply.json({"code": 0}, status=202))
    response = post_json(http_server.url_for("/hook"), {"標題": "轉化率"}, sink="t")
    assert response.status == 202 and response.json() == {"code": 0}
    request = http_server.requests[0]
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("content-type") == "application/json; charset=utf-8"
    assert request.body == '{"標題":"轉化率"}'.encode("utf-8")  # not \\u escapes


@pytest.mark.parametrize("retry_after, expected", [("30", 30.0), ("0", 0.0), ("1.5", 1.5)])
def test_429_is_retryable_with_retry_after_seconds(http_server, retry_after, expected):
    http_server.respond(Reply.rate_limited(retry_after))
    with pytest.raises(RetryableSinkError) as err:
        post_json(http_server.url_for("/x"), {}, sink="team")
    assert err.value.retry_after == expected
    assert "429" in str(err.value) and str(err.value).startswith("sink 'team':")


def test_429_retry_after_as_http_date(http_server):
    when = time.time() + 120
    http_server.respond(Reply.rate_limited(email.utils.formatdate(when, usegmt=True)))
    with pytest.raises(RetryableSinkError) as err:
        post_json(http_server.url_for("/x"), {}, sink="t")
    assert 115 <= err.value.retry_after <= 121  # the date has a resolution of one second


def test_parse_retry_after_edge_cases():
    now = 1_700_000_000.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0  # past date
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == 90.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retryable(http_server, status):
    http_server.respond(Reply.error(status, "upstream down"))
    with pytest.raises(RetryableSinkError) as err:
        post_json(http_server.url_for("/x"), {}, sink="t")
    assert f"HTTP {status}" in str(err.value) and "upstream down" in str(err.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413])
def test_client_errors_are_permanent(http_server, status):
    http_server.respond(Reply.error(status, "invalid_payload"))
    with pytest.raises(PermanentSinkError) as err:
        post_json(http_server.url_for("/x"), {}, sink="t")
    assert f"HTTP {status}" in str(err.value)


def test_redirect_is_permanent_and_not_followed(http_server):
    http_server.respond(Reply(302, b"", {"Location": "http://127.0.0.1:1/elsewhere?token=" + TOKEN}))
    with pytest.raises(PermanentSinkError) as err:
        post_json(http_server.url_for("/x"), {}, sink="t")
    assert "redirect" in str(err.value) and TOKEN not in str(err.value)
    assert len(http_server.requests) == 1


def test_hanging_server_times_out_as_retryable(http_server):
    http_server.respond(Reply.hang_for(5))
    started = time.monotonic()
    with pytest.raises(RetryableSinkError) as err:
        post_json(http_server.url_for("/x"), {}, sink="t", read_timeout=0.3)
    assert time.monotonic() - started < 2.5
    assert "read timeout" in str(err.value)


def test_dropped_connection_is_retryable(http_server):
    http_server.respond(Reply.drop())
    with pytest.raises(RetryableSinkError, match="connection lost"):
        post_json(http_server.url_for("/x"), {}, sink="t")


def test_refused_connection_is_retryable():
    port = closed_port()
    with pytest.raises(RetryableSinkError, match="connection refused"):
        post_json(f"http://127.0.0.1:{port}/hook", {}, sink="t", connect_timeout=1)


@pytest.mark.parametrize("url", ["hooks.slack.com/services/x", "ftp://host/x", "http:///nohost", "http://h:99999/"])
def test_bad_url_is_permanent(url):
    with pytest.raises(PermanentSinkError, match="invalid URL"):
        post_json(url, {}, sink="t")


def test_secrets_never_appear_in_error_messages(http_server):
    # the server echoes the request path in its error body, as some proxies do
    http_server.respond(Reply.error(500, f"failed for {SLACK_STYLE}?key={TOKEN}"))
    url = http_server.url_for(SLACK_STYLE) + "?access_token=" + TOKEN + "X"
    with pytest.raises(RetryableSinkError) as err:
        post_json(url, {}, sink="t", secrets=["extra-signing-key"])
    assert TOKEN not in str(err.value)
    assert f"127.0.0.1:{http_server.port}/***/***/***/***?***" in str(err.value)


@pytest.mark.parametrize("url, expected", [
    ("https://hooks.slack.com/services/T04ABCD12/B05EFGH34/Zq8xT2mLw9Kd4Rb7",
     "https://hooks.slack.com/***/***/***/***"),
    ("https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx", "https://hooks.slack.com/***/***/***/***"),
    ("https://open.feishu.cn/open-apis/bot/v2/hook/5b0d7a4e-1f2c-4a55-9b3f-1d2e3f4a5b6c",
     "https://open.feishu.cn/***/***/***/***/***"),
    ("https://oapi.dingtalk.com/robot/send?access_token=abc", "https://oapi.dingtalk.com/***/***?***"),
    ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6", "https://qyapi.weixin.qq.com/***/***/***?***"),
    ("https://user:pa55@example.com:8443/hook", "https://example.com:8443/***"),
    ("https://x.webhook.office.com/webhookb2/1a2b@3c4d/IncomingWebhook/9f8e7d/5a6b",
     "https://x.webhook.office.com/***/***/***/***/***"),
    # issue 13: a lower-case token reads like a word; it is redacted all the same
    ("https://hooks.example.com/alerts/secrettokenlowercase", "https://hooks.example.com/***/***"),
    ("https://hooks.example.com/", "https://hooks.example.com/"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_proxy_variables_are_honoured_but_not_for_loopback(http_server, monkeypatch):
    # a proxy that is itself a recording server: a remote URL goes through it...
    with RecordingHTTPServer() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        post_json("http://alerts.example.com:8080/hook?token=1", {"a": 1}, sink="t")
        (via_proxy,) = proxy.requests
        assert via_proxy.raw_path == "http://alerts.example.com:8080/hook?token=1"  # absolute-form request
        assert via_proxy.json() == {"a": 1} and via_proxy.header("host") == "alerts.example.com:8080"
        # ...while a receiver on 127.0.0.1 is contacted directly
        post_json(http_server.url_for("/direct"), {}, sink="t")
        assert [r.path for r in http_server.requests] == ["/direct"] and len(proxy.requests) == 1


def test_https_with_an_untrusted_certificate_is_permanent():
    with RecordingHTTPServer(tls=True) as server:
        with pytest.raises(PermanentSinkError, match="TLS certificate rejected") as err:
            post_json(server.url_for(SLACK_STYLE), {}, sink="t")
        assert TOKEN not in str(err.value) and server.requests == []


def test_https_trusting_a_private_ca_through_ssl_cert_file(monkeypatch):
    with RecordingHTTPServer(tls=True) as server:
        monkeypatch.setenv("SSL_CERT_FILE", server.cert_file)
        response = post_json(server.url_for("/hook"), {"加密": True}, sink="t")
        assert response.status == 200 and server.requests[0].json() == {"加密": True}
