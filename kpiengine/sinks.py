"""The alert-sink interface: where an alert leaves the building.

A sink plugin returns ``Sink`` subclasses from the ``kpiengine_sink_types`` hook.
The alerting outbox calls :meth:`Sink.send` once per delivery attempt and reads
the outcome from the exception it raises (or not):

* returns normally: delivered, the receiver acknowledged it;
* raises :class:`~kpiengine.errors.RetryableSinkError`: try again later
  (5xx, 429 with Retry-After, timeout, refused connection);
* raises :class:`~kpiengine.errors.PermanentSinkError`: never retry
  (bad request, unknown channel, authentication refused).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .errors import PermanentSinkError, RetryableSinkError

SEVERITIES = ("info", "warning", "critical")


@dataclass
class AlertItem:
    """One alert inside a (possibly grouped) notification."""

    rule: str
    kpi: str
    kpi_label: str
    severity: str
    status: str  # "firing" or "resolved"
    period_start: str | None = None
    dimensions: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    baseline: float | None = None
    change: float | None = None  # relative change, 0.18 == +18 %
    threshold: float | None = None
    unit: str | None = None
    process_path: list[str] = field(default_factory=list)
    owner: str | None = None
    playbook: str | None = None
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # "" (the value breached), "no_data" or "error": alerts of their own kind
    error: str | None = None  # with reason "error": what the warehouse said
    url: str | None = None  # the dashboard at this alert's KPI, period and dimension values (project.url)


@dataclass
class Notification:
    """What a sink delivers: one message, grouping one or more alerts.

    ``idempotency_key`` is stable across retries of the same notification, so a
    receiver that de-duplicates (webhooks, Slack via a header) never shows it twice.
    """

    idempotency_key: str
    title: str
    severity: str  # highest severity among the items
    status: str  # "firing" or "resolved"
    text: str  # plain-text body, ready to print
    items: list[AlertItem] = field(default_factory=list)
    route: str = "default"
    created_at: str = ""  # ISO 8601 UTC

    @property
    def kpi(self) -> str | None:
        return self.items[0].kpi if self.items else None

    @property
    def process_path(self) -> list[str]:
        return self.items[0].process_path if self.items else []

    def payload(self) -> dict:
        """The structured, JSON-serialisable form sent by webhook-style sinks."""
        return asdict(self)


class Sink(ABC):
    """One configured alert destination (a ``sinks:`` entry of the spec)."""

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options_schema: ClassVar[dict] = {"type": "object"}
    secret_options: ClassVar[tuple[str, ...]] = ("password", "token", "secret", "url", "webhook_url")

    def __init__(self, name: str, options: dict[str, Any]):
        self.name = name
        self.options = dict(options)

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver one notification or raise RetryableSinkError / PermanentSinkError."""

    def close(self) -> None:
        """Release resources (connections); safe to call twice."""

    def check_options(self) -> None:
        """Validate ``self.options`` against ``options_schema``; raise PermanentSinkError naming the option.

        Built-in sinks call this in ``__init__`` so a sink built outside the spec
        validator (tests, other tools) still fails with a message, not a KeyError.
        The message names options, never their values: they hold tokens and passwords.
        """
        import jsonschema  # lazy: every plugin imports this module; it stays import-light

        validator = jsonschema.Draft202012Validator(self.options_schema)
        errors = sorted(validator.iter_errors(self.options), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            raise self.permanent(f"{_describe_option_error(errors[0], self.secret_options)} "
                                 f"(sink type '{self.type_name}'; its options are in docs/plugins.md)")

    def secret_values(self) -> list[str]:
        """The values of secret options, for scrubbing them out of error messages."""
        return [str(v) for k, v in self.options.items() if k in self.secret_options and v]

    def retryable(self, message: str, retry_after: float | None = None) -> RetryableSinkError:
        return RetryableSinkError(self.name, message, retry_after=retry_after)

    def permanent(self, message: str) -> PermanentSinkError:
        return PermanentSinkError(self.name, message)


def _describe_option_error(err, secret_options: tuple[str, ...]) -> str:
    """A jsonschema error in words that never quote an option's value."""
    path = [str(p) for p in err.absolute_path]
    if path:
        # err.message quotes the value ("'abc' does not match ..."): only for non-secret options
        secret = any(p in secret_options for p in path)
        if secret:  # the schema's description says what is expected without quoting the value
            wanted = err.schema.get("description") if isinstance(err.schema, dict) else None
            if err.validator != "pattern" and isinstance(err.parent, type(err)):
                wanted = None
            return f"option '{'.'.join(path)}' has an invalid value" + (f": expected a {wanted}" if wanted else "")
        return f"option '{'.'.join(path)}' " + err.message
    if err.validator in ("required", "additionalProperties", "dependentRequired"):
        return err.message  # names only
    names = _required_names(err.validator_value)
    if err.validator == "oneOf" and names:
        return "give exactly one of " + ", ".join(f"'{n}'" for n in names)
    if err.validator == "not" and names:
        return "options " + " and ".join(f"'{n}'" for n in names) + " cannot be used together"
    return f"options break the schema's '{err.validator}' rule"


def _required_names(schema) -> list[str]:
    """Option names a oneOf/not rule is about, from its ``required`` lists."""
    parts = schema if isinstance(schema, list) else [schema]
    return [n for part in parts if isinstance(part, dict) for n in part.get("required", [])]
