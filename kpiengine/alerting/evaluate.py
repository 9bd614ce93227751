"""Pure rule evaluation: KPI values in, one :class:`Outcome` per dimension value out.

No database, no clock: ``kpi check``, ``kpi test`` and ``kpi backtest`` all feed
this module a :class:`ValueTable` and get the same answers.

The *measure* a rule's thresholds apply to depends on its type:

* static:  the KPI value itself;
* change:  (value - baseline) / |baseline| (``change: percent``) or value - baseline;
* target:  attainment, value / target;
* anomaly: a robust z-score, (value - median) / (1.4826 * MAD) over a trailing window
  (same weekday only, for daily data with seasonality).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from statistics import median
from typing import Any, Iterable

from ..analysis.baselines import expected_value, window_periods
from ..analysis.targets import spec_target_at
from . import periods as P
from .rules import Rule, denominator_of, parse_number

MAD_SCALE = 1.4826  # makes the MAD a consistent estimator of the standard deviation for normal data


def dims_key(dimensions: dict[str, Any]) -> str:
    """Canonical text key of a dimension-value combination (the alert's identity)."""
    return json.dumps({k: dimensions[k] for k in sorted(dimensions)}, sort_keys=True, ensure_ascii=False,
                      default=str)


def alert_key(rule: Rule, dimensions: dict[str, Any]) -> str:
    """The identity of a rule's alert: its dimension values, and its `where:` filter when it has one.

    A rule whose filter changes judges another population: its alerts start afresh
    instead of inheriting the state of the old one.
    """
    key = dims_key(dimensions)
    where = getattr(rule, "where", None)
    return key if not where else f"{key} where {where}"


def of_current_filter(rule: Rule, key: str) -> bool:
    """Is ``key`` an alert of ``rule`` as its `where:` reads now (not of an earlier filter, or none)?"""
    where = getattr(rule, "where", None)
    return key.endswith(f"}} where {where}") if where else key.endswith("}")


@dataclass
class Outcome:
    rule: str
    key: str
    dimensions: dict[str, Any]
    period: date
    status: str  # value | no_data | error | insufficient | no_baseline | partial | maturing
    value: float | None = None
    measure: float | None = None
    baseline: float | None = None
    change: float | None = None
    target: float | None = None
    sample: float | None = None
    p_value: float | None = None
    significant: bool | None = None  # None: not tested
    note: str = ""


class ValueTable:
    """KPI values by (kpi, dimension key, period): what the rules read."""

    def __init__(self, rows: Iterable[Any] = ()):
        self.data: dict[tuple[str, str], dict[date, float | None]] = {}
        self.dims: dict[tuple[str, str], dict[str, Any]] = {}
        # values that are not final: (kpi, key, period) -> "partial" | "maturing" (docs/periods.md)
        self.not_final: dict[tuple[str, str, date], str] = {}
        for row in rows:
            self.add(row.kpi, row.dimensions, row.period_start, row.value,
                     complete=getattr(row, "complete", True), maturing=getattr(row, "maturing", False))

    def add(self, kpi: str, dimensions: dict[str, Any], period, value, *, complete: bool = True,
            maturing: bool = False) -> None:
        key = dims_key(dimensions or {})
        day = P.as_date(period)
        self.data.setdefault((kpi, key), {})[day] = None if value is None else float(value)
        self.dims[(kpi, key)] = dict(dimensions or {})
        if maturing or not complete:
            self.not_final[(kpi, key, day)] = "maturing" if maturing else "partial"
        else:
            self.not_final.pop((kpi, key, day), None)

    def state(self, kpi: str, key: str, period: date) -> str | None:
        """None for a final value, else "partial" (the period is not over for the data) or "maturing"."""
        return self.not_final.get((kpi, key, period))

    def drop_partial(self) -> None:
        """Judge partial periods as if they were over (periods asked for by name); maturing stays."""
        self.not_final = {k: why for k, why in self.not_final.items() if why != "partial"}

    def final_periods(self, kpis: Iterable[str]) -> list[date]:
        """Periods with a value of any of ``kpis`` where none of their values is partial (maturing counts as over)."""
        kpis = set(kpis)
        partial = {p for (k, _key, p), why in self.not_final.items() if k in kpis and why == "partial"}
        return [p for k in kpis for p in self.periods(k) if p not in partial]

    def get(self, kpi: str, key: str, period: date) -> float | None:
        return self.data.get((kpi, key), {}).get(period)

    def keys(self, kpi: str, by: list[str]) -> dict[str, dict[str, Any]]:
        """Dimension keys seen for ``kpi`` whose dimensions are exactly ``by``."""
        want = set(by)
        return {key: dims for (k, key), dims in self.dims.items() if k == kpi and set(dims) == want}

    def periods(self, kpi: str | None = None) -> list[date]:
        found = set()
        for (k, _key), series in self.data.items():
            if kpi is None or k == kpi:
                found.update(p for p, v in series.items() if v is not None)
        return sorted(found)


def sample_kpi(rule: Rule, kpi_spec) -> str | None:
    return rule.sample or (denominator_of(kpi_spec) if kpi_spec is not None else None)


def baseline_periods(rule: Rule, period: date) -> list[date]:
    g = rule.grain
    if rule.type == "change":
        if rule.compare == "previous":
            return [P.shift(period, g, -1)]
        if rule.compare == "last_week":
            return [P.same_period_last_week(period, g)]
        if rule.compare == "last_year":
            return [P.same_period_last_year(period, g)]
        return [P.shift(period, g, -i) for i in range(1, rule.periods + 1)]
    if rule.type == "anomaly":  # the trailing window (seasonal: the last N Mondays for a Monday)
        return window_periods(period, g, rule.window, bool(rule.seasonal))
    return []


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def two_proportion_p(x1: float, n1: float, x0: float, n0: float) -> float | None:
    """One-sided p-value that rate x1/n1 differs from x0/n0 in the observed direction (pooled z-test)."""
    if n1 <= 0 or n0 <= 0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n0)
    if var <= 0:
        return 0.0 if p1 != p0 else 1.0
    z = (p1 - p0) / math.sqrt(var)
    return normal_cdf(-abs(z))


