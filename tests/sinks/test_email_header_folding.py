"""E-mail subjects with CR/LF or U+2028 are folded and the alert delivered (issue 13, item 4).

The alert goes through the real e-mail sink to a real aiosmtpd server on
loopback; the received message is parsed back and its headers checked.
"""
from __future__ import annotations

import pytest

from kpiengine.sinks import AlertItem, Notification
from kpiengine.testing import SMTPTestServer
from kpiengine_plugins.email_sink import EmailSink


def notification(title: str, region: str) -> Notification:
    item = AlertItem(rule="conversion_drop", kpi="conversion", kpi_label="Conversion", severity="critical",
                     status="firing", period_start="2026-10-26", dimensions={"region": region}, value=0.085,
                     baseline=0.205, change=-0.585, unit="percent", message=f"conversion in {region} fell")
    return Notification(idempotency_key="kpi-fold-1", title=title, severity="critical", status="firing",
                        text="1 firing", items=[item], route="default")


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x0b", "\x85"],
                         ids=["crlf", "lf", "cr", "u2028", "u2029", "vt", "nel"])
def test_subject_with_a_line_break_is_folded_and_delivered(breaker):
    region = f"east{breaker}Bcc: attacker@example.com"
    with SMTPTestServer() as smtp:
        sink = EmailSink("mail", {"host": smtp.host, "port": smtp.port, "from": "kpi@example.com",
                                  "to": "ops@example.com", "timeout": 5})
        sink.send(notification(f"Conversion drop in {region}", region))
        [mail] = smtp.messages
    msg = mail.message
    assert msg["Subject"] == "[KPI] 🔴 CRITICAL: Conversion drop in east Bcc: attacker@example.com"
    assert msg["Bcc"] is None and mail.rcpt_tos == ["ops@example.com"]  # nothing was injected
    body = msg.get_body(("plain",)).get_content()
    assert "8.5 %" in body and "east" in body  # the alert itself arrived whole
