"""Which breakdowns a KPI supports: the models behind it and the dimensions they share.

A formula KPI can be broken down by a dimension only when every model its
inputs read has that dimension; validation, ``kpi run``, alert rules and the
dashboard all ask these functions, so they agree on what is possible.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import SpecIssue
from .formula import FormulaError, parse_formula, references
from .located import field_loc
from .model import Project
from .suggest import did_you_mean
from .timedims import is_time_dimension


def leaf_models(project: Project, kpi_name: str, _seen: frozenset = frozenset()) -> set[str]:
    """Models an aggregate or formula KPI ultimately reads."""
    kpi = project.kpis.get(kpi_name)
    if kpi is None or kpi_name in _seen:
        return set()
    if not kpi.is_formula:
        return {kpi.model} if kpi.model else set()
    try:
        refs = references(parse_formula(kpi.formula))
    except FormulaError:
        return set()
    out: set[str] = set()
    for ref in refs:
        out |= leaf_models(project, ref, _seen | {kpi_name})
    return out


def available_dimensions(project: Project, kpi_name: str) -> set[str]:
    """Dimensions every model of a KPI has: the breakdowns it supports."""
    models = [project.models[m] for m in leaf_models(project, kpi_name) if m in project.models]
    if not models:
        return set()
    dims = set(models[0].dimensions)
    for m in models[1:]:
        dims &= set(m.dimensions)
    return dims


def check_breakdown(project: Project, kpi_names: Iterable[str], by: Iterable[str]) -> list[SpecIssue]:
    """Issues for breaking ``kpi_names`` down by ``by`` (used by validate, run and rules)."""
    issues = []
    for name in kpi_names:
        available = available_dimensions(project, name)
        for dim in (d for d in by if d not in available and not is_time_dimension(d)):
            lacking = sorted(m for m in leaf_models(project, name)
                             if m in project.models and dim not in project.models[m].dimensions)
            kpi = project.kpis[name]
            issues.append(SpecIssue(
                f"KPI '{name}' cannot be broken down by '{dim}': model(s) {', '.join(lacking)} have no such dimension",
                field_loc(kpi, "dimensions") if kpi.dimensions else kpi.location,
                hint=(did_you_mean(dim, available) or "") +
                f" available for '{name}': {', '.join(sorted(available)) or 'none'}",
                code="dimension"))
    return issues