def target_for(rule: Rule, kpi_spec, dimensions: dict[str, Any], period: date | None = None) -> float | None:
    """The rule's own target, else the KPI's target set in advance for ``period`` (``targets:``), else its ``target:``."""
    if rule.target is None and period is not None and getattr(kpi_spec, "targets", None):
        found = spec_target_at(kpi_spec, period, rule.grain, dimensions)
        return None if found is None else found.value
    target = rule.target if rule.target is not None else getattr(kpi_spec, "target", None)
    if isinstance(target, dict):
        (dim, per_value), = target.items()
        value = per_value.get(str(dimensions.get(dim)))
        return None if value is None else parse_number(value)
    return None if target is None else parse_number(target)  # `5%` as in thresholds (the spec parses it too)


def measure(rule: Rule, table: ValueTable, key: str, dimensions: dict[str, Any], period: date,
            kpi_spec=None) -> Outcome:
    """Evaluate ``rule`` for one dimension value at one period (classification is the state machine's).

    ``key`` is the values' key in ``table`` (:func:`dims_key`); the outcome carries the alert's (:func:`alert_key`).
    """
    out = Outcome(rule.name, alert_key(rule, dimensions), dict(dimensions), period, "value")
    value = table.get(rule.kpi, key, period)
    out.value = value
    if value is None:
        out.status, out.note = "no_data", "no value for this period"
        return out
    why = table.state(rule.kpi, key, period)
    if why == "partial":
        out.status, out.note = "partial", "partial period: the data does not cover it yet"
        return out
    if why == "maturing" and rule.on_maturing != "alert":
        out.status, out.note = "maturing", "maturing cohort: its entities can still convert within the window"
        return out
    sample_name = sample_kpi(rule, kpi_spec) if (rule.min_sample is not None or rule.significance) else None
    if sample_name:
        out.sample = table.get(sample_name, key, period)
        if rule.min_sample is not None and (out.sample is None or out.sample < rule.min_sample):
            out.status = "insufficient"
            out.note = f"sample {sample_name}={_fmt(out.sample)} is below min_sample {rule.min_sample:g}"
            return out
    if rule.type in ("static", "freshness", "check"):  # model rules measure their value as it is
        out.measure = value
        return out
    if rule.type == "target":
        target = target_for(rule, kpi_spec, dimensions, period)
        if not target:
            out.status, out.note = "no_baseline", "no target for this dimension value"
            return out
        out.target = out.baseline = target
        out.measure = value / target
        out.change = value / target - 1
        return out
    history = [(p, table.get(rule.kpi, key, p)) for p in baseline_periods(rule, period)]
    history = [(p, v) for p, v in history if v is not None]
    if rule.type == "change":
        if not history:
            out.status, out.note = "no_baseline", "no value in the baseline period(s)"
            return out
        base = sum(v for _p, v in history) / len(history)
        out.baseline = base
        if rule.change == "absolute":
            out.change = out.measure = value - base
        else:
            if base == 0:
                out.status, out.note = "no_baseline", "baseline is 0: a percent change is undefined"
                return out
            out.change = out.measure = (value - base) / abs(base)
        if rule.significance is not None and sample_name:
            _significance(rule, table, key, period, history, sample_name, out)
        return out
    # anomaly
    needed = rule.min_periods or max(3, rule.window // 2)
    if len(history) < needed:
        out.status, out.note = "no_baseline", f"{len(history)} of {needed} trailing values needed"
        return out
    values = [v for _p, v in history]
    med = expected_value(values)
    mad = median(abs(v - med) for v in values)
    scale = MAD_SCALE * mad
    if scale == 0:  # a flat history: fall back on the mean absolute deviation, then on "any move"
        scale = 1.2533 * sum(abs(v - med) for v in values) / len(values)
    out.baseline = med
    out.change = (value - med) / abs(med) if med else None
    if scale == 0:
        out.measure = 0.0 if value == med else math.copysign(math.inf, value - med)
    else:
        out.measure = (value - med) / scale
    return out


def _significance(rule: Rule, table: ValueTable, key: str, period: date, history, sample_name: str,
                  out: Outcome) -> None:
    n1 = out.sample
    pairs = [(v, table.get(sample_name, key, p)) for p, v in history]
    if n1 is None or any(n is None for _v, n in pairs):
        out.significant, out.note = False, "sample size unknown: the drop cannot be tested"
        return
    n0 = sum(n for _v, n in pairs)
    x0 = sum(v * n for v, n in pairs)
    out.p_value = two_proportion_p(out.value * n1, n1, x0, n0)
    out.significant = out.p_value is not None and out.p_value < rule.significance
    if not out.significant:
        out.note = f"change not significant (p={_fmt(out.p_value)} >= {rule.significance:g})"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def evaluate(rule: Rule, table: ValueTable, period: date, kpi_spec=None,
             known_keys: dict[str, dict[str, Any]] | None = None) -> list[Outcome]:
    """One outcome per dimension value: those in the data plus ``known_keys`` (alerts already tracked)."""
    keys = {dims_key(dims): dims for key, dims in (known_keys or {}).items()
            if of_current_filter(rule, key)}
    keys.update(table.keys(rule.kpi, rule.by))
    return [measure(rule, table, key, dims, period, kpi_spec) for key, dims in sorted(keys.items())]


def error_outcomes(rule: Rule, period: date, keys: dict[str, dict[str, Any]], message: str) -> list[Outcome]:
    """The query behind the rule failed: every tracked dimension value gets an error outcome."""
    keys = keys or ({alert_key(rule, {}): {}} if not rule.by else {})
    return [Outcome(rule.name, key, dict(dims), period, "error", note=message) for key, dims in sorted(keys.items())]
