"""Which breakdowns a KPI supports: the models behind it and the dimensions they share.

A formula KPI can be broken down by a dimension only when every model its
inputs read has that dimension; validation, ``kpi run``, alert rules and the
dashboard all ask these functions, so they agree on what is possible.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import SpecIssue
from .entities import (
    DimensionRefError,
    reachable_dimensions,
    resolve_dimension,
    where_dimensions,
)
from .leaves import leaf_models
from .located import field_loc
from .model import Project
from .sqlsafety import check_expression
from .suggest import did_you_mean
from .timedims import is_time_dimension


def available_dimensions(project: Project, kpi_name: str) -> set[str]:
    """Dimensions every model of a KPI has: the breakdowns it supports."""
    models = [project.models[m] for m in leaf_models(project, kpi_name) if m in project.models]
    if not models:
        return set()
    # Own dimensions, and those of other models reached through entities (rep.team).
    dims = reachable_dimensions(project, models[0].name)
    for m in models[1:]:
        dims &= reachable_dimensions(project, m.name)
    return dims


def check_breakdown(project: Project, kpi_names: Iterable[str], by: Iterable[str]) -> list[SpecIssue]:
    """Issues for breaking ``kpi_names`` down by ``by`` (used by validate, run and rules)."""
    issues = []
    for name in kpi_names:
        available = available_dimensions(project, name)
        for dim in (d for d in by if d not in available and not is_time_dimension(d)):
            kpi = project.kpis[name]
            if "." in dim:  # a joined dimension: the planner says why (ambiguous, one-to-many, unknown)
                problem = _join_problem(project, name, dim)
                if problem is not None:
                    issues.append(SpecIssue(f"KPI '{name}' cannot be broken down by '{dim}': {problem}",
                                            field_loc(kpi, "dimensions") if kpi.dimensions else kpi.location,
                                            hint=problem.hint, code="dimension"))
                continue  # resolvable (a path written in full, lead.rep.team) or reported
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


def _join_problem(project: Project, kpi_name: str, dim: str) -> DimensionRefError | None:
    for m in sorted(leaf_models(project, kpi_name)):
        if m not in project.models:
            continue
        try:
            resolve_dimension(project, m, dim)
        except DimensionRefError as exc:
            return exc
    return None


def check_where(project: Project, kpi_names: Iterable[str], text: str, what: str = "--where",
                dialect: str = "duckdb") -> list[SpecIssue]:
    """Issues of a query filter (``region = 'east' AND rep.team = 'a'``): the allow-list, then its dimensions.

    The filter names dimensions (the KPI's own, or reached through entities), never raw
    columns, so it means the same thing for every model a formula reads.
    """
    problems = check_expression(text, dialect, what=what)
    if problems:
        return [SpecIssue(f"{what}: {p}", hint="one condition over dimension names, e.g. region = 'east' AND "
                                                "rep.team IN ('a', 'b')", code="unsafe-sql") for p in problems]
    dims = where_dimensions(text, dialect)
    if not dims:
        return [SpecIssue(f"{what} {text!r} names no dimension", hint="e.g. region = 'east'", code="dimension")]
    return [SpecIssue(f"{what}: {issue.message}", issue.location, hint=issue.hint, code=issue.code)
            for issue in check_breakdown(project, kpi_names, dims)]


def supports(project: Project, kpi_name: str, by: Iterable[str]) -> bool:
    """Can ``kpi_name`` be broken down by every dimension of ``by`` (own, reached, or a path written in full)?"""
    missing = [d for d in by if d not in available_dimensions(project, kpi_name)]
    if not missing:
        return True
    return bool(leaf_models(project, kpi_name)) and all("." in d and _join_problem(project, kpi_name, d) is None
                                                         for d in missing)


def known_dimensions(project: Project) -> list[str]:
    """Every dimension name some KPI could be broken down by (for "did you mean" and listings)."""
    return sorted({d for m in project.models.values() if m.time for d in reachable_dimensions(project, m.name)})
