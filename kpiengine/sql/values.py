"""``kpi list values DIM``: the values a dimension takes, with how many rows of a model have each.

A person writing ``--where "rep.team = 'a'"`` first needs to know that the team
is spelt ``a``; this is the query that tells. It counts rows of one model (all
of its rows, whatever their time), through the same joins a breakdown by that
dimension would use, so a NULL or unmatched key shows up as the NULL value it
will be in every KPI.
"""
from __future__ import annotations

from sqlglot import exp

from ..spec.dialect import in_project_dialect
from ..spec.entities import DimensionRefError
from ..spec.model import ModelSpec, Project
from .compiler import CompileError, model_relation
from .joins import attach, dimension_expression, plan_joins


@in_project_dialect
def values_query(project: Project, model: ModelSpec, dimension: str, dialect: str) -> exp.Select:
    """SELECT value, COUNT(*) FROM model [LEFT JOIN ...] GROUP BY value."""
    try:
        plan = plan_joins(project, model, [dimension])
    except DimensionRefError as exc:
        raise CompileError(str(exc), exc.hint) from None
    value = dimension_expression(project, plan, dimension, dialect)
    select = (exp.select(exp.alias_(value, "value"), exp.alias_(exp.Count(this=exp.Star()), "n"))
              .from_(model_relation(project, model, dialect), copy=False)
              .group_by(value.copy(), copy=False))
    return attach(select, project, plan, dialect, lambda target, d: model_relation(project, target, d))
