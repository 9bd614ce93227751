"""How many rows a model has on each day: the cheap question an incremental run asks before computing.

Reading the time column and counting per day costs a fraction of the KPIs'
own aggregates; comparing the counts with the last run's says which days
gained rows (a new day, late rows in an old period) or lost some (deletes), so
only the periods from the earliest such day on are computed again. Days are
those of the project time zone, the same days the KPI queries put rows in.

With ``since`` (the model's watermark: its last day with rows at the last
run) only the days from ``since`` on are told apart; every earlier row is
counted in one group (day NULL), which is all a run needs when nothing
changed before the watermark, and spares the per-row date arithmetic.
"""
from __future__ import annotations

from datetime import date

from sqlglot import exp

from ..spec.model import ModelSpec, Project
from .compiler import model_relation, model_time_expr
from .periods import localize, period_start_expr

DAY_ALIAS = "day"
ROWS_ALIAS = "rows"


def _day_start(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat() + " 00:00:00")
    return text if dialect == "sqlite" else exp.cast(text, "timestamp")  # SQLite compares ISO text


def day_counts_query(project: Project, model: ModelSpec, dialect: str, since: date | None = None) -> str:
    """``SELECT day, COUNT(time) ... GROUP BY 1``: rows per day; rows without a time are not counted."""
    time_expr = model_time_expr(project, model, dialect)
    day: exp.Expression = period_start_expr(time_expr.copy(), "day", dialect, project.timezone, model.source_zone)
    if since is not None:
        local = localize(time_expr.copy(), dialect, project.timezone, model.source_zone)
        day = exp.Case(ifs=[exp.If(this=exp.GTE(this=local, expression=_day_start(since, dialect)), true=day)])
    select = (exp.select(exp.alias_(day, DAY_ALIAS), exp.alias_(exp.Count(this=time_expr), ROWS_ALIAS))
              .from_(model_relation(project, model, dialect), copy=False)
              .group_by(day.copy(), copy=False))
    return select.sql(dialect=dialect)
