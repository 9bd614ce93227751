"""The arithmetic of a KPI review, in pure Python: trend, volatility, driver share, lead/lag.

Values in, numbers out; no engine, no database, so every figure is checked
against a hand computation in the tests.

* **trend**: the least-squares slope of the KPI over the window's periods, per
  period and relative to its mean; first, last and their change.
* **volatility**: the standard deviation of the values around that trend line,
  relative to the mean (a coefficient of variation that a steady trend does not inflate).
* **driver share**: for a formula KPI ``O`` and each pair of consecutive
  periods, the change of ``O`` is split exactly among its inputs by
  :func:`kpiengine.analysis.rootcause.decompose_formula` (what ``kpi explain
  --change`` does); the contributions are summed over the window, so the shares
  of its direct inputs add up to ``O``'s change over the window. The
  *weight* is the share of the movement: the sum of an input's absolute
  contributions over the sum of every input's, so inputs that went up one week
  and down the next still count as moving the outcome.
* **lead/lag**: the Pearson correlation of the KPI's period-on-period changes
  with the outcome's changes ``lag`` periods later (0 = same period); the lag
  with the strongest correlation is reported, with a p-value (Fisher's z,
  Bonferroni-corrected for the lags tried: the best of five lags of noise
  often reaches r = 0.5 over a quarter of weeks).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping, Sequence

from .rootcause import Driver, Node, decompose_formula, evaluate


@dataclass
class Trend:
    periods: int
    first: float | None
    last: float | None
    change: float | None
    pct_change: float | None
    slope: float | None  # per period
    slope_pct: float | None  # slope / |mean|
    mean: float | None
    volatility: float | None  # std of residuals around the trend / |mean|

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def trend(values: Sequence[float | None]) -> Trend:
    """Trend and volatility of the values (in period order; None values are left out)."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return Trend(0, None, None, None, None, None, None, None, None)
    first, last = points[0][1], points[-1][1]
    change = last - first
    mean = statistics.fmean(v for _, v in points)
    slope = volatility = None
    if len(points) >= 2:
        xs, ys = [float(i) for i, _ in points], [float(v) for _, v in points]
        fit = statistics.linear_regression(xs, ys)
        slope = fit.slope
        if len(points) >= 3 and mean:
            residuals = [y - (fit.intercept + fit.slope * x) for x, y in zip(xs, ys)]
            # n - 2 degrees of freedom: two parameters were fitted
            volatility = math.sqrt(sum(r * r for r in residuals) / (len(points) - 2)) / abs(mean)
    return Trend(len(points), first, last, change, change / abs(first) if first else None, slope,
                 slope / abs(mean) if slope is not None and mean else None, mean, volatility)


@dataclass
class Share:
    """What one input did to one formula KPI's change over the window."""

    outcome: str
    kpi: str
    contribution: float  # sum over the window's period pairs: adds up to the outcome's change
    share: float | None  # contribution / outcome change
    weight: float | None  # sum |contribution| / sum over every input of |contribution|
    direct: bool  # written in the outcome's own formula (one of its frontier inputs)
    inputs: int  # how many inputs the outcome's formula has (the fair share is 1 / inputs)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Attribution:
    """One formula KPI's change over the window, and its inputs' shares."""

    outcome: str
    change: float  # sum of the defined period-on-period changes
    pairs: int  # period pairs whose change is defined
    skipped: list[date] = field(default_factory=list)  # periods whose change is not defined
    shares: dict[str, Share] = field(default_factory=dict)
    start_value: float | None = None  # its value in the first period with one (the window's base)


def kpi_contributions(driver: Driver, kpis: Mapping | set, top: str) -> tuple[dict[str, float], dict[str, float]]:
    """(frontier, nested) contributions by KPI name in one decomposed change.

    The frontier are the highest KPI-named nodes under the root (the inputs the
    formula names, through unnamed sub-expressions such as ``(won + lost)``):
    they partition the change. Nested are KPIs inside those (deals_won inside
    conversion inside performance), each occurrence counted once.
    """
    frontier: dict[str, float] = {}
    nested: dict[str, float] = {}

    def walk(d: Driver, inside: frozenset) -> None:
        for child in d.children:
            named = child.name in kpis and child.name != top
            if named and child.contribution is not None:
                target = nested if inside else frontier
                if child.name not in inside:
                    target[child.name] = target.get(child.name, 0.0) + child.contribution
            walk(child, inside | {child.name} if named else inside)

    walk(driver, frozenset())
    return frontier, nested


