"""How many rows a model has on each day: the cheap question an incremental run asks before computing.

Reading the time column and counting per day costs a fraction of the KPIs'
own aggregates; comparing the counts with the last run's says which days
gained rows (a new day, late rows in an old period) or lost some (deletes), so
only the periods from the earliest such day on are computed again. Days are
those of the project time zone, the same days the KPI queries put rows in.

With ``since`` (the model's watermark: its last day with rows at the last
run) only the days from ``since`` on are counted, under a filter the
warehouse can skip blocks with, and one more row (day NULL) holds the count of
all rows with a time: the rows before ``since`` are that total minus the days
counted, all a run needs to see that nothing changed before the watermark.
A column's count is metadata to most warehouses (DuckDB answers it from its
statistics), where grouping every row by "before since, or which day" scanned
and hashed the whole table.
"""
from __future__ import annotations

from datetime import date

from sqlglot import exp

from ..spec.model import ModelSpec, Project
from .compiler import model_relation, model_time_expr
from .periods import localize, period_start_expr
from .sincetemplate import fill_template, since_marker, since_text

DAY_ALIAS = "day"
ROWS_ALIAS = "rows"
MODEL_ALIAS = "model"


def _day_start(d: date | str, dialect: str) -> exp.Expression:
    """The first moment of day ``d`` (or a marker text standing for it, see :func:`day_counts_template`)."""
    text = exp.Literal.string(d if isinstance(d, str) else since_text(d))
    return text if dialect == "sqlite" else exp.cast(text, "timestamp")  # SQLite compares ISO text


def day_counts_query(project: Project, model: ModelSpec, dialect: str, since: date | None = None) -> str:
    """``SELECT day, COUNT(time) ... GROUP BY 1``: rows per day; rows without a time are not counted.

    With ``since``: the days from ``since`` on, and a row (NULL, rows with a time in all).
    """
    return _day_counts(project, model, dialect, since).sql(dialect=dialect)


def day_counts_template(project: Project, wanted: list[tuple[ModelSpec, date | None]], dialect: str) -> str | None:
    """:func:`day_counts_by_model` with a marker for each since day, for the spec cache: the days move
    on every run, the text does not. None when the markers do not stand for the days alone (a marker
    text elsewhere in the statement, or a dialect rendering a day other than as the text given)."""
    sql = day_counts_by_model(project, wanted, dialect)
    marked: list[tuple[ModelSpec, date | str | None]] = [
        (model, None if since is None else since_marker(i)) for i, (model, since) in enumerate(wanted)]
    template = day_counts_by_model(project, marked, dialect)
    sinces = [since for _, since in wanted]
    if any(template.count(since_marker(i)) != (since is not None) for i, since in enumerate(sinces)) \
            or fill_template(template, sinces) != sql:
        return None
    return template


def day_counts_by_model(project: Project, wanted: list[tuple[ModelSpec, date | str | None]], dialect: str) -> str:
    """The day counts of several models of one source in one statement: ``model, day, rows``.

    Each (model, since) is :func:`day_counts_query`'s, its rows tagged with the model's name: one
    round trip and one statement to plan for a run's models, where each model's own query paid
    a connection, a plan and a result of its own.
    """
    parts = [exp.select(exp.alias_(exp.Literal.string(model.name), MODEL_ALIAS), DAY_ALIAS, ROWS_ALIAS)
             .from_(_day_counts(project, model, dialect, since).subquery(f"c{i}"), copy=False)
             for i, (model, since) in enumerate(wanted)]
    statement = parts[0]
    for part in parts[1:]:
        statement = exp.union(statement, part, distinct=False)
    return statement.sql(dialect=dialect)


def _day_counts(project: Project, model: ModelSpec, dialect: str, since: date | str | None) -> exp.Expression:
    time_expr = model_time_expr(project, model, dialect)
    day: exp.Expression = period_start_expr(time_expr.copy(), "day", dialect, project.timezone, model.source_zone)
    select = (exp.select(exp.alias_(day, DAY_ALIAS), exp.alias_(exp.Count(this=time_expr.copy()), ROWS_ALIAS))
              .from_(model_relation(project, model, dialect), copy=False))
    if since is not None:
        local = localize(time_expr.copy(), dialect, project.timezone, model.source_zone)
        select = select.where(exp.GTE(this=local, expression=_day_start(since, dialect)), copy=False)
    select = select.group_by(day.copy(), copy=False)
    if since is None:
        return select
    total = exp.select(exp.alias_(exp.Null(), DAY_ALIAS), exp.alias_(exp.Count(this=time_expr), ROWS_ALIAS)).from_(
        model_relation(project, model, dialect), copy=False)
    return exp.union(select, total, distinct=False)
