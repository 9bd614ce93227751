"""Human-readable numbers and tables for the terminal (units, wide CJK characters), and safe CSV cells.

Values in a table come from the warehouse and names from specs: neither may
drive the terminal (an escape sequence in a dimension value could clear the
screen or retitle the window), so control, escape and bidirectional-override
characters are shown as visible escapes. CSV opened in a spreadsheet runs a
cell starting with ``= + - @``, tab or CR as a formula; such text cells get a
leading apostrophe (the OWASP rule) unless the user asks for raw output.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Sequence

#: How a NULL (a missing dimension value, no value) is shown to a person: tables, the dashboard, messages.
#: Machine formats keep their own null: JSON null, an empty CSV field.
NULL_DISPLAY = "∅"

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, and the bidirectional overrides and isolates (they reorder what follows them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def visible(text: str) -> str:
    """``text`` with every control or reordering character written as an escape (``\\x1b``, ``\\n``)."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: _NAMED_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}" if ord(m.group()) > 0xff
                                                    else f"\\x{ord(m.group()):02x}"), text)


def display(value: Any) -> str:
    """A dimension value or a name as a table cell."""
    return NULL_DISPLAY if value is None else visible(str(value))


def csv_number(value: float | int) -> str:
    """A number for CSV without binary float artefacts (10169.350000000004 -> 10169.35)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    text = format(value, ".15g")
    return text if "e" not in text else repr(value)


def csv_cell(value: Any, *, raw: bool = False) -> str:
    """A CSV field: numbers without artefacts, text that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return csv_number(value)
    text = str(value)
    if not raw and text.startswith(_FORMULA_START):
        return "'" + text
    return text


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
    headers = [visible(str(h)) for h in headers]
    rows = [[visible(str(c)) for c in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in rows:
        widths = [max(w, display_width(c)) for w, c in zip(widths, row)]
    line = "  ".join(_pad(h, w, r) for h, w, r in zip(headers, widths, right_align))
    sep = "  ".join("─" * w for w in widths)
    body = ["  ".join(_pad(c, w, r) for c, w, r in zip(row, widths, right_align)) for row in rows]
    return "\n".join([line, sep, *body])
