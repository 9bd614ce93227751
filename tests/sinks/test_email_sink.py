"""E-mail sink against a real in-process SMTP server: STARTTLS, implicit TLS, AUTH and SMTP error mapping."""
from __future__ import annotations

import hashlib
import socket
import time

import pytest

from kpiengine.errors import PermanentSinkError, RetryableSinkError
from kpiengine.testing import SMTPTestServer, closed_port
from kpiengine_plugins.email_sink import EmailSink

USER, PASSWORD = "kpi-bot", "pw-Hx83!kLq2z"


def options(server, **extra):
    o = {"host": server.host, "port": server.port, "from": "KPI 機器人 <kpi@example.com>",
         "to": ["alice@example.com", "bob@example.com"], "cc": "carol@example.com", "timeout": 5}
    if server.cert_file:
        o["ca_file"] = server.cert_file
    o.update(extra)
    return o


@pytest.fixture
def starttls_server():
    with SMTPTestServer(starttls=True, user=USER, password=PASSWORD) as server:
        yield server


def test_starttls_auth_multipart_message(starttls_server, notification):
    EmailSink("mail", options(starttls_server, starttls=True, username=USER, password=PASSWORD)).send(notification)
    (mail,) = starttls_server.messages
    assert mail.tls and mail.authenticated_as == USER
    assert mail.mail_from == "kpi@example.com"
    assert mail.rcpt_tos == ["alice@example.com", "bob@example.com", "carol@example.com"]
    msg = mail.message
    assert msg["Subject"] == "[KPI] 🔴 CRITICAL: 轉化率下降 Conversion dropped"
    assert msg["From"] == "KPI 機器人 <kpi@example.com>"
    assert msg["Cc"] == "carol@example.com"
    key_hash = hashlib.sha256("route-default:conversion_drop:2026-01-05:華東".encode()).hexdigest()[:40]
    assert msg["Message-ID"] == f"<kpi.{key_hash}@example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_payload()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    text = plain.get_content()
    for line in ("  Value: 12.5 %", "  Baseline: 15.0 %", "  Change: -16.7 %", "  Process: 銷售體系 Sales > 成交 Closing",
                 "  Playbook: 檢查報價流程 Check the quote process"):
        assert line in text.splitlines()
    markup = html.get_content()
    assert "<td>12.5 %</td>" in markup and "<td>銷售體系 Sales &gt; 成交 Closing</td>" in markup


def test_retry_after_temporary_refusal_keeps_the_message_id(starttls_server, notification):
    starttls_server.script("451 4.3.0 Mailbox busy, try later")
    sink = EmailSink("mail", options(starttls_server, starttls=True, username=USER, password=PASSWORD))
    with pytest.raises(RetryableSinkError, match="451"):
        sink.send(notification)
    sink.send(notification)
    sink.send(notification)  # e.g. the outbox lost the answer and tried once more
    ids = {m.message["Message-ID"] for m in starttls_server.messages}
    assert len(starttls_server.messages) == 2 and len(ids) == 1


def test_implicit_tls(notification):
    with SMTPTestServer(implicit_tls=True, user=USER, password=PASSWORD) as server:
        EmailSink("mail", options(server, ssl=True, username=USER, password=PASSWORD)).send(notification)
        assert server.messages[0].tls and server.messages[0].authenticated_as == USER


def test_plain_smtp_without_auth(notification):
    with SMTPTestServer() as server:
        o = options(server, to="ops@example.com")
        del o["cc"]
        EmailSink("mail", o).send(notification)
        assert server.messages[0].rcpt_tos == ["ops@example.com"] and not server.messages[0].tls


def test_wrong_password_is_permanent_and_not_printed(starttls_server, notification):
    wrong = "wrong-Pw-9zQ"
    with pytest.raises(PermanentSinkError) as err:
        EmailSink("mail", options(starttls_server, starttls=True, username=USER, password=wrong)).send(notification)
    assert "login refused" in str(err.value) and USER in str(err.value)
    assert wrong not in str(err.value) and PASSWORD not in str(err.value)
    assert starttls_server.auth_attempts[-1][1:] == (USER, False)
    assert starttls_server.messages == []


