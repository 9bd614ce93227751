"""Error types shared by the core, the plugins and the command line.

Every error a user can cause carries enough context to be fixed without a
traceback: where it happened (file, line, column, or the source/sink name) and
a hint saying what to do.
"""
from __future__ import annotations

from dataclasses import dataclass


class KpiEngineError(Exception):
    """Base class: the CLI prints these as messages, never as tracebacks."""


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class SpecIssue:
    """One problem found in a spec: what, where, and how to fix it."""

    message: str
    location: Location | None = None
    hint: str | None = None
    code: str = "spec"
    #: "error" stops the spec from loading; "warning" is reported and the spec still runs
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity != "warning"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f"\n    hint: {self.hint}" if self.hint else ""
        return f"{where}{self.severity}: {self.message}{hint}"

    def to_dict(self) -> dict:
        loc = self.location
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
        }


class SpecError(KpiEngineError):
    """A spec failed validation. ``issues`` holds every problem found in one pass."""

    def __init__(self, issues: list[SpecIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class SourceError(KpiEngineError):
    """A data source failed: refused connection, bad credentials, missing table, timeout.

    The message always names the source so a user with several warehouses knows
    which one to look at.
    """

    def __init__(self, source: str, message: str, *, hint: str | None = None):
        self.source = source
        self.hint = hint
        self.detail = f"source '{source}': {message}"  # without the hint, for located reports
        text = self.detail
        if hint:
            text += f"\n    hint: {hint}"
        super().__init__(text)


class SinkError(KpiEngineError):
    """Base for alert-sink delivery failures."""

    def __init__(self, sink: str, message: str):
        self.sink = sink
        super().__init__(f"sink '{sink}': {message}")


class RetryableSinkError(SinkError):
    """Delivery failed but may succeed later (5xx, 429, timeout, refused connection).

    ``retry_after`` (seconds) is set when the receiver said how long to wait
    (HTTP Retry-After); the outbox honours it instead of its own backoff.
    """

    def __init__(self, sink: str, message: str, *, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(sink, message)


class PermanentSinkError(SinkError):
    """Delivery can never succeed as configured (4xx other than 429, bad address, auth refused)."""


class PluginError(KpiEngineError):
    """A plugin could not be loaded or registered something invalid."""
