"""kpiengine.testing itself: the servers plugin authors rely on behave as documented."""
from __future__ import annotations

import smtplib
import ssl
import time
import urllib.request

import pytest

from kpiengine.testing import RecordingHTTPServer, Reply, SMTPTestServer


def _get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_scripted_sequence_then_default():
    with RecordingHTTPServer(default=Reply.json({"ok": True})) as server:
        server.script(Reply.error(500, "a"), Reply.rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"), Reply.ok("c"))
        results = [_get(server.url_for(f"/p{i}?q={i}")) for i in range(4)]
        assert [r[0] for r in results] == [500, 429, 200, 200]
        assert results[1][2]["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
        assert results[2][1] == b"c" and results[3][1] == b'{"ok": true}'
        assert [(r.method, r.path, r.query) for r in server.requests] == [
            ("POST", f"/p{i}", {"q": [str(i)]}) for i in range(4)]
        assert server.requests[0].body == b"x"


def test_hang_is_released_when_the_server_stops():
    server = RecordingHTTPServer(default=Reply.hang_for(60)).start()
    with pytest.raises(OSError):  # urllib's read timeout
        _get(server.url_for("/slow"), timeout=0.3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def test_wait_for_requests_reports_how_many_came():
    with RecordingHTTPServer() as server:
        with pytest.raises(AssertionError, match="expected 1 request"):
            server.wait_for_requests(1, timeout=0.1)


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_smtp_auth_mechanisms(mechanism):
    with SMTPTestServer(starttls=True, user="bot", password="pw") as server:
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            client.starttls(context=ssl.create_default_context(cafile=server.cert_file))
            client.ehlo()
            client.user, client.password = "bot", "pw"
            client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
            client.sendmail("a@example.com", ["b@example.com"], "Subject: 測試\r\n\r\nbody".encode("utf-8"))
        assert server.auth_attempts == [(mechanism, "bot", True)]
        assert server.messages[0].authenticated_as == "bot" and server.messages[0].tls


def test_smtp_requires_starttls_before_auth():
    with SMTPTestServer(starttls=True, user="bot", password="pw") as server:
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            with pytest.raises(smtplib.SMTPSenderRefused) as err:
                client.sendmail("a@example.com", ["b@example.com"], b"x")
            assert err.value.smtp_code == 530
