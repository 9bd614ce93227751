"""Which models a KPI ultimately reads, without parsing formulas again on every run.

Completeness, freshness and the incremental check ask it for every KPI of every run.
Answering means parsing formulas (sqlglot); the answer depends on the spec alone, so
the spec cache stores it with the project (:func:`index_leaves`, called before the
project is cached) and a run reading a cached spec looks it up instead.
"""
from __future__ import annotations

from typing import Any


def leaf_models(project: Any, kpi_name: str, _seen: frozenset = frozenset()) -> set[str]:
    """Models an aggregate or formula KPI ultimately reads."""
    index = getattr(project, "leaf_index", None)
    if index and not _seen and kpi_name in index:
        return set(index[kpi_name])
    kpi = project.kpis.get(kpi_name)
    if kpi is None or kpi_name in _seen:
        return set()
    if not kpi.is_formula:
        return {kpi.model} if kpi.model else set()
    from .formula import (  # lazy: formulas are parsed by sqlglot, which a cached run does not import
        FormulaError,
        parse_formula,
        references,
    )

    try:
        refs = references(parse_formula(kpi.formula))
    except FormulaError:
        return set()
    out: set[str] = set()
    for ref in refs:
        out |= leaf_models(project, ref, _seen | {kpi_name})
    return out


def index_leaves(project: Any) -> None:
    """Keep every KPI's leaf models on the project (pickled with it by the spec cache)."""
    project.leaf_index = None
    project.leaf_index = {name: frozenset(leaf_models(project, name)) for name in project.kpis}
