"""Human-readable numbers and tables for the terminal (units, wide CJK characters)."""
from __future__ import annotations

import unicodedata
from typing import Any, Sequence


def format_value(value: Any, unit: str | None) -> str:
    if value is None:
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "currency":
        return f"{value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if unit == "duration":
        seconds = float(value)
        if abs(seconds) >= 86400:
            return f"{seconds / 86400:.1f}d"
        if abs(seconds) >= 3600:
            return f"{seconds / 3600:.1f}h"
        if abs(seconds) >= 60:
            return f"{seconds / 60:.1f}m"
        return f"{seconds:.0f}s"
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"


def display_width(text: str) -> int:
    """Terminal columns of ``text``: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right_align: Sequence[bool] | None = None
                 ) -> str:
    right_align = right_align or [False] * len(headers)
    widths = [display_width(h) for h in headers]
    for row in rows:
        widths = [max(w, display_width(c)) for w, c in zip(widths, row)]
    line = "  ".join(_pad(h, w, r) for h, w, r in zip(headers, widths, right_align))
    sep = "  ".join("─" * w for w in widths)
    body = ["  ".join(_pad(c, w, r) for c, w, r in zip(row, widths, right_align)) for row in rows]
    return "\n".join([line, sep, *body])
