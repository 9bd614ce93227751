"""Slack sink: an incoming-webhook message in Block Kit (header, facts, playbook)."""
from __future__ import annotations

from kpiengine import hookimpl
from kpiengine.http import TIMEOUT_OPTIONS, URL_OPTION, post_json, timeouts
from kpiengine.render import format_change, format_value, headline, item_title, status_mark, truncate
from kpiengine.sinks import AlertItem, Notification, Sink

# Slack limits (https://api.slack.com/reference/block-kit/blocks): 50 blocks per
# message, 150 characters in a header, 2000 per field, 3000 per section text.
_MAX_ITEMS = 15  # 3 blocks per item + header + summary stays far below 50


def _escape(text: str) -> str:
    """Slack mrkdwn needs &, < and > escaped; nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _field(label: str, value: str) -> dict:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{_escape(value)}", 2000)}


def item_blocks(item: AlertItem) -> list[dict]:
    if item.reason == "error":  # an error alert shows the error, not a stale value
        fields = [_field("KPI", item.kpi_label or item.kpi), _field("Error", item.error or "the query failed")]
    else:
        fields = [_field("KPI", item.kpi_label or item.kpi),
                  _field("Value", "no data" if item.reason == "no_data" else format_value(item.value, item.unit)),
                  _field("Baseline", format_value(item.baseline, item.unit)),
                  _field("Change", format_change(item.change))]
    if item.process_path:
        fields.append(_field("Process", " > ".join(item.process_path)))
    if item.threshold is not None:
        fields.append(_field("Threshold", format_value(item.threshold, item.unit)))
    if item.owner:
        fields.append(_field("Owner", item.owner))
    title = f"{status_mark(item.severity, item.status)} *{_escape(item_title(item))}*"
    if item.message:
        title += "\n" + _escape(item.message)
    if item.url:  # urlencoded: holds no <, > or |, which would end Slack's link syntax
        title += f"\n<{item.url}|Open in the dashboard>"
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(title, 3000)},
                           "fields": fields[:10]}]
    if item.playbook:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": truncate("*Playbook:* " + _escape(item.playbook.strip()), 2000)}]})
    return blocks


def slack_message(n: Notification) -> dict:
    """The webhook body: ``text`` is the fallback shown in notifications, ``blocks`` the message."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": truncate(headline(n), 150),
                                                       "emoji": True}}]
    if n.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(_escape(n.text), 3000)}})
    for item in n.items[:_MAX_ITEMS]:
        blocks += item_blocks(item)
    if len(n.items) > _MAX_ITEMS:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"… and {len(n.items) - _MAX_ITEMS} more alert(s)"}]})
    # the top-level text is mrkdwn too (notifications, clients without blocks): `<!channel>` from a
    # dimension value or label would ping the whole channel unless escaped
    return {"text": _escaped_fit(headline(n), 3000), "blocks": blocks}


def _escaped_fit(text: str, limit: int) -> str:
    """``text`` escaped and cut to ``limit`` characters without splitting an entity such as ``&amp;``."""
    raw = truncate(text, limit)
    while len(_escape(raw)) > limit:
        raw = truncate(text, max(1, len(raw) - (len(_escape(raw)) - limit)))
    return _escape(raw)


class SlackSink(Sink):
    type_name = "slack"
    description = "Slack incoming webhook (Block Kit message)."
    options_schema = {
        "type": "object",
        "properties": {"webhook_url": URL_OPTION, **TIMEOUT_OPTIONS},
        "required": ["webhook_url"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()

    def send(self, notification: Notification) -> None:
        # Slack answers 200 "ok"; bad tokens (403 invalid_token), removed hooks (404
        # no_service) and bad payloads (400) are 4xx and so permanent in post_json.
        post_json(self.options["webhook_url"], slack_message(notification), sink=self.name,
                  headers={"Idempotency-Key": notification.idempotency_key},
                  secrets=self.secret_values(), **timeouts(self.options))


@hookimpl
def kpiengine_sink_types():
    return [SlackSink]
