"""E-mail sink: SMTP with STARTTLS or implicit TLS, AUTH, and a text + HTML message.

The Message-ID is derived from the notification's idempotency key, so when the
outbox retries a notification whose first attempt did reach the server (the
answer was lost), mail clients thread both copies as one message.
SMTP 4xx replies, disconnects, refused connections and timeouts are retryable;
5xx replies and refused credentials are permanent.
"""
from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import socket
import ssl
from typing import TYPE_CHECKING

from kpiengine import hookimpl
from kpiengine.http import scrub
from kpiengine.render import headline, to_html, to_text
from kpiengine.sinks import Notification, Sink

if TYPE_CHECKING:
    from email.message import EmailMessage

log = logging.getLogger(__name__)

_ADDRESSES = {"oneOf": [{"type": "string", "minLength": 3},
                        {"type": "array", "items": {"type": "string", "minLength": 3}, "minItems": 1}]}


def message_id(idempotency_key: str, sender: str) -> str:
    """``<hash@domain>``: the same key always gives the same Message-ID."""
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "kpiengine.invalid"
    return f"<kpi.{hashlib.sha256(idempotency_key.encode('utf-8')).hexdigest()[:40]}@{domain}>"


# CR, LF and the other characters Python's str.splitlines() treats as line ends (U+2028, U+2029, NEL,
# VT, FF, FS/GS/RS), plus the remaining C0 controls: in a header they would end it or inject another.
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def header_text(value: str) -> str:
    """``value`` on one line, fit for a mail header: line breaks and control characters fold to a space.

    A subject is built from dimension values and labels; one holding a CR/LF or
    U+2028 made the message unbuildable and the alert failed for good.
    """
    return " ".join(_HEADER_BREAKS.sub(" ", value).split())


def _addresses(value) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


