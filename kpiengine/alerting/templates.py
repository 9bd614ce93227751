"""Alert messages from templates that can never swallow an alert.

Templates use Python's ``{field}`` syntax with plain field names only
(no attribute or index access, so a spec cannot reach into objects). Any
error while rendering falls back to :func:`plain_message`, and the alert goes
out anyway.
"""
from __future__ import annotations

import re
import string
from typing import Any

from ..spec.durations import describe_seconds
from ..spec.limits import MAX_TEMPLATE_WIDTH

FIELDS = ("kpi", "kpi_label", "rule", "severity", "status", "period", "value", "baseline", "change",
          "threshold", "condition", "process_path", "owner", "playbook", "dimensions", "description", "sample",
          "p_value", "unit", "drivers", "filter")


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        if not field_name.isidentifier():
            raise ValueError(f"field {{{field_name}}} is not a plain name")
        return self.get_value(field_name, args, kwargs), field_name

    def format_field(self, value, format_spec):
        if format_spec and _too_wide(format_spec):
            raise ValueError(f"width or precision above {MAX_TEMPLATE_WIDTH} in {{:{format_spec}}}")
        return super().format_field(value, format_spec)


_FORMATTER = _SafeFormatter()


def template_issues(text: str, dimensions: list[str]) -> list[str]:
    """Problems a template would have at render time, found when the spec is validated."""
    known = set(FIELDS) | set(dimensions)
    problems = []
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        return [f"{exc} (write {{{{ and }}}} for literal braces)"]
    for _literal, field, spec, _conv in parsed:
        if field is None:
            continue
        if not field:
            problems.append("empty {} field: name the value, e.g. {value}")
        elif not field.isidentifier():
            problems.append(f"{{{field}}}: only plain field names are allowed")
        elif field not in known:
            problems.append(f"unknown field {{{field}}}")
        if spec and "{" in spec:
            problems.append(f"nested fields in {{{field}:{spec}}} are not supported")
        elif spec and _too_wide(spec):
            problems.append(f"{{{field}:{spec}}}: widths and precisions above {MAX_TEMPLATE_WIDTH} are not allowed")
    return problems


def _too_wide(spec: str) -> bool:
    """A format spec whose width or precision would make one message megabytes long."""
    return any(int(n) > MAX_TEMPLATE_WIDTH for n in re.findall(r"\d+", spec))


def format_value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "n/a"
    if unit == "percent":
        return f"{value * 100:.1f} %"
    if unit == "count" and float(value).is_integer():
        return f"{int(value):,}"
    if unit == "delay":  # a freshness rule's delay in seconds (not a KPI unit)
        return describe_seconds(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_change(change: float | None, mode: str = "percent", unit: str | None = None) -> str:
    if change is None:
        return "n/a"
    if mode == "percent":
        return f"{change * 100:+.1f} %"
    if unit == "percent":
        return f"{change * 100:+.1f} pp"
    return f"{change:+.4g}"


def plain_message(fields: dict[str, Any]) -> str:
    """The message used without a template, or when the template fails."""
    dims = fields.get("dimensions") or ""
    where = f" [{dims}]" if dims else ""
    if fields.get("filter"):  # a rule's `where:`: the value is of that part only
        where += f" where {fields['filter']}"
    text = f"{fields.get('kpi_label') or fields.get('kpi')}{where} is {fields.get('value')}"
    if fields.get("baseline") not in (None, "n/a"):
        text += f" (baseline {fields['baseline']}, change {fields.get('change')})"
    if fields.get("threshold") not in (None, "n/a"):
        text += f"; threshold {fields['threshold']}"
    text += f" in period {fields.get('period')} [{fields.get('severity')}, rule {fields.get('rule')}]"
    return text


def render(template: str | None, fields: dict[str, Any]) -> tuple[str, str | None]:
    """(message, error): the rendered template, or the plain message and why the template failed."""
    if not template:
        return plain_message(fields), None
    try:
        return _FORMATTER.vformat(template, (), fields), None
    except Exception as exc:  # a template error must never swallow the alert
        return plain_message(fields), f"template failed ({type(exc).__name__}: {exc}); plain message used"
