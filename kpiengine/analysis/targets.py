"""Which target applies to a period, and how far a value reached it.

Targets are written per period in advance (``targets: {2026-Q4: 0.20}``, see
:mod:`kpiengine.spec.lifecycle`), at any grain; reviews and alert rules ask for
the target of the period they judge, at their own grain:

* the period the target is written for gets it as written;
* a **total** (count, sum, and sums of them) is pro-rated by days: a week of a
  quarter whose target is 9,200 visits gets 9,200 x 7 / 92, and a week across
  two quarters takes its days from each; a quarter asked with monthly targets
  is the sum of its months (when every day is covered);
* a **rate or an average** (conversion, mindset) holds for every period
  inside: the week of 2026-10-26 inherits the 20 % of 2026-Q4 (a period
  belongs to the target period its first day falls in), and for every
  dimension value the period does not give a target of its own;
* without a written target for the period, the KPI's ``target:`` (a number or
  ``{dimension: {value: number}}``) applies, as it always did.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlglot import exp

from ..spec.formula import FormulaError, parse_formula
from ..spec.lifecycle import TargetEntry, parse_number
from ..sql.periods import next_period

TIME_ADDITIVE = ("count", "sum")  # a distinct count over a quarter is not the sum of its weeks


@dataclass(frozen=True)
class Target:
    value: float
    source: str  # "2026-Q4" (the targets entry), "2026-Q3 + 2026-Q4" (pro-rated pieces) or "target"
    prorated: bool = False


def additive_over_time(project, kpi_name: str, _seen: frozenset = frozenset()) -> bool:
    """True when a longer period's value is the sum of its parts (counts, sums, and sums of those)."""
    spec = project.kpis.get(kpi_name)
    if spec is None or kpi_name in _seen:
        return False
    if not spec.is_formula:
        return spec.aggregate in TIME_ADDITIVE
    try:
        tree = parse_formula(spec.formula)
    except FormulaError:
        return False
    return _sum_of_totals(project, tree, _seen | {kpi_name})


def _sum_of_totals(project, node, seen) -> bool:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return additive_over_time(project, node.name, seen)
    if isinstance(node, (exp.Add, exp.Sub)):
        return _sum_of_totals(project, node.this, seen) and _sum_of_totals(project, node.expression, seen)
    if isinstance(node, exp.Neg):
        return _sum_of_totals(project, node.this, seen)
    if isinstance(node, exp.Mul):  # a constant multiple of a total is a total
        left, right = node.this, node.expression
        if isinstance(left, exp.Literal):
            return _sum_of_totals(project, right, seen)
        if isinstance(right, exp.Literal):
            return _sum_of_totals(project, left, seen)
    return False


def _end(entry: TargetEntry) -> date:
    return next_period(entry.start, entry.grain)


def target_at(project, kpi_name: str, period: date, grain: str, dimensions: dict[str, Any] | None = None
              ) -> Target | None:
    """The target of ``kpi_name`` for the period starting ``period`` at ``grain``, per dimension value."""
    return spec_target_at(project.kpis[kpi_name], period, grain, dimensions,
                          additive=additive_over_time(project, kpi_name))


def spec_target_at(spec, period: date, grain: str, dimensions: dict[str, Any] | None = None, *,
                   additive: bool | None = None) -> Target | None:
    """:func:`target_at` for one KPI spec; without ``additive``, counts and sums are totals, formulas rates."""
    if additive is None:
        additive = not spec.is_formula and spec.aggregate in TIME_ADDITIVE
    dims = dict(dimensions or {})
    end = next_period(period, grain)
    overlapping = [e for e in spec.targets if e.start < end and period < _end(e)]
    entries = [e for e in overlapping if e.value_for(dims) is not None]
    if entries:
        found = _prorated(entries, period, end, dims) if additive else _holding(entries, period, dims)
        if found is not None:
            return found
    if dims and not additive:  # a rate's company target holds for a value without a target of its own
        found = _holding([e for e in overlapping if e.total is not None], period, {})
        if found is not None:
            return found
    return _default(spec.target, dims)


def _prorated(entries: list[TargetEntry], start: date, end: date, dims) -> Target | None:
    """Totals: the days of the period taken from the target periods they fall in (finest grain first)."""
    days = (end - start).days
    for grain in ("day", "week", "month", "quarter", "year"):
        pieces = [e for e in entries if e.grain == grain]
        covered = sum((min(end, _end(e)) - max(start, e.start)).days for e in pieces)
        if pieces and covered == days:
            value = sum(e.value_for(dims) * (min(end, _end(e)) - max(start, e.start)).days / (_end(e) - e.start).days
                        for e in pieces)
            exact = len(pieces) == 1 and pieces[0].start == start and _end(pieces[0]) == end
            return Target(value, " + ".join(e.label for e in pieces), prorated=not exact)
    return None


def _holding(entries: list[TargetEntry], start: date, dims) -> Target | None:
    """Rates and averages: the finest target period the period's first day falls in."""
    holding = [e for e in entries if e.start <= start < _end(e)]
    if not holding:
        return None
    entry = min(holding, key=lambda e: (_end(e) - e.start).days)
    return Target(entry.value_for(dims), entry.label)


def _default(target: Any, dims: dict[str, Any]) -> Target | None:
    """The KPI's own ``target:``: one number for every period, or one per value of a dimension."""
    if target is None:
        return None
    try:
        if isinstance(target, dict):
            if len(target) != 1 or len(dims) != 1 or next(iter(target)) not in dims:
                return None
            (dim, per_value), = target.items()
            value = per_value.get("(null)" if dims[dim] is None else str(dims[dim])) if isinstance(per_value, dict) \
                else None
            return None if value is None else Target(parse_number(value), "target")
        return Target(parse_number(target), "target")  # one number holds for every dimension value
    except (TypeError, ValueError):
        return None  # validation reports a target that is not a number


def attainment(value: float | None, target: float | None, direction: str = "higher") -> float | None:
    """How far a value reached its target: value / target, or target / value when lower is better."""
    if value is None or target is None:
        return None
    if direction == "lower":
        return None if value <= 0 else target / value
    return None if target <= 0 else value / target


def met(value: float | None, target: float | None, direction: str = "higher") -> bool | None:
    if value is None or target is None:
        return None
    return value <= target if direction == "lower" else value >= target