def attribute(outcome: str, tree: Node, periods: Sequence[date], values: Mapping[date, Mapping[str, float | None]],
              kpis: Mapping | set) -> Attribution:
    """Sum the exact split of ``outcome``'s change over consecutive period pairs (see module doc)."""
    total = 0.0
    pairs = 0
    skipped: list[date] = []
    # frontier inputs partition the change; nested ones (inside a frontier input) are reported apart
    sums = {"frontier": ({}, {}), "nested": ({}, {})}  # level -> (net, gross) by KPI
    gross_frontier = 0.0
    for p0, p1 in zip(periods, periods[1:]):
        v0, v1 = values.get(p0, {}), values.get(p1, {})
        if evaluate(tree, v0) is None or evaluate(tree, v1) is None:
            skipped.append(p1)
            continue
        driver = decompose_formula(tree, v0, v1)
        pairs += 1
        total += driver.change or 0.0
        found = kpi_contributions(driver, kpis, outcome)
        for level, contributions in zip(("frontier", "nested"), found):
            net, gross = sums[level]
            for name, c in contributions.items():
                net[name] = net.get(name, 0.0) + c
                gross[name] = gross.get(name, 0.0) + abs(c)
        gross_frontier += sum(abs(c) for c in found[0].values())
    first = next((v for v in (evaluate(tree, values.get(p, {})) for p in periods) if v is not None), None)
    out = Attribution(outcome, total, pairs, skipped, start_value=first)
    frontier_net, frontier_gross = sums["frontier"]
    width = max(1, len(frontier_net))
    for level, (net, gross) in sums.items():
        for name in net:
            if level == "nested" and name in frontier_net:
                continue  # visits is a direct input of performance and also inside conversion: say it once
            out.shares[name] = Share(outcome, name, net[name], net[name] / total if total else None,
                                     gross[name] / gross_frontier if gross_frontier else None,
                                     level == "frontier", width)
    return out


@dataclass
class LeadLag:
    outcome: str
    kpi: str
    lag: int  # periods the KPI's move comes before the outcome's (0: same period)
    r: float  # Pearson correlation of the changes at that lag
    n: int  # pairs of changes it is computed on
    p: float  # two-sided p-value of r, times the number of lags tried (capped at 1)

    @property
    def significant(self) -> bool:
        return self.p < SIGNIFICANCE

    def to_dict(self) -> dict:
        return dict(self.__dict__, significant=self.significant)


SIGNIFICANCE = 0.05
MIN_PAIRS = 6  # fewer changes than this say nothing about a correlation


def changes(values: Sequence[float | None]) -> list[float | None]:
    """Period-on-period differences (None where either side is missing)."""
    return [None if a is None or b is None else b - a for a, b in zip(values, values[1:])]


def lead_lag(kpi: str, outcome: str, kpi_values: Sequence[float | None], outcome_values: Sequence[float | None],
             max_lag: int = 4) -> LeadLag | None:
    """The lag 0..max_lag at which the KPI's changes correlate most (in absolute value) with the outcome's."""
    dk, do = changes(kpi_values), changes(outcome_values)
    best: tuple[int, float, int] | None = None
    tried = 0
    for lag in range(0, max_lag + 1):
        pairs = [(a, b) for a, b in zip(dk, do[lag:]) if a is not None and b is not None]
        if len(pairs) < MIN_PAIRS:
            break
        tried += 1
        xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
        if statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
            continue
        r = statistics.correlation(xs, ys)
        if best is None or abs(r) > abs(best[1]) + 1e-12:
            best = (lag, r, len(pairs))
    if best is None:
        return None
    lag, r, n = best
    return LeadLag(outcome, kpi, lag, r, n, min(1.0, tried * correlation_p(r, n)))


def correlation_p(r: float, n: int) -> float:
    """Two-sided p-value of a Pearson r over n pairs (Fisher's z: atanh(r) * sqrt(n - 3) is about normal)."""
    if n <= 3:
        return 1.0
    if abs(r) >= 1.0:
        return 0.0
    z = abs(math.atanh(r)) * math.sqrt(n - 3)
    return math.erfc(z / math.sqrt(2.0))
