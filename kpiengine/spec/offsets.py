"""Time offsets in formulas: ``revenue[-1]``, ``revenue[same_period_last_year]``, ``revenue['-28 days']``.

A formula may read an input at another period than the one it is evaluated for.
What is inside the brackets is one of

* an integer ``N``: N periods of the request's grain later (``-1``: the previous period);
* ``previous_period`` (``-1``) or ``same_period_last_year`` (``'-1 year'``);
* a quoted interval ``'-28 days'``, ``'-2 weeks'``, ``'-3 months'``, ``'-1 quarter'``, ``'-1 year'``:
  the period containing the period's first day moved by the interval;
* ``start_of_week``, ``start_of_month``, ``start_of_quarter``, ``start_of_year``: the period
  containing the first day of that coarser grain (period-to-date comparisons: each day of the
  month against the month's first day).

Offsets are pure functions of (period start, grain), non-decreasing in the period, so the
range of periods a request must scan is the requested range's end points shifted (see
:mod:`kpiengine.sql.windows`). They live here, below ``sql`` and ``run``, because the formula
checker, the compiler (to widen the scan) and the engine (to look values up) all need them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from ..errors import SpecIssue
from .calendars import custom_shift, custom_truncate
from .located import field_loc


class FormulaDialect(DuckDB):
    """DuckDB's grammar with 0-based brackets: DuckDB's own would read ``revenue[-1]`` as index -2."""

    INDEX_OFFSET = 0

_PERIOD_ORDER = ("day", "week", "month", "quarter", "year")
_UNITS = {"day": "day", "days": "day", "d": "day", "week": "week", "weeks": "week", "w": "week",
          "month": "month", "months": "month", "quarter": "quarter", "quarters": "quarter",
          "year": "year", "years": "year", "y": "year"}
_INTERVAL = re.compile(r"^\s*([+-]?\d{1,4})\s*([a-z]+)\s*$")

HINT = ("inside [ ] write an integer number of periods (-1), previous_period, same_period_last_year, "
        "an interval in quotes ('-28 days', '-1 year') or start_of_week|month|quarter|year")


class OffsetError(ValueError):
    def __init__(self, message: str, hint: str | None = HINT):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Offset:
    """One way of moving a period: by ``n`` periods, by ``n`` ``unit``s, or to the start of ``unit``."""

    kind: str  # "periods" | "interval" | "grain_start"
    n: int = 0
    unit: str = ""

    @property
    def text(self) -> str:
        if self.kind == "periods":
            return str(self.n)
        if self.kind == "interval":
            return f"'{self.n} {self.unit}'"
        return f"start_of_{self.unit}"

    def shift(self, period: date, grain: str) -> date:
        """The start of the period (of ``grain``) this offset reads for the period starting at ``period``."""
        if self.kind == "periods":
            return shift_period(period, grain, self.n)
        if self.kind == "interval":
            return truncate(add_interval(period, self.n, self.unit), grain)
        if _PERIOD_ORDER.index(self.unit) < _PERIOD_ORDER.index(grain):
            raise OffsetError(f"start_of_{self.unit} is finer than the request's grain '{grain}'",
                              f"use start_of_{grain} or a coarser one, or request a finer grain")
        return truncate(truncate(period, self.unit), grain)


NAMED = {"previous_period": Offset("periods", n=-1), "same_period_last_year": Offset("interval", n=-1, unit="year")}


def parse_offset(node: exp.Expression) -> Offset:
    """The offset written inside a formula's brackets (a sqlglot node); raises OffsetError."""
    if isinstance(node, exp.Column) and not node.table and node.name in NAMED:
        return NAMED[node.name]
    if isinstance(node, exp.Column) and not node.table and node.name.startswith("start_of_"):
        unit = node.name[len("start_of_"):]
        if unit not in _PERIOD_ORDER[1:]:
            raise OffsetError(f"unknown grain start '{node.name}'")
        return Offset("grain_start", unit=unit)
    number = _integer(node)
    if number is not None:
        if abs(number) > 10_000:
            raise OffsetError(f"offset {number} periods is too far", "at most 10000 periods either way")
        return Offset("periods", n=number)
    if isinstance(node, exp.Literal) and node.is_string:
        match = _INTERVAL.match(node.this.lower())
        if not match or match.group(2) not in _UNITS:
            raise OffsetError(f"cannot read the interval '{node.this}'",
                              "write e.g. '-28 days', '-2 weeks', '-3 months', '-1 quarter' or '-1 year'")
        return Offset("interval", n=int(match.group(1)), unit=_UNITS[match.group(2)])
    raise OffsetError(f"'{node.sql()}' is not a time offset")