class EmailSink(Sink):
    type_name = "email"
    description = "E-mail over SMTP (STARTTLS or TLS, AUTH), plain text + HTML."
    options_schema = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "minLength": 1, "pattern": "^[^\\s/]+$",
                     "description": "SMTP server name or address (no spaces or line breaks)"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                     "description": "default 465 with ssl, 587 with starttls, else 25"},
            "from": {"type": "string", "minLength": 3, "description": "sender, e.g. 'KPI bot <kpi@example.com>'"},
            "to": _ADDRESSES,
            "cc": _ADDRESSES,
            "username": {"type": "string"},
            "password": {"type": "string", "description": "keep it in ${ENV}"},
            "starttls": {"type": "boolean", "default": False, "description": "upgrade with STARTTLS (port 587)"},
            "ssl": {"type": "boolean", "default": False, "description": "TLS from the first byte (port 465)"},
            "ca_file": {"type": "string", "description": "PEM file of the CA to trust (private mail servers)"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10.0},
            "subject_prefix": {"type": "string", "default": "[KPI]"},
        },
        "required": ["host", "from", "to"],
        "not": {"properties": {"starttls": {"const": True}, "ssl": {"const": True}},
                "required": ["starttls", "ssl"]},
        "dependentRequired": {"password": ["username"]},
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()
        o = self.options
        self.use_ssl = bool(o.get("ssl", False))
        self.use_starttls = bool(o.get("starttls", False))
        self.port = int(o.get("port") or (465 if self.use_ssl else 587 if self.use_starttls else 25))
        self.timeout = float(o.get("timeout", 10.0))

    def build_message(self, n: Notification) -> EmailMessage:
        from email.message import EmailMessage  # lazy: only a command that sends mail pays for it

        o = self.options
        msg = EmailMessage()
        prefix = o.get("subject_prefix", "[KPI]")
        msg["Subject"] = header_text(f"{prefix} {headline(n)}")
        msg["From"] = o["from"]
        msg["To"] = ", ".join(_addresses(o["to"]))
        if o.get("cc"):
            msg["Cc"] = ", ".join(_addresses(o["cc"]))
        msg["Message-ID"] = message_id(n.idempotency_key, o["from"])
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["X-Kpiengine-Idempotency-Key"] = n.idempotency_key
        msg.set_content(to_text(n))
        msg.add_alternative(to_html(n), subtype="html")
        return msg

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.options.get("ca_file"))

    def send(self, notification: Notification) -> None:
        import smtplib  # lazy: loading the plugin (every `kpi validate`) must not import the SMTP client

        msg = self.build_message(notification)
        recipients = _addresses(self.options["to"]) + _addresses(self.options.get("cc"))
        sender = email.utils.parseaddr(self.options["from"])[1]
        where = f"{self.options['host']}:{self.port}"
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(self.options["host"], self.port, timeout=self.timeout,
                                        context=self._tls_context())
            else:
                smtp = smtplib.SMTP(self.options["host"], self.port, timeout=self.timeout)
            with smtp:
                if self.use_starttls:
                    smtp.starttls(context=self._tls_context())
                if self.options.get("username"):
                    smtp.login(self.options["username"], self.options.get("password", ""))
                refused = smtp.send_message(msg, sender, recipients)
        except Exception as exc:  # every failure is mapped; nothing escapes as a traceback
            raise self._map(exc, where) from None
        if refused:
            # Some recipients got it: retrying would send them a duplicate, so the
            # notification counts as delivered and the refusals are logged.
            log.warning("sink '%s': %d recipient(s) refused by %s: %s", self.name, len(refused), where,
                        ", ".join(f"{r} ({c})" for r, (c, _m) in refused.items()))

    def _map(self, exc: Exception, where: str):
        import smtplib  # lazy: imported by send() already, whose errors this maps

        def text(message: str) -> str:
            return scrub(f"SMTP {where}: {message}", self.secret_values())

        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return self.permanent(text(f"login refused for user {self.options.get('username')!r} "
                                       f"({exc.smtp_code}); check username/password"))
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return self.permanent(text(f"{exc}; check `starttls`/`ssl` and whether the server offers AUTH"))
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _m in exc.recipients.values()]
            detail = ", ".join(f"{r} ({c} {_decode(m)})" for r, (c, m) in exc.recipients.items())
            if all(400 <= c < 500 for c in codes):
                return self.retryable(text(f"recipients temporarily refused: {detail}"))
            return self.permanent(text(f"recipients refused: {detail}"))
        if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data refused, HELO, connect
            reply = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                return self.retryable(text(f"server said {reply} (temporary)"))
            return self.permanent(text(f"server said {reply}"))
        if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
            return self.retryable(text(f"no answer within {self.timeout:g}s"))  # smtplib wraps read timeouts
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return self.retryable(text(f"server closed the connection ({exc or 'no reason given'})"))
        if isinstance(exc, ssl.SSLCertVerificationError):
            return self.permanent(text(f"TLS certificate rejected ({exc.verify_message}); "
                                       "set `ca_file` for a private CA or fix `host`"))
        if isinstance(exc, ssl.SSLError):
            return self.retryable(text(f"TLS failed ({exc.reason or exc}); check `ssl`/`starttls` and `port`"))
        if isinstance(exc, socket.gaierror):
            return self.retryable(text(f"cannot resolve host ({exc.strerror})"))
        if isinstance(exc, ConnectionRefusedError):
            return self.retryable(text("connection refused"))
        if isinstance(exc, TimeoutError):
            return self.retryable(text(f"no answer within {self.timeout:g}s"))
        if isinstance(exc, OSError):
            return self.retryable(text(f"network error: {exc.strerror or type(exc).__name__}"))
        if isinstance(exc, smtplib.SMTPException):
            return self.retryable(text(str(exc)))
        return self.permanent(text(f"cannot build or send the message: {type(exc).__name__}: {exc}"))


def _decode(value) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


@hookimpl
def kpiengine_sink_types():
    return [EmailSink]
