"""What a change is measured against: an earlier period, or the value history leads one to expect.

``previous`` and ``last_year`` compare with one earlier period. ``forecast``
compares with the anomaly rule's expected value, the median of the trailing
window (the same weekday only for seasonal daily data), and ``average`` with
the mean of the trailing periods (a change rule's ``compare: average``). The
alerting rules call :func:`expected_value` and :func:`window_periods` too, so
an alert and its explanation agree on the baseline to the last digit.

For an explanation the expected value of every additive input is taken per
leaf (per dimension value) and then *reconciled*: scaled so the leaves add up
to the expected total, so that the contributions of segments add up exactly to
the deviation the alert fired on, not to some other number.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median
from typing import Sequence

import numpy as np

from ..errors import SpecError, SpecIssue
from ..sql.periods import previous_period, shift_period

KINDS = ("previous", "last_year", "forecast", "average")
DEFAULT_WINDOW = 8  # the anomaly rule's default trailing window


def expected_value(history: Sequence[float]) -> float:
    """The anomaly rule's expected value: the median of the trailing values (robust to one odd week)."""
    return float(median(history))


def window_periods(period: date, grain: str, window: int, seasonal: bool = False) -> list[date]:
    """The ``window`` periods before ``period``; seasonal daily data: the same weekday of past weeks."""
    if seasonal:
        return [shift_period(period, "day", -7 * i) for i in range(1, window + 1)]
    return [shift_period(period, grain, -i) for i in range(1, window + 1)]


def same_period_last_year(period: date, grain: str) -> date:
    """A year earlier, on the same weekday for days and weeks (364 days), by calendar otherwise."""
    if grain in ("day", "week"):
        return period - timedelta(days=364)
    return shift_period(period, "year", -1)


@dataclass(frozen=True)
class Baseline:
    """``kind`` is period (an explicit one), previous, last_year, forecast or average."""

    kind: str = "previous"
    period: date | None = None
    window: int = DEFAULT_WINDOW
    seasonal: bool = False

    @property
    def expected(self) -> bool:
        """True when the baseline is computed from several periods rather than read from one."""
        return self.kind in ("forecast", "average")

    def periods(self, current: date, grain: str) -> list[date]:
        """The periods whose data make the baseline of ``current``."""
        if self.kind == "period":
            return [self.period]
        if self.kind == "previous":
            return [previous_period(current, grain)]
        if self.kind == "last_year":
            return [same_period_last_year(current, grain)]
        return window_periods(current, grain, self.window, self.seasonal)

    def combine(self, history: np.ndarray) -> np.ndarray:
        """Per leaf (columns), the baseline value from its history (rows, one per period)."""
        if not self.expected:
            return history[0]
        return np.median(history, axis=0) if self.kind == "forecast" else history.mean(axis=0)

    def combine_total(self, history: Sequence[float]) -> float:
        return expected_value(history) if self.kind == "forecast" else float(np.mean(history))

    def describe(self, grain: str) -> str:
        if self.kind == "forecast":
            days = " (same weekday)" if self.seasonal else ""
            return f"the expected value (median of the {self.window} {grain}s before{days})"
        if self.kind == "average":
            return f"the average of the {self.window} {grain}s before"
        if self.kind == "last_year":
            return "the same period last year"
        return f"the {grain} before" if self.kind == "previous" else str(self.period)


def parse_baseline(kind: str, window: int | None = None, seasonal: bool = False) -> Baseline:
    if kind not in KINDS:
        raise SpecError([SpecIssue(f"unknown baseline '{kind}'", hint=f"use one of: {', '.join(KINDS)}",
                                   code="baseline")])
    if window is not None and window < 2:
        raise SpecError([SpecIssue(f"a baseline window of {window} periods is too short", hint="use 2 or more",
                                   code="baseline")])
    return Baseline(kind, window=window or DEFAULT_WINDOW, seasonal=seasonal)


def rule_baseline(rule, period: date) -> Baseline | None:
    """The baseline an alert rule measured ``period`` against, so its explanation splits the same deviation.

    ``rule`` is an alerting Rule (duck-typed: type, grain, compare, periods,
    window, seasonal). None means the previous period.
    """
    if rule.type == "change" and rule.compare == "last_week" and rule.grain == "day":
        return Baseline("period", period=period - timedelta(days=7))
    if rule.type == "anomaly":
        return Baseline("forecast", window=rule.window, seasonal=bool(rule.seasonal))
    if rule.type == "change" and rule.compare == "last_year":
        return Baseline("last_year")
    if rule.type == "change" and rule.compare == "average":
        return Baseline("average", window=rule.periods)
    return None


def reconcile(leaf_values: np.ndarray, total: float) -> np.ndarray:
    """Scale leaf expectations to add up to ``total`` (unchanged when they add up to 0)."""
    s = float(leaf_values.sum())
    return leaf_values * (total / s) if s else leaf_values
