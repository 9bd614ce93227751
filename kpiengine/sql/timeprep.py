"""The time preamble every model query starts with: relation, parsed time, local time, period.

The main compiler (:mod:`.compiler`), the window planner (:mod:`.rolling`) and the
semi-additive planner (:mod:`.semiadditive`) all read a model's rows the same way,
and must: a window KPI beside a plain one in the same request has to put a row in
the same period, in the same time zone, from the same parsed text. One function
builds it for all three.

* ``relation``: the model's FROM item aliased ``m``; a model whose time is text
  (``time_format``) is read through a subquery that parses the text once, as
  ``__kpi_time``;
* ``raw``: the time column as written (the text, for a text time);
* ``time``: the event time as a timestamp, naive in the model's ``time_zone``;
* ``local``: that time as wall-clock time in the project's time zone (where a
  day, and so a period, starts);
* ``period``: the first day of the grain holding ``local`` (``grain: all``: one
  constant period, the request's start; a custom calendar's grain such as
  ``fiscal_quarter``: the calendar's period column, LEFT JOINed on the local day
  inside the relation, so the join is below every aggregation).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlglot import exp

from ..spec.calendars import calendar_of
from ..spec.model import ALL_GRAIN, ModelSpec, Project
from ..spec.sqlsafety import parse_expression
from .joins import qualify
from .periods import PeriodError, localize, period_start_expr, text_to_timestamp
from .windows import all_time_period

PARSED_TIME = "__kpi_time"
CALENDAR_PERIOD = "__kpi_cp"
CALENDAR_ALIAS = "__kpi_c"


@dataclass
class TimePrep:
    relation: exp.Expression
    raw: exp.Expression
    time: exp.Expression
    local: exp.Expression
    period: exp.Expression


def time_preamble(project: Project, model: ModelSpec, grain: str, start: date | None, dialect: str,
                  relation_of: Callable[[ModelSpec], exp.Expression]) -> TimePrep:
    """The preamble of a query over ``model`` (``relation_of``: a model's FROM item); raises PeriodError.

    Every expression is a tree of its own: callers may place them without copying.
    """
    relation = relation_of(model)
    raw = parse_expression(model.time, dialect)
    if model.time_format:
        parsed = text_to_timestamp(raw.copy(), model.time_format, dialect)
        inner = exp.select(exp.column(exp.Star(), table="m"),
                           exp.alias_(parsed, PARSED_TIME, copy=False)).from_(relation, copy=False)
        relation = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("m")))
        time: exp.Expression = exp.column(PARSED_TIME)
    else:
        time = raw.copy()
    custom = calendar_of(project, grain)
    if custom is not None:
        relation, period = _calendar_period(project, model, time, dialect, relation, relation_of, *custom)
    elif grain == ALL_GRAIN:  # one row per dimension values over the whole range
        period = all_time_period(start, dialect)
    else:
        period = period_start_expr(time.copy(), grain, dialect, project.timezone, model.source_zone)
    local = localize(time.copy(), dialect, project.timezone, model.source_zone)
    return TimePrep(relation=relation, raw=raw, time=time, local=local, period=period)


def _calendar_period(project: Project, model: ModelSpec, time: exp.Expression, dialect: str,
                     relation: exp.Expression, relation_of, calendar, column: str):
    """``(SELECT m.*, c.<period column> AS __kpi_cp FROM model m LEFT JOIN calendar c ON c.date = <local day>) m``.

    A row whose day the calendar lacks gets no period; the engine stops with an error rather
    than drop it (rows are never lost silently).
    """
    target = project.models.get(calendar.model)
    if target is None:
        raise PeriodError(f"calendar '{calendar.name}': unknown model '{calendar.model}'")
    if target.source != model.source:
        raise PeriodError(f"calendar '{calendar.name}' (model '{target.name}', source '{target.source}') is not on "
                          f"source '{model.source}': the join to the calendar runs in the model's own query; "
                          "put a copy of the calendar table on that source")
    day = period_start_expr(qualify(time.copy(), "m"), "day", dialect, project.timezone, model.source_zone)
    cal = relation_of(target)
    cal.set("alias", exp.TableAlias(this=exp.to_identifier(CALENDAR_ALIAS)))
    on = exp.EQ(this=calendar_date(qualify(parse_expression(calendar.date, dialect), CALENDAR_ALIAS), dialect),
                expression=day)
    first_day = calendar_date(qualify(parse_expression(column, dialect), CALENDAR_ALIAS), dialect)
    inner = (exp.select(exp.column(exp.Star(), table="m"), exp.alias_(first_day, CALENDAR_PERIOD, copy=False))
             .from_(relation, copy=False).join(cal, on=on, join_type="left", copy=False))
    return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("m"))), exp.column(CALENDAR_PERIOD)


def calendar_date(value: exp.Expression, dialect: str) -> exp.Expression:
    """A calendar column as a date the local day compares with (SQLite: ISO text, as its periods)."""
    if dialect == "sqlite":
        return exp.Anonymous(this="DATE", expressions=[value])
    return exp.cast(value, "date")


__all__ = ["PARSED_TIME", "PeriodError", "TimePrep", "time_preamble"]
