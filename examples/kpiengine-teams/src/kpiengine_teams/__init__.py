"""Microsoft Teams sink for kpiengine: an Adaptive Card posted to a Teams webhook.

Works with both kinds of Teams webhook URL: the Workflows ("Post to a channel
when a webhook request is received") URL, which answers 202, and the older
Office 365 connector URL (``*.webhook.office.com``), which answers 200 "1".
Uses only kpiengine's public plugin API. The plugin also adds a tiny ``sla:``
spec section (:mod:`kpiengine_teams.sla`), to show how a plugin extends the spec.
"""
from __future__ import annotations

from kpiengine import hookimpl
from kpiengine.http import TIMEOUT_OPTIONS, URL_OPTION, post_json, timeouts
from kpiengine.render import headline, item_facts, item_title, status_mark, truncate
from kpiengine.sinks import Notification, Sink

from .sla import SlaSection

__version__ = "0.1.0"

_COLOUR = {"critical": "Attention", "warning": "Warning", "info": "Accent"}
_MAX_ITEMS = 10


def adaptive_card(n: Notification) -> dict:
    """The Adaptive Card (schema 1.4, rendered by Teams desktop, web and mobile)."""
    colour = "Good" if n.status == "resolved" else _COLOUR.get(n.severity, "Default")
    body: list[dict] = [{"type": "TextBlock", "text": headline(n), "weight": "Bolder", "size": "Large",
                         "color": colour, "wrap": True}]
    if n.text:
        body.append({"type": "TextBlock", "text": truncate(n.text, 2000), "wrap": True})
    for item in n.items[:_MAX_ITEMS]:
        body.append({"type": "TextBlock", "text": f"{status_mark(item.severity, item.status)} {item_title(item)}",
                     "weight": "Bolder", "wrap": True, "separator": True})
        if item.message:
            body.append({"type": "TextBlock", "text": item.message, "wrap": True})
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in item_facts(item)]})
        if item.playbook:
            body.append({"type": "TextBlock", "text": "Playbook: " + item.playbook.strip(), "wrap": True,
                         "isSubtle": True})
    if len(n.items) > _MAX_ITEMS:
        body.append({"type": "TextBlock", "text": f"… and {len(n.items) - _MAX_ITEMS} more alert(s)",
                     "isSubtle": True})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "msteams": {"width": "Full"}, "body": body}


def teams_message(n: Notification) -> dict:
    """The webhook body: a message with one Adaptive Card attachment."""
    return {"type": "message", "summary": truncate(headline(n), 200),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": adaptive_card(n)}]}


class TeamsSink(Sink):
    type_name = "teams"
    description = "Microsoft Teams webhook (Workflows or Office 365 connector), Adaptive Card."
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
        # post_json maps HTTP 429/5xx/timeouts to RetryableSinkError and other 4xx to PermanentSinkError
        response = post_json(self.options["webhook_url"], teams_message(notification), sink=self.name,
                             headers={"Idempotency-Key": notification.idempotency_key},
                             secrets=self.secret_values(), **timeouts(self.options))
        # Office 365 connectors report throttling inside a 200 answer instead of a 429
        if "HTTP error 429" in response.text:
            raise self.retryable("Teams is throttling this webhook (HTTP error 429 inside a 200 answer)")


@hookimpl
def kpiengine_sink_types():
    return [TeamsSink]


@hookimpl
def kpiengine_spec_sections():
    return [SlaSection()]
