"""Durations written in specs (``max_delay: 1d``), read the same way by models, checks and freshness rules.

It sits in the spec layer because models declare them; alerting reads the same
text (a freshness rule's own ``max_delay:``) without importing its routing code.
"""
from __future__ import annotations

import re
from typing import Any

from .limits import MAX_DURATION_SECONDS

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_seconds(value: Any) -> float:
    """``90s``, ``15m``, ``4h``, ``2d``, ``1w`` or a number of seconds -> seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration is expected, not true/false")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration such as 30m, 4h or 2d")
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if not 0 <= seconds <= MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is not a duration between 0 and ten years")
    return seconds


def describe_seconds(seconds: float) -> str:
    """A delay as a person reads it: ``3d 4h``, ``45m``."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours and days < 10:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return " ".join(parts) or f"{seconds}s"