def _integer(node: exp.Expression) -> int | None:
    sign = 1
    if isinstance(node, exp.Neg):
        sign, node = -1, node.this
    if isinstance(node, exp.Literal) and not node.is_string and re.fullmatch(r"\d+", node.this):
        return sign * int(node.this)
    return None


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


# -- windows: rolling, cumulative and grain-to-date aggregates ----------------------------------
_WINDOW = re.compile(r"^\s*(\d{1,5})\s*([a-z]+)\s*$")
_TO_DATE = {"wtd": "week", "mtd": "month", "qtd": "quarter", "ytd": "year"}
WINDOW_HINT = ("write `window: 28d` (trailing days), `4 weeks`, `4 periods` (the period and the 3 before it), "
               "`cumulative` (all history up to the period end), or wtd, mtd, qtd, ytd (grain to date)")


@dataclass(frozen=True)
class Window:
    """Which rows an aggregate reads for a period: the period alone is no window at all.

    kind ``periods``: the period and the ``n - 1`` before it; ``days``: the ``n`` days ending at the
    period's end; ``cumulative``: everything before the period's end; ``to_date``: from the start of
    the ``unit`` (month for mtd) containing the period to the period's end.
    """

    kind: str
    n: int = 0
    unit: str = ""

    @property
    def text(self) -> str:
        if self.kind == "periods":
            return f"{self.n} periods"
        if self.kind == "days":
            return f"{self.n}d"
        return self.kind if self.kind == "cumulative" else f"{self.unit}_to_date"

    def check_grain(self, grain: str) -> None:
        if grain == "all":
            raise OffsetError(f"window '{self.text}' needs a period grain, not 'all'",
                              "request day, week, month, quarter or year")
        if self.kind == "to_date" and _PERIOD_ORDER.index(self.unit) < _PERIOD_ORDER.index(grain):
            raise OffsetError(f"window {self.unit}-to-date is finer than the request's grain '{grain}'",
                              f"request a grain of {self.unit} or finer")

    def first_day(self, period: date, grain: str) -> date | None:
        """The first day the window of the period starting at ``period`` reads (None: all history)."""
        if self.kind == "periods":
            return shift_period(period, grain, 1 - self.n)
        if self.kind == "days":
            return shift_period(period, grain, 1) - timedelta(days=self.n)
        if self.kind == "to_date":
            return truncate(period, self.unit)
        return None


def parse_window(text: object) -> Window:
    """A KPI's ``window:`` value; raises OffsetError with a hint."""
    if not isinstance(text, str):
        raise OffsetError("a window is text", WINDOW_HINT)
    lowered = text.strip().lower()
    if lowered in ("cumulative", "all", "running"):
        return Window("cumulative")
    if lowered in _TO_DATE:
        return Window("to_date", unit=_TO_DATE[lowered])
    for unit in _PERIOD_ORDER[1:]:
        if lowered in (f"{unit}_to_date", f"{unit} to date"):
            return Window("to_date", unit=unit)
    match = _WINDOW.match(lowered)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        if n < 1 or n > 10_000:
            raise OffsetError(f"window '{text}': the length must be between 1 and 10000", WINDOW_HINT)
        if unit in ("period", "periods"):
            return Window("periods", n=n)
        if unit in ("d", "day", "days"):
            return Window("days", n=n)
        if unit in ("w", "week", "weeks"):
            return Window("days", n=7 * n)
    raise OffsetError(f"cannot read window '{text}'", WINDOW_HINT)


def window_issues(kpi) -> list:
    """Located problems of a KPI's ``window:`` (checked by ``kpi validate``)."""
    if kpi.window is None:
        return []
    if kpi.is_formula:
        return [SpecIssue(f"KPI '{kpi.name}': `window:` applies to aggregate KPIs, not formulas",
                          field_loc(kpi, "window"),
                          hint="put the window on the formula's inputs, or read them at offsets (revenue[-1])",
                          code="kpi")]
    if kpi.aggregate in ("last", "first"):
        return [SpecIssue(f"KPI '{kpi.name}': aggregate '{kpi.aggregate}' takes no `window:`",
                          field_loc(kpi, "window"),
                          hint="a balance is read at the period's last (first) time; drop `window:`", code="kpi")]
    try:
        parse_window(kpi.window)
    except OffsetError as exc:
        return [SpecIssue(f"KPI '{kpi.name}': {exc}", field_loc(kpi, "window"), hint=exc.hint, code="kpi")]
    return []
