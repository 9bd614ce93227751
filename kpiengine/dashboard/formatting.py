"""Numbers as a sales manager reads them: by unit, with the change coloured by direction.

The dashboard ships display strings next to every raw number in its JSON, so the
page, the HTML report and other tools reading ``/api/...`` all show the same text.
Ratios are stored as fractions (0.125) and shown as percentages (12.5%); a change
of a percentage is shown in percentage points, because "conversion -60%" for a
fall from 20% to 8% confuses people while "-12.0 pp" does not.
"""
from __future__ import annotations

import math

# Below this relative change a KPI is "flat": neither good nor bad news.
FLAT_RELATIVE = 0.005
FLAT_POINTS = 0.0005  # 0.05 percentage points


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def format_value(value, unit: str = "number", fmt: str | None = None) -> str:
    """Full display form: ``12.5%``, ``1,234,567``, ``2h 05m``; an em dash when missing."""
    if not _finite(value):
        return "—"
    value = float(value)
    if fmt:
        try:
            return fmt.format(value)
        except (ValueError, IndexError, KeyError):
            pass  # a bad custom format falls back to the unit's default
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{round(value):,}"
    if unit == "currency":
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if unit == "duration":
        return format_duration(value)
    # Three significant digits past 100 would read 291 next to 3,058: whole numbers from 100 on,
    # one decimal from 10, two below, so a column of numbers lines up in one style.
    if abs(value) >= 100:
        return f"{value:,.0f}"
    decimals = 1 if abs(value) >= 10 else 2
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def format_short(value, unit: str = "number", fmt: str | None = None) -> str:
    """Compact form for tiles and axes: ``1.2M``, ``34.5k``; percentages as in full."""
    if not _finite(value):
        return "—"
    value = float(value)
    if unit in ("percent", "duration") or fmt:
        return format_value(value, unit, fmt)
    for limit, scale, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= limit:
            return f"{value / scale:.1f}{suffix}"
    return format_value(value, unit)


def format_duration(seconds: float) -> str:
    """Durations are stored in seconds; show the two largest parts (``3d 4h``, ``2h 05m``)."""
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:.0f}s"
    minutes, sec = divmod(int(round(s)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days}d {hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {sec:02d}s"


def change(current, previous, unit: str = "number") -> dict:
    """Change of ``current`` against ``previous``: absolute, relative and its display text.

    Relative change is None when the previous value is 0 or missing (no
    meaningful percentage); the display then falls back to the absolute change.
    """
    if not (_finite(current) and _finite(previous)):
        return {"abs": None, "rel": None, "text": "no previous value" if _finite(current) else "no data"}
    current, previous = float(current), float(previous)
    diff = current - previous
    rel = diff / abs(previous) if previous != 0 else None
    if unit == "percent":
        text = f"{diff * 100:+.1f} pp"
    elif rel is not None:
        text = f"{rel * 100:+.1f}%"
    else:
        text = ("+" if diff >= 0 else "-") + format_short(abs(diff), unit)
    return {"abs": diff, "rel": rel, "text": text}


def tone(delta: dict, direction: str = "higher", unit: str = "number") -> str:
    """``good``, ``bad`` or ``flat`` for a change, read through the KPI's direction.

    A drop is bad for conversion (direction higher) and good for churn (lower).
    """
    diff, rel = delta.get("abs"), delta.get("rel")
    if diff is None:
        return "flat"
    if unit == "percent":
        if abs(diff) < FLAT_POINTS:
            return "flat"
    elif rel is not None and abs(rel) < FLAT_RELATIVE:
        return "flat"
    elif diff == 0:
        return "flat"
    up = diff > 0
    return "good" if up == (direction != "lower") else "bad"


def severity_of_change(delta: dict, unit: str = "number") -> float:
    """How big a change is, comparable across KPIs: the relative change (points * 5 for a rate from 0).

    Used only to rank "what moved most". A rate is judged relative to its own
    level like a volume: conversion falling from 21.8 % to 8.5 % (-61 %) is a
    worse week than a win rate falling from 52 % to 29 % (-45 %), although the
    second moved more points.
    """
    if delta.get("abs") is None:
        return 0.0
    if delta.get("rel") is not None:
        return abs(delta["rel"])
    return abs(delta["abs"]) * 5 if unit == "percent" else 0.0
