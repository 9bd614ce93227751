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
  constant period, the request's start).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlglot import exp

from ..spec.model import ALL_GRAIN, ModelSpec, Project
from ..spec.sqlsafety import parse_expression
from .periods import PeriodError, localize, period_start_expr, text_to_timestamp
from .windows import all_time_period

PARSED_TIME = "__kpi_time"


@dataclass
class TimePrep:
    relation: exp.Expression
    raw: exp.Expression
    time: exp.Expression
    local: exp.Expression
    period: exp.Expression


def time_preamble(project: Project, model: ModelSpec, grain: str, start: date | None, dialect: str,
                  relation: exp.Expression) -> TimePrep:
    """The preamble of a query over ``model`` (``relation``: its FROM item); raises PeriodError.

    Every expression is a tree of its own: callers may place them without copying.
    """
    raw = parse_expression(model.time, dialect)
    if model.time_format:
        parsed = text_to_timestamp(raw.copy(), model.time_format, dialect)
        inner = exp.select(exp.column(exp.Star(), table="m"),
                           exp.alias_(parsed, PARSED_TIME, copy=False)).from_(relation, copy=False)
        relation = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("m")))
        time: exp.Expression = exp.column(PARSED_TIME)
    else:
        time = raw.copy()
    if grain == ALL_GRAIN:  # one row per dimension values over the whole range
        period = all_time_period(start, dialect)
    else:
        period = period_start_expr(time.copy(), grain, dialect, project.timezone, model.source_zone)
    local = localize(time.copy(), dialect, project.timezone, model.source_zone)
    return TimePrep(relation=relation, raw=raw, time=time, local=local, period=period)


__all__ = ["PARSED_TIME", "PeriodError", "TimePrep", "time_preamble"]
