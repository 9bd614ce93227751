"""How many rows a model has on each day: the cheap question an incremental run asks before computing.

Reading one column and counting per day costs a fraction of the KPIs' own
aggregates; comparing the counts with the last run's says which days gained
rows (a new day, late rows in an old period) or lost some (deletes), so only
the periods from the earliest such day on are computed again. Days are those
of the project time zone, the same days the KPI queries put rows in.
"""
from __future__ import annotations

from sqlglot import exp

from ..spec.model import ModelSpec, Project
from .compiler import model_relation, model_time_expr
from .periods import period_start_expr

DAY_ALIAS = "day"
ROWS_ALIAS = "rows"


def day_counts_query(project: Project, model: ModelSpec, dialect: str) -> str:
    """``SELECT <day of the model's time>, COUNT(*) ... GROUP BY 1``; rows whose time is unreadable have day NULL."""
    day = period_start_expr(model_time_expr(project, model, dialect), "day", dialect, project.timezone)
    select = (exp.select(exp.alias_(day, DAY_ALIAS), exp.alias_(exp.Count(this=exp.Star()), ROWS_ALIAS))
              .from_(model_relation(project, model, dialect), copy=False)
              .group_by(day.copy(), copy=False))
    return select.sql(dialect=dialect)