def test_missing_credentials_is_permanent(starttls_server, notification):
    with pytest.raises(PermanentSinkError, match="530"):
        EmailSink("mail", options(starttls_server, starttls=True)).send(notification)


@pytest.mark.parametrize("reply, error", [("554 5.7.1 Message rejected as spam", PermanentSinkError),
                                          ("552 5.3.4 Message too big", PermanentSinkError),
                                          ("421 4.7.0 Try again later, closing connection", RetryableSinkError),
                                          ("disconnect", RetryableSinkError)])
def test_smtp_replies_map_to_error_types(starttls_server, notification, reply, error):
    starttls_server.script(reply)
    sink = EmailSink("mail", options(starttls_server, starttls=True, username=USER, password=PASSWORD))
    with pytest.raises(error) as err:
        sink.send(notification)
    assert PASSWORD not in str(err.value) and str(err.value).startswith("sink 'mail': SMTP 127.0.0.1:")


def test_untrusted_certificate_is_permanent_with_hint(starttls_server, notification):
    o = options(starttls_server, starttls=True, username=USER, password=PASSWORD)
    del o["ca_file"]
    with pytest.raises(PermanentSinkError, match="ca_file"):
        EmailSink("mail", o).send(notification)


def test_starttls_not_offered_is_permanent(notification):
    with SMTPTestServer() as server:
        with pytest.raises(PermanentSinkError, match="STARTTLS|starttls"):
            EmailSink("mail", options(server, starttls=True)).send(notification)


def test_refused_connection_is_retryable(notification):
    o = {"host": "127.0.0.1", "port": closed_port(), "from": "kpi@example.com", "to": "a@example.com",
         "password": PASSWORD, "username": USER}
    with pytest.raises(RetryableSinkError, match="connection refused") as err:
        EmailSink("mail", o).send(notification)
    assert PASSWORD not in str(err.value)


def test_silent_server_times_out(notification):
    # a listening socket that never sends the SMTP greeting
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        o = {"host": "127.0.0.1", "port": listener.getsockname()[1], "from": "kpi@example.com",
             "to": "a@example.com", "timeout": 0.5}
        started = time.monotonic()
        with pytest.raises(RetryableSinkError, match="no answer within 0.5s"):
            EmailSink("mail", o).send(notification)
        assert time.monotonic() - started < 3


def test_starttls_and_ssl_together_is_a_config_error():
    with pytest.raises(PermanentSinkError, match="sink 'mail'"):
        EmailSink("mail", {"host": "h", "from": "a@b.c", "to": "d@e.f", "starttls": True, "ssl": True})


def _plain_options(server, to):
    return {"host": server.host, "port": server.port, "from": "kpi@example.com", "to": to, "timeout": 5}


def test_all_recipients_permanently_refused(notification):
    with SMTPTestServer() as server:
        server.refuse_recipients = {"gone@example.com": "550 5.1.1 no such user"}
        with pytest.raises(PermanentSinkError, match=r"gone@example.com \(550 5.1.1 no such user\)"):
            EmailSink("mail", _plain_options(server, "gone@example.com")).send(notification)
        assert server.messages == []


def test_all_recipients_temporarily_refused_is_retryable(notification):
    with SMTPTestServer() as server:
        server.refuse_recipients = {"full@example.com": "452 4.2.2 mailbox full"}
        with pytest.raises(RetryableSinkError, match="temporarily refused"):
            EmailSink("mail", _plain_options(server, "full@example.com")).send(notification)


def test_partly_refused_counts_as_delivered_and_is_logged(notification, caplog):
    with SMTPTestServer() as server:
        server.refuse_recipients = {"gone@example.com": "550 5.1.1 no such user"}
        with caplog.at_level("WARNING"):
            EmailSink("mail", _plain_options(server, ["ok@example.com", "gone@example.com"])).send(notification)
        assert server.messages[0].rcpt_tos == ["ok@example.com"]  # a retry would send ok@ a duplicate
        assert "1 recipient(s) refused" in caplog.text and "gone@example.com (550)" in caplog.text
