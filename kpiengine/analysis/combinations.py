"""The combination search for a KPI of the spec: which leaves to fetch, and the localisation on them.

A KPI qualifies when it is additive over dimension values (counts, sums and
their sums and multiples) or a ratio of two such expressions (conversion =
deals_won / visits; an ``avg`` is sum / count). Its inputs are fetched per
leaf by :mod:`kpiengine.analysis.leaves`, combined into the baseline
(:mod:`kpiengine.analysis.baselines`) and searched by
:func:`kpiengine.analysis.localize.localize`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .rootcause import Node, leaves as tree_leaves
from .baselines import Baseline, reconcile
from .leaves import LeafTable
from .localize import Leaves, Localization, encode_keys, localize


@dataclass
class LeafPlan:
    """How the KPI's value per leaf is made from aggregate KPIs: one additive part, or numerator / denominator."""

    numerator: Node
    denominator: Node | None = None

    @property
    def inputs(self) -> list[str]:
        names = tree_leaves(self.numerator) + (tree_leaves(self.denominator) if self.denominator else [])
        return list(dict.fromkeys(names))


def linear_value(node: Node, arrays: Mapping[str, np.ndarray]) -> np.ndarray | float:
    """Value of an additive expression (sums, differences, constant multiples) over aligned arrays."""
    if node.kind == "leaf":
        return arrays[node.name]
    if node.kind == "const":
        return float(node.value)
    parts = [(s, linear_value(c, arrays)) for s, c in node.terms]
    if node.kind == "sum":
        return sum(s * v for s, v in parts)
    out: np.ndarray | float = 1.0
    for _p, v in parts:  # additive products have positive powers only (checked by the planner)
        out = out * v
    return out


def leaves_for(plan: LeafPlan, table: LeafTable, baseline: Baseline, actual_period, *,
               expected_totals: Mapping[str, float | None] | None = None,
               expected_value: float | None = None, counts: bool = False) -> Leaves:
    """Baseline and actual KPI parts per leaf, reconciled to the expected totals for forecast baselines."""
    before_rows = [i for i, p in enumerate(table.periods) if p != actual_period]
    now = table.periods.index(actual_period)
    base, actual = {}, {}
    for name in plan.inputs:
        series = table.series(name)
        b = baseline.combine(series[before_rows]) if before_rows else np.zeros(len(table.keys))
        total = (expected_totals or {}).get(name)
        if baseline.expected and total is not None:
            b = reconcile(b, total)
        base[name], actual[name] = b, series[now]
    codes, values = encode_keys(table.keys, len(table.dimensions))
    n = len(table.keys)

    def part(node: Node, src: dict) -> np.ndarray:
        return np.broadcast_to(np.asarray(linear_value(node, src), dtype=float), (n,)).copy()

    if plan.denominator is None:
        return Leaves(table.dimensions, codes, values, part(plan.numerator, base), part(plan.numerator, actual),
                      counts)
    num_b, den_b = part(plan.numerator, base), part(plan.denominator, base)
    if baseline.expected and expected_value is not None and den_b.sum() and num_b.sum():
        # The rule's expected rate is the median of past rates, not a ratio of medians: rescale the
        # expected numerators so the leaves' rate is that value and contributions add up to the deviation.
        num_b = num_b * (expected_value * den_b.sum() / num_b.sum())
    return Leaves(table.dimensions, codes, values, np.column_stack([num_b, den_b]),
                  np.column_stack([part(plan.numerator, actual), part(plan.denominator, actual)]), counts)


def scaled(loc: Localization, factor: float) -> Localization:
    """The same answer in units of a parent KPI's change (an input of a product, through its LMDI share)."""
    for e in loc.elements + ([loc.other] if loc.other is not None else []):
        e.contribution *= factor
        e.rate_effect = None if e.rate_effect is None else e.rate_effect * factor
        e.mix_effect = None if e.mix_effect is None else e.mix_effect * factor
    return loc


def run(plan: LeafPlan, fetch_table: Callable[[list[str]], LeafTable], baseline: Baseline, actual_period,
        params: Mapping, **reconcile_to) -> tuple[Localization, LeafTable]:
    table = fetch_table(plan.inputs)
    leaves = leaves_for(plan, table, baseline, actual_period, **reconcile_to)
    return localize(leaves, **params), table
