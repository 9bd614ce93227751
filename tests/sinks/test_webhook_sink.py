"""Generic webhook sink: JSON body, HMAC-SHA256 signature, idempotency key, custom headers."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.testing import Reply
from kpiengine_plugins.webhook_sink import WebhookSink

SECRET = "whsec-5f1d9a0c7b"
# HTTP headers are ASCII: the key's 華東 travels percent-encoded as UTF-8
KEY_IN_HEADER = "route-default:conversion_drop:2026-01-05:%E8%8F%AF%E6%9D%B1"


def test_body_is_the_notification_payload_in_utf8(http_server, notification):
    WebhookSink("ops", {"url": http_server.url_for("/alerts")}).send(notification)
    (request,) = http_server.requests
    body = request.json()
    assert body["idempotency_key"] == "route-default:conversion_drop:2026-01-05:華東"
    assert body["title"] == "轉化率下降 Conversion dropped" and body["severity"] == "critical"
    assert body["items"][0]["kpi_label"] == "轉化率 Conversion"
    assert body["items"][0]["value"] == 0.125 and body["items"][0]["baseline"] == 0.15
    assert body["items"][0]["dimensions"] == {"region": "華東"}
    assert body["items"][0]["process_path"] == ["銷售體系 Sales", "成交 Closing"]
    assert "華東".encode("utf-8") in request.body  # raw UTF-8, not \\u escapes
    assert request.header("content-type") == "application/json; charset=utf-8"
    assert request.header("idempotency-key") == KEY_IN_HEADER
    assert request.header("x-kpiengine-signature") is None  # no secret, no signature


def test_signature_verifies_over_the_raw_body(http_server, notification):
    WebhookSink("ops", {"url": http_server.url_for("/alerts"), "secret": SECRET}).send(notification)
    request = http_server.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.header("x-kpiengine-signature") == expected
    # a receiver re-serialising the JSON would not get the same bytes: the signature is over the raw body
    reserialised = json.dumps(request.json()).encode()
    assert hmac.new(SECRET.encode(), reserialised, hashlib.sha256).hexdigest() not in expected


def test_retry_carries_the_same_idempotency_key(http_server, notification):
    http_server.script(Reply.error(503))
    sink = WebhookSink("ops", {"url": http_server.url_for("/alerts"), "secret": SECRET})
    with pytest.raises(RetryableSinkError):
        sink.send(notification)
    sink.send(notification)
    first, second = http_server.requests
    assert first.header("idempotency-key") == second.header("idempotency-key") == KEY_IN_HEADER
    assert first.body == second.body


def test_custom_headers_are_sent_and_kept_out_of_errors(http_server, notification):
    bearer = "Bearer tok-88c1e2f3a4b5"
    http_server.respond(Reply.error(401, "unauthorized"))
    sink = WebhookSink("ops", {"url": http_server.url_for("/alerts"), "headers": {"Authorization": bearer,
                                                                                 "X-Team": "sales"}})
    with pytest.raises(PermanentSinkError) as err:
        sink.send(notification)
    request = http_server.requests[0]
    assert request.header("authorization") == bearer and request.header("x-team") == "sales"
    assert "tok-88c1e2f3a4b5" not in str(err.value)
