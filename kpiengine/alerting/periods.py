"""Period arithmetic for baselines: which earlier period a rule compares with.

Periods are identified by their first day (``period_start``, a ``date``), as in
the engine's results. Weeks start on Monday, so shifting by whole weeks keeps
them aligned; months, quarters and years shift by calendar months.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

GRAIN_DAYS = {"day": 1, "week": 7}
GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def add_months(d: date, months: int) -> date:
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    # period starts are the 1st of a month for month-like grains; clamp other days safely
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(day, 31))
        except ValueError:
            continue
    return date(year, month, 28)


def shift(period: date, grain: str, n: int) -> date:
    """The period ``n`` grains after ``period`` (negative n: before)."""
    if grain in GRAIN_DAYS:
        return period + timedelta(days=GRAIN_DAYS[grain] * n)
    if grain in GRAIN_MONTHS:
        return add_months(period, GRAIN_MONTHS[grain] * n)
    raise ValueError(f"unknown grain {grain!r}")


def period_length(period: date, grain: str) -> timedelta:
    return shift(period, grain, 1) - period


def truncate(d: date, grain: str) -> date:
    """The start of the period of ``grain`` containing ``d`` (Monday weeks)."""
    if grain == "day":
        return d
    if grain == "week":
        return d - timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    if grain == "year":
        return date(d.year, 1, 1)
    raise ValueError(f"unknown grain {grain!r}")


def same_period_last_week(period: date, grain: str) -> date:
    """Seven days earlier for daily data; for coarser grains, the previous period."""
    if grain == "day":
        return period - timedelta(days=7)
    return shift(period, grain, -1)


def same_period_last_year(period: date, grain: str) -> date:
    """A year earlier, on the same weekday for days and weeks (364 days), by calendar otherwise."""
    if grain in GRAIN_DAYS:
        return period - timedelta(days=364)
    return add_months(period, -12)


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
