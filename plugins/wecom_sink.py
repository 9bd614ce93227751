"""WeCom (企业微信) sink: group robot webhook, Markdown message.

The robot is addressed by its ``key`` (or the full ``webhook_url`` containing
it). WeCom answers HTTP 200 with ``{"errcode": 0}``; a non-zero errcode is the
outcome. Markdown content is limited to 4096 UTF-8 bytes and is cut to fit.
"""
from __future__ import annotations

import urllib.parse

from kpiengine import hookimpl
from kpiengine.http import TIMEOUT_OPTIONS, URL_OPTION, post_json, raise_for_bot_answer, timeouts
from kpiengine.render import to_markdown, truncate_utf8
from kpiengine.sinks import Notification, Sink

WEBHOOK_BASE = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
#: 45009: API frequency limit (20 messages a minute per robot); -1: system busy
RETRYABLE_CODES = {45009, -1}
_HINTS = {
    93000: "the robot key is invalid or the robot was removed; copy its webhook again",
    40008: "WeCom rejected the message type",
}
_MAX_BYTES = 4096


class WeComSink(Sink):
    type_name = "wecom"
    description = "WeCom (企业微信) group robot webhook (Markdown)."
    secret_options = ("key", "webhook_url")
    options_schema = {
        "type": "object",
        "properties": {
            "key": {"type": "string", "minLength": 1, "description": "the robot's key; keep it in ${ENV}"},
            "webhook_url": URL_OPTION,
            "mention": {"type": "array", "items": {"type": "string"},
                        "description": "WeCom user ids to @-mention"},
            **TIMEOUT_OPTIONS,
        },
        "oneOf": [{"required": ["key"]}, {"required": ["webhook_url"]}],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()
        self.url = self.options.get("webhook_url") or \
            f"{WEBHOOK_BASE}?key={urllib.parse.quote(self.options['key'], safe='')}"

    def message(self, n: Notification) -> dict:
        text = to_markdown(n)
        mention = " ".join(f"<@{user}>" for user in self.options.get("mention") or [])
        if mention:
            text = truncate_utf8(text, _MAX_BYTES - len(mention.encode("utf-8")) - 2) + "\n\n" + mention
        return {"msgtype": "markdown", "markdown": {"content": truncate_utf8(text, _MAX_BYTES)}}

    def send(self, notification: Notification) -> None:
        response = post_json(self.url, self.message(notification), sink=self.name, secrets=self.secret_values(),
                             **timeouts(self.options))
        raise_for_bot_answer(response, sink=self.name, service="WeCom", code_keys=("errcode",),
                             message_keys=("errmsg",), retryable_codes=RETRYABLE_CODES, hints=_HINTS,
                             secrets=self.secret_values())


@hookimpl
def kpiengine_sink_types():
    return [WeComSink]
