"""Generic webhook sink: POSTs the notification as JSON, optionally signed with HMAC-SHA256.

The receiver verifies ``X-Kpiengine-Signature: sha256=<hex>``, the HMAC-SHA256
of the raw request body keyed with the shared ``secret``, and de-duplicates
retries by the ``Idempotency-Key`` header (stable across retries).
"""
from __future__ import annotations

import hashlib
import hmac

from kpiengine import hookimpl
from kpiengine.http import TIMEOUT_OPTIONS, URL_OPTION, encode_json, post_json, timeouts
from kpiengine.sinks import Notification, Sink

SIGNATURE_HEADER = "X-Kpiengine-Signature"


def signature(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=`` + hex HMAC-SHA256 keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSink(Sink):
    type_name = "webhook"
    description = "POST the notification as JSON to any URL (optional HMAC-SHA256 signature)."
    secret_options = ("url", "secret", "headers")
    options_schema = {
        "type": "object",
        "properties": {
            "url": URL_OPTION,
            "secret": {"type": "string", "minLength": 1,
                       "description": "shared key for the X-Kpiengine-Signature header"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "extra request headers (e.g. Authorization)"},
            **TIMEOUT_OPTIONS,
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()

    def send(self, notification: Notification) -> None:
        body = encode_json(notification.payload())
        headers = dict(self.options.get("headers") or {})
        headers["Idempotency-Key"] = notification.idempotency_key
        secret = self.options.get("secret")
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        secrets = [self.options["url"], *(headers.values() if self.options.get("headers") else [])]
        if secret:
            secrets.append(secret)
        post_json(self.options["url"], body, sink=self.name, headers=headers, secrets=secrets,
                  **timeouts(self.options))


@hookimpl
def kpiengine_sink_types():
    return [WebhookSink]
