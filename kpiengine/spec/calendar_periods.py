"""The periods of each custom calendar grain, as the warehouse holds them, for period arithmetic in Python.

A request at a custom grain reads the calendar's periods once (sql/calendar_sql.py) and the
engine hands them here; truncating a day, stepping a period and completeness then work on
them like on weeks and months. Pure Python, apart from :mod:`kpiengine.spec.calendars`
(which checks the spec and imports the SQL checker), so a run reading a cached plan needs
no SQL machinery to do period arithmetic.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

# grain -> (sorted first days, the day after the calendar's last day): filled by the engine from the
# calendar query of a request (sql/calendar_sql.py), read by period arithmetic (spec.offsets, sql.periods).
_PERIODS: dict[str, tuple[list[date], date]] = {}


def remember_periods(grain: str, rows: Iterable[tuple]) -> None:
    """Rows of (period first day, last calendar day of the period) for ``grain``."""
    starts, last = set(), None
    for start, end in rows:
        if start is None:
            continue
        start, end = _as_date(start), _as_date(end)
        starts.add(start)
        last = end if last is None or (end is not None and end > last) else last
    ordered = sorted(starts)
    if ordered:
        _PERIODS[grain] = (ordered, (last or ordered[-1]) + timedelta(days=1))


def known_periods(grain: str) -> list[date] | None:
    found = _PERIODS.get(grain)
    return None if found is None else list(found[0])


def custom_truncate(d: date, grain: str) -> date | None:
    """The first day of the custom period holding ``d``; None when ``grain`` is no custom grain read yet."""
    found = _PERIODS.get(grain)
    if found is None:
        return None
    starts, end = found
    i = bisect_right(starts, d) - 1
    if i < 0 or d >= end:
        raise ValueError(f"{d} is outside the calendar of grain '{grain}' ({starts[0]} to {end - timedelta(days=1)})")
    return starts[i]


def custom_shift(d: date, grain: str, n: int) -> date | None:
    """The custom period ``n`` periods after the one starting at ``d``; past the calendar's end: its end."""
    found = _PERIODS.get(grain)
    if found is None:
        return None
    starts, end = found
    i = bisect_right(starts, d) - 1 + n
    if i < 0:
        raise ValueError(f"the calendar of grain '{grain}' starts at {starts[0]}")
    return starts[i] if i < len(starts) else end


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])
