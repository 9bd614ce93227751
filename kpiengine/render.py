"""Turn a :class:`~kpiengine.sinks.Notification` into words: plain text, Markdown and HTML.

Every sink shows the same facts in the same order (KPI, value, baseline,
change, threshold, where in the process, owner, playbook), so a manager who
gets the e-mail and the chat message reads one story. Sinks with a structured
format (Slack blocks, Feishu cards, Teams cards) build it from
:func:`item_facts`; the others use :func:`to_text`, :func:`to_markdown` or
:func:`to_html`.
"""
from __future__ import annotations

import html
import math
from typing import Any

from .sinks import AlertItem, Notification

SEVERITY_MARK = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
RESOLVED_MARK = "✅"
#: a grouped notification lists at most this many alerts in full
DEFAULT_MAX_ITEMS = 20


def format_value(value: float | None, unit: str | None = None) -> str:
    """A KPI value as people read it, and as the alert messages write it.

    Fractions as percent (0.125 -> ``12.5 %``), thousands separated and without
    cents from 1,000 up (381,783), durations (seconds) in s/m/h/d.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "percent":
        return f"{value * 100:,.1f} %"
    if unit == "duration":
        for size, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
            if abs(value) >= size:
                return f"{value / size:.1f}{suffix}"
        return f"{value:.0f}s"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    if unit == "currency":
        return f"{value:.2f}"
    return f"{value:.4g}"


def format_change(change: float | None) -> str:
    """A relative change: 0.18 -> '+18.0 %', -0.052 -> '-5.2 %'."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "n/a"
    return f"{change * 100:+,.1f} %"


def format_dimensions(dimensions: dict[str, Any]) -> str:
    """``region=east, channel=web``; a NULL dimension value is shown as ``(none)``."""
    return ", ".join(f"{k}={'(none)' if v is None else v}" for k, v in dimensions.items())


def status_mark(severity: str, status: str) -> str:
    return RESOLVED_MARK if status == "resolved" else SEVERITY_MARK.get(severity, "⚪")


def headline(n: Notification) -> str:
    """One line saying how bad and what: ``🔴 CRITICAL: Conversion dropped``."""
    word = "RESOLVED" if n.status == "resolved" else n.severity.upper()
    return f"{status_mark(n.severity, n.status)} {word}: {n.title}"


def item_title(item: AlertItem) -> str:
    """The KPI label with the dimension values and period it fired for."""
    where = [format_dimensions(item.dimensions)] if item.dimensions else []
    if item.period_start:
        where.append(item.period_start)
    return f"{item.kpi_label or item.kpi}" + (f" ({' · '.join(where)})" if where else "")


def item_facts(item: AlertItem) -> list[tuple[str, str]]:
    """(label, value) pairs describing one alert, in display order; empty facts are left out."""
    facts = [("KPI", item.kpi_label or item.kpi)]
    reason = getattr(item, "reason", "")
    if reason == "error":  # nothing was measured: the error is the fact, a stale value would mislead
        facts.append(("Error", item.error or "the query failed"))
    elif reason == "no_data":
        facts.append(("Value", "no data"))
    else:
        facts += [("Value", format_value(item.value, item.unit)),
                  ("Baseline", format_value(item.baseline, item.unit)),
                  ("Change", format_change(item.change))]
    if item.threshold is not None:
        facts.append(("Threshold", format_value(item.threshold, item.unit)))
    if item.dimensions:
        facts.append(("Dimensions", format_dimensions(item.dimensions)))
    if item.period_start:
        facts.append(("Period", item.period_start))
    if item.process_path:
        facts.append(("Process", " > ".join(item.process_path)))
    if item.owner:
        facts.append(("Owner", item.owner))
    return facts


def _shown(n: Notification, max_items: int) -> tuple[list[AlertItem], int]:
    return n.items[:max_items], max(0, len(n.items) - max_items)


def to_text(n: Notification, *, max_items: int = DEFAULT_MAX_ITEMS) -> str:
    """Plain text for terminals, log files and the text part of an e-mail."""
    lines = [headline(n)]
    if n.text:
        lines += ["", n.text.rstrip()]
    items, hidden = _shown(n, max_items)
    for item in items:
        lines += ["", f"{status_mark(item.severity, item.status)} {item_title(item)}"]
        if item.message:
            lines.append(f"  {item.message}")
        lines += [f"  {label}: {value}" for label, value in item_facts(item)]
        if item.playbook:
            lines.append("  Playbook: " + item.playbook.strip().replace("\n", "\n            "))
        if item.url:
            lines.append(f"  Dashboard: {item.url}")
    if hidden:
        lines += ["", f"… and {hidden} more alert(s)"]
    return "\n".join(lines) + "\n"


def to_markdown(n: Notification, *, max_items: int = DEFAULT_MAX_ITEMS, heading: str = "### ") -> str:
    """CommonMark-style Markdown (bold, lists, quotes), understood by DingTalk, WeCom, Feishu and Teams."""
    lines = [f"{heading}{headline(n)}"]
    if n.text:
        lines += ["", n.text.rstrip()]
    items, hidden = _shown(n, max_items)
    for item in items:
        lines += ["", f"**{status_mark(item.severity, item.status)} {item_title(item)}**"]
        if item.message:
            lines += ["", item.message]
        lines.append("")
        lines += [f"- {label}: {value}" for label, value in item_facts(item)]
        if item.url:
            lines.append(f"- [Open in the dashboard]({item.url})")
        if item.playbook:
            lines += ["", "> Playbook: " + " ".join(item.playbook.split())]
    if hidden:
        lines += ["", f"… and {hidden} more alert(s)"]
    return "\n".join(lines)


def to_html(n: Notification, *, max_items: int = DEFAULT_MAX_ITEMS) -> str:
    """A small self-contained HTML document (inline styles only: mail clients drop <style> and CSS files)."""
    e = html.escape
    colour = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}.get(n.severity, "#555")
    if n.status == "resolved":
        colour = "#2e7d32"
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"></head>',
             '<body style="font-family:-apple-system,Segoe UI,Roboto,Noto Sans CJK SC,Microsoft YaHei,sans-serif">',
             f'<h2 style="color:{colour}">{e(headline(n))}</h2>']
    if n.text:
        parts.append(f'<p style="white-space:pre-wrap">{e(n.text.rstrip())}</p>')
    items, hidden = _shown(n, max_items)
    for item in items:
        parts.append(f"<h3>{e(status_mark(item.severity, item.status))} {e(item_title(item))}</h3>")
        if item.message:
            parts.append(f"<p>{e(item.message)}</p>")
        rows = "".join(f'<tr><th style="text-align:left;padding-right:1em">{e(k)}</th><td>{e(v)}</td></tr>'
                       for k, v in item_facts(item))
        parts.append(f"<table>{rows}</table>")
        if item.playbook:
            parts.append(f'<p><b>Playbook:</b> <span style="white-space:pre-wrap">{e(item.playbook.strip())}</span></p>')
        if item.url:
            parts.append(f'<p><a href="{e(item.url)}">Open in the dashboard</a></p>')
    if hidden:
        parts.append(f"<p>… and {hidden} more alert(s)</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def truncate(text: str, max_chars: int, marker: str = "…") -> str:
    """``text`` cut to at most ``max_chars`` characters, ending with ``marker`` when cut."""
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - len(marker))] + marker


def truncate_utf8(text: str, max_bytes: int, marker: str = "…") -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes without splitting a character (WeCom counts bytes)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(marker.encode("utf-8")))
    return data[:room].decode("utf-8", errors="ignore") + marker
