"""Period arithmetic for baselines: which earlier period a rule compares with.

Periods are identified by their first day (``period_start``, a ``date``), as in
the engine's results. Weeks start on Monday, so shifting by whole weeks keeps
them aligned; months, quarters and years shift by calendar months.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from ..sql.periods import PeriodError, python_period_start, shift_period


def shift(period: date, grain: str, n: int) -> date:
    """The period ``n`` grains after ``period`` (negative n: before)."""
    try:
        return shift_period(period, grain, n)
    except PeriodError:
        raise ValueError(f"unknown grain {grain!r}") from None


def period_length(period: date, grain: str) -> timedelta:
    return shift(period, grain, 1) - period


def truncate(d: date, grain: str) -> date:
    """The start of the period of ``grain`` containing ``d`` (Monday weeks)."""
    try:
        return python_period_start(d, grain)
    except PeriodError:
        raise ValueError(f"unknown grain {grain!r}") from None


def same_period_last_week(period: date, grain: str) -> date:
    """Seven days earlier for daily data; for coarser grains, the previous period."""
    if grain == "day":
        return period - timedelta(days=7)
    return shift(period, grain, -1)


def same_period_last_year(period: date, grain: str) -> date:
    """A year earlier, on the same weekday for days and weeks (364 days), by calendar otherwise."""
    if grain in ("day", "week"):
        return period - timedelta(days=364)
    return shift(period, "year", -1)


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
