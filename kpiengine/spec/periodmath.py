"""Period arithmetic in plain Python: truncating a day to its period, stepping periods, moving by intervals.

Every layer needs it (offsets in formulas, the compiler's widened scans, completeness,
history, alerting), and a run that reads a cached plan must not import the SQL
machinery to do it; so it lives here, with no SQL at all. Weeks start on Monday; a
custom calendar's grain goes through the periods its calendar holds
(:mod:`kpiengine.spec.calendar_periods`).
"""
from __future__ import annotations

from datetime import date, timedelta

from .calendar_periods import custom_shift, custom_truncate

HINT = ("inside [ ] write an integer number of periods (-1), previous_period, same_period_last_year, "
        "an interval in quotes ('-28 days', '-1 year') or start_of_week|month|quarter|year")


class OffsetError(ValueError):
    def __init__(self, message: str, hint: str | None = HINT):
        super().__init__(message)
        self.hint = hint


class PeriodError(ValueError):
    pass


def truncate(d: date, grain: str) -> date:
    """The first day of the period of ``grain`` containing ``d`` (weeks start on Monday)."""
    if grain == "day":
        return d
    if grain == "week":
        return d - timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return d.replace(month=1, day=1)
    try:
        found = custom_truncate(d, grain)  # a custom calendar's grain, once a request read its periods
    except ValueError as exc:
        raise OffsetError(str(exc), "extend the calendar table to the days the data covers") from None
    if found is not None:
        return found
    raise OffsetError(f"unknown period '{grain}'", None)


def add_interval(d: date, n: int, unit: str) -> date:
    """``d`` moved by ``n`` units; a month end that does not exist is clamped (31 Jan + 1 month = 28 Feb)."""
    if unit == "day":
        return d + timedelta(days=n)
    if unit == "week":
        return d + timedelta(days=7 * n)
    months = n * {"month": 1, "quarter": 3, "year": 12}[unit]
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def shift_period(d: date, grain: str, n: int) -> date:
    """The period ``n`` grains after the period starting at ``d``."""
    if grain not in ("day", "week", "month", "quarter", "year"):
        try:
            found = custom_shift(d, grain, n)
        except ValueError as exc:
            raise OffsetError(str(exc), None) from None
        if found is None:
            raise OffsetError(f"unknown period '{grain}'", None)
        return found
    return truncate(add_interval(d, n, grain), grain) if grain != "day" else d + timedelta(days=n)


def python_period_start(d: date, grain: str) -> date:
    """The same truncation in Python: used to enumerate periods and in tests."""
    try:
        return truncate(d, grain)  # one truncation for the spec's offsets and the periods
    except OffsetError:
        raise PeriodError(f"unknown period '{grain}'") from None


def step_period(d: date, grain: str, n: int) -> date:
    """The period ``n`` grains after the period starting at ``d`` (negative ``n``: before)."""
    if grain == "day":
        return d + timedelta(days=n)
    if grain == "week":
        return d + timedelta(days=7 * n)
    if grain not in ("month", "quarter", "year"):
        try:
            found = custom_shift(d, grain, n)  # a custom calendar's grain (spec.calendars)
        except ValueError as exc:
            raise PeriodError(str(exc)) from None
        if found is None:
            raise PeriodError(f"unknown period '{grain}'")
        return found
    m = d.month - 1 + {"month": 1, "quarter": 3, "year": 12}[grain] * n
    return date(d.year + m // 12, m % 12 + 1, 1)


def next_period(d: date, grain: str) -> date:
    return step_period(d, grain, 1)


def previous_period(d: date, grain: str) -> date:
    return step_period(d, grain, -1)
