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

An incremental run asks :func:`day_counts_by_model`, whose rows carry a fourth
column, ``reach``: on the total row, the model's latest time as text in the
warehouse's own spelling (the maximum is metadata too). The next run counts
only the rows after it (:class:`~kpiengine.sql.sincetemplate.After`): a filter
on the bare time column, which skips every block of older rows whatever the
order of rows inside them, even on the watermark's own day.
"""
from __future__ import annotations

from datetime import date

from sqlglot import exp

from ..spec.model import ModelSpec, Project
from .compiler import model_relation, model_time_expr
from .periods import localize, period_start_expr
from .sincetemplate import After, fill_template, since_marker, since_text

DAY_ALIAS = "day"
ROWS_ALIAS = "rows"
MODEL_ALIAS = "model"
REACH_ALIAS = "reach"

Since = date | str | After | None  # a day (or a template's marker for one), a latest time, or every day


def _day_start(d: date | str, dialect: str) -> exp.Expression:
    """The first moment of day ``d`` (or a marker text standing for it, see :func:`day_counts_template`)."""
    return _moment(d if isinstance(d, str) else since_text(d), dialect)


def _moment(text: str, dialect: str) -> exp.Expression:
    literal = exp.Literal.string(text)
    return literal if dialect == "sqlite" else exp.cast(literal, "timestamp")  # SQLite compares ISO text


def day_counts_query(project: Project, model: ModelSpec, dialect: str, since: date | None = None) -> str:
    """``SELECT day, COUNT(time) ... GROUP BY 1``: rows per day; rows without a time are not counted.

    With ``since``: the days from ``since`` on, and a row (NULL, rows with a time in all).
    """
    return _day_counts(project, model, dialect, since).sql(dialect=dialect)


def day_counts_template(project: Project, wanted: list[tuple[ModelSpec, Since]], dialect: str) -> str | None:
    """:func:`day_counts_by_model` with a marker for each since day or latest time, for the spec cache:
    they move on every run, the text does not. None when the markers do not stand for them alone (a
    marker text elsewhere in the statement, or a dialect rendering a literal other than as the text given)."""
    sql = day_counts_by_model(project, wanted, dialect)
    marked: list[tuple[ModelSpec, Since]] = [
        (model, None if since is None else After(since_marker(i)) if isinstance(since, After) else since_marker(i))
        for i, (model, since) in enumerate(wanted)]
    template = day_counts_by_model(project, marked, dialect)
    sinces = [since for _, since in wanted]
    if any(template.count(since_marker(i)) != (since is not None) for i, since in enumerate(sinces)) \
            or fill_template(template, sinces) != sql:
        return None
    return template


def day_counts_by_model(project: Project, wanted: list[tuple[ModelSpec, Since]], dialect: str) -> str:
    """The day counts of several models of one source in one statement: ``model, day, rows, reach``.

    Each (model, since) is :func:`day_counts_query`'s, its rows tagged with the model's name: one
    round trip and one statement to plan for a run's models, where each model's own query paid
    a connection, a plan and a result of its own. Every model has a total row (day NULL) whose
    ``reach`` is its latest time as text; with ``After`` only the rows after that time are counted.
    """
    parts = [exp.select(exp.alias_(exp.Literal.string(model.name), MODEL_ALIAS), DAY_ALIAS, ROWS_ALIAS, REACH_ALIAS)
             .from_(_day_counts(project, model, dialect, since, reach=True).subquery(f"c{i}"), copy=False)
             for i, (model, since) in enumerate(wanted)]
    statement = parts[0]
    for part in parts[1:]:
        statement = exp.union(statement, part, distinct=False)
    return statement.sql(dialect=dialect)


def _day_counts(project: Project, model: ModelSpec, dialect: str, since: Since, reach: bool = False
                ) -> exp.Expression:
    time_expr = model_time_expr(project, model, dialect)
    day: exp.Expression = period_start_expr(time_expr.copy(), "day", dialect, project.timezone, model.source_zone)
    columns = [exp.alias_(day, DAY_ALIAS), exp.alias_(exp.Count(this=time_expr.copy()), ROWS_ALIAS)]
    if reach:
        columns.append(exp.alias_(exp.Null(), REACH_ALIAS))
    select = exp.select(*columns).from_(model_relation(project, model, dialect), copy=False)
    if isinstance(since, After):  # the bare column against a constant: blocks skip by their statistics
        select = select.where(exp.GT(this=time_expr.copy(), expression=_moment(since.text, dialect)), copy=False)
    elif since is not None:
        local = localize(time_expr.copy(), dialect, project.timezone, model.source_zone)
        select = select.where(exp.GTE(this=local, expression=_day_start(since, dialect)), copy=False)
    select = select.group_by(day.copy(), copy=False)
    if since is None and not reach:
        return select
    totals = [exp.alias_(exp.Null(), DAY_ALIAS), exp.alias_(exp.Count(this=time_expr.copy()), ROWS_ALIAS)]
    if reach:
        totals.append(exp.alias_(exp.cast(exp.Max(this=time_expr), "text"), REACH_ALIAS))
    total = exp.select(*totals).from_(model_relation(project, model, dialect), copy=False)
    return exp.union(select, total, distinct=False)
