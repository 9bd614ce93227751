"""How far each model's data reaches: one batched ``SELECT MAX(...)`` per source.

A model's watermark is the latest event time in it, or the maximum of its
declared ``freshness:`` column (a loaded-at column), or what its trusted
``freshness:`` SELECT returns. Every model of one source is asked in ONE
query of scalar subqueries (``SELECT (SELECT MAX(t) FROM a), (SELECT MAX(t)
FROM b)``), so the watermarks of a run cost one round trip per source, not
one per model (bench/bench_watermarks.py measures it).

The raw maximum is returned as the driver gives it; :mod:`kpiengine.run.watermarks`
reads it in the model's zone and converts it to the project time zone, so no
time zone SQL is needed here and SQLite works in any project zone.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..spec.model import ModelSpec, Project
from ..spec.sqlsafety import parse_expression
from .compiler import model_relation, model_time_expr


def _is_query(text: str) -> bool:
    return text.lstrip()[:6].lower() == "select"


def reach_subquery(project: Project, model: ModelSpec, dialect: str) -> exp.Expression:
    """A scalar subquery giving the model's watermark (raw, in the model's own zone)."""
    if model.freshness and _is_query(model.freshness):
        return exp.Subquery(this=sqlglot.parse_one(model.freshness, read=dialect))
    target = (parse_expression(model.freshness, dialect) if model.freshness
              else model_time_expr(project, model, dialect))
    inner = exp.select(exp.Max(this=target)).from_(model_relation(project, model, dialect), copy=False)
    return exp.Subquery(this=inner)


def watermark_query(project: Project, models: list[ModelSpec], dialect: str) -> str:
    """``SELECT (..) AS w0, (..) AS w1`` for ``models`` of one source, in their order."""
    select = exp.select(*[exp.alias_(reach_subquery(project, m, dialect), f"w{i}") for i, m in enumerate(models)])
    return select.sql(dialect=dialect)
