"""DingTalk sink: custom group robot webhook, Markdown message, optional signing.

Signing follows DingTalk's documented scheme: HMAC-SHA256 of
``f"{timestamp_ms}\\n{secret}"`` keyed by ``secret``, base64, URL-encoded, sent as
``&timestamp=...&sign=...`` query parameters. DingTalk answers HTTP 200 with
``{"errcode": 0}`` on success; a non-zero errcode is the outcome.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse

from kpiengine import hookimpl
from kpiengine.http import TIMEOUT_OPTIONS, URL_OPTION, post_json, raise_for_bot_answer, timeouts
from kpiengine.render import headline, to_markdown, truncate, truncate_utf8
from kpiengine.sinks import Notification, Sink

#: 130101: "send too fast" (20 messages a minute per robot); -1: "system busy"
RETRYABLE_CODES = {130101, -1}
_HINTS = {
    310000: "check `secret` (signature), the robot's keyword list and IP allow-list",
    300001: "the access_token in `webhook_url` is invalid; copy the robot's webhook again",
    400102: "the robot is disabled",
}
_MAX_BYTES = 18000  # DingTalk rejects markdown bodies above ~20000 bytes


def sign(timestamp_ms: int, secret: str) -> str:
    """The ``sign`` query value (already URL-encoded)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))


def signed_url(url: str, timestamp_ms: int, secret: str) -> str:
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign(timestamp_ms, secret)}"


class DingTalkSink(Sink):
    type_name = "dingtalk"
    description = "DingTalk custom robot webhook (Markdown), optional signing."
    options_schema = {
        "type": "object",
        "properties": {
            "webhook_url": URL_OPTION,
            "secret": {"type": "string", "minLength": 1, "description": "signing secret (加签), starts with SEC"},
            "at_mobiles": {"type": "array", "items": {"type": "string"},
                           "description": "phone numbers to @-mention"},
            "at_all": {"type": "boolean", "default": False},
            **TIMEOUT_OPTIONS,
        },
        "required": ["webhook_url"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()

    def message(self, n: Notification) -> dict:
        mobiles = list(self.options.get("at_mobiles") or [])
        text = to_markdown(n)
        if mobiles:  # DingTalk only notifies people whose @mobile appears in the text
            text += "\n\n" + " ".join(f"@{m}" for m in mobiles)
        return {"msgtype": "markdown",
                "markdown": {"title": truncate(headline(n), 100), "text": truncate_utf8(text, _MAX_BYTES)},
                "at": {"atMobiles": mobiles, "isAtAll": bool(self.options.get("at_all", False))}}

    def send(self, notification: Notification) -> None:
        url = self.options["webhook_url"]
        if self.options.get("secret"):
            url = signed_url(url, int(time.time() * 1000), self.options["secret"])
        response = post_json(url, self.message(notification), sink=self.name, secrets=self.secret_values(),
                             **timeouts(self.options))
        raise_for_bot_answer(response, sink=self.name, service="DingTalk", code_keys=("errcode",),
                             message_keys=("errmsg",), retryable_codes=RETRYABLE_CODES, hints=_HINTS,
                             secrets=self.secret_values())


@hookimpl
def kpiengine_sink_types():
    return [DingTalkSink]
