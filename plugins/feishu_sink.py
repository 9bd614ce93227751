"""Feishu / Lark sink: custom group-bot webhook, as an interactive card or a rich-text post.

Signing (optional ``secret``) follows Feishu's documented scheme: the HMAC-SHA256
key is ``f"{timestamp}\\n{secret}"``, the message is empty, and the base64 digest
goes in the body as ``sign`` next to ``timestamp`` (seconds).
Feishu answers HTTP 200 with ``{"code": 0}`` on success and a non-zero code on
errors, so the code, not the HTTP status, decides the outcome.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from kpiengine import hookimpl
from kpiengine.http import TIMEOUT_OPTIONS, URL_OPTION, post_json, raise_for_bot_answer, timeouts
from kpiengine.render import headline, item_facts, item_title, status_mark, to_markdown, truncate
from kpiengine.sinks import Notification, Sink

#: codes meaning "too many requests, slow down": retry later; every other non-zero code is permanent
RATE_LIMIT_CODES = {9499, 11232}
_HINTS = {
    19021: "check `secret` (signature mismatch) and the server clock",
    19024: "the bot's keyword filter rejected the message",
}
_TEMPLATE = {"critical": "red", "warning": "orange", "info": "blue"}
_MAX_ITEMS = 10


def sign(timestamp: int, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def card(n: Notification) -> dict:
    elements: list[dict] = []
    if n.text:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": truncate(n.text, 2000)}})
    for item in n.items[:_MAX_ITEMS]:
        title = f"**{status_mark(item.severity, item.status)} {item_title(item)}**"
        if item.message:
            title += "\n" + item.message
        fields = [{"is_short": True, "text": {"tag": "lark_md", "content": f"**{label}**\n{value}"}}
                  for label, value in item_facts(item)]
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": title}, "fields": fields})
        if item.playbook:
            elements.append({"tag": "note", "elements": [
                {"tag": "plain_text", "content": truncate("Playbook: " + item.playbook.strip(), 1000)}]})
        elements.append({"tag": "hr"})
    if len(n.items) > _MAX_ITEMS:
        elements.append({"tag": "note", "elements": [
            {"tag": "plain_text", "content": f"… and {len(n.items) - _MAX_ITEMS} more alert(s)"}]})
    if elements and elements[-1] == {"tag": "hr"}:
        elements.pop()
    template = "green" if n.status == "resolved" else _TEMPLATE.get(n.severity, "grey")
    return {"config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": truncate(headline(n), 100)},
                       "template": template},
            "elements": elements}


def post_content(n: Notification, locale: str) -> dict:
    """A ``post`` (rich text) message: one paragraph per line of the Markdown rendering."""
    body = to_markdown(n, heading="").split("\n")[1:]  # the title carries the headline
    lines = [[{"tag": "text", "text": line}] for line in body if line.strip()]
    return {"post": {locale: {"title": headline(n), "content": lines}}}


class FeishuSink(Sink):
    type_name = "feishu"
    description = "Feishu / Lark custom bot webhook (interactive card or post), optional signing."
    options_schema = {
        "type": "object",
        "properties": {
            "webhook_url": URL_OPTION,
            "secret": {"type": "string", "minLength": 1, "description": "signing secret of the bot (安全设置 签名校验)"},
            "msg_type": {"enum": ["interactive", "post"], "default": "interactive"},
            "locale": {"enum": ["zh_cn", "en_us", "ja_jp"], "default": "zh_cn",
                       "description": "language key of a post message"},
            **TIMEOUT_OPTIONS,
        },
        "required": ["webhook_url"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()

    def message(self, n: Notification, timestamp: int) -> dict:
        body: dict = {}
        if self.options.get("secret"):
            body.update(timestamp=str(timestamp), sign=sign(timestamp, self.options["secret"]))
        if self.options.get("msg_type", "interactive") == "post":
            body.update(msg_type="post", content=post_content(n, self.options.get("locale", "zh_cn")))
        else:
            body.update(msg_type="interactive", card=card(n))
        return body

    def send(self, notification: Notification) -> None:
        body = self.message(notification, int(time.time()))
        response = post_json(self.options["webhook_url"], body, sink=self.name, secrets=self.secret_values(),
                             **timeouts(self.options))
        raise_for_bot_answer(response, sink=self.name, service="Feishu", code_keys=("code", "StatusCode"),
                             message_keys=("msg", "StatusMessage"), retryable_codes=RATE_LIMIT_CODES, hints=_HINTS,
                             secrets=self.secret_values())


@hookimpl
def kpiengine_sink_types():
    return [FeishuSink]
