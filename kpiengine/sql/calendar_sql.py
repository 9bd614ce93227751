"""The periods of a custom calendar's grain, read in the same request as the KPIs.

A request at ``--grain fiscal_quarter`` groups each model's rows by the calendar's
period column (:mod:`.timeprep`). What the Python side does with those periods
(the first one of ``--from``, whether one is over, the gaps to fill) needs their
boundaries, which only the calendar table knows: this query reads them once
(``SELECT first_day, MAX(day) ... GROUP BY first_day``) and the engine hands its
rows to :func:`kpiengine.spec.calendars.remember_periods`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..spec.calendars import calendar_of
from ..spec.dialect import in_project_dialect
from ..spec.model import Project
from ..spec.sqlsafety import parse_expression
from .compiler import CompiledQuery, CompileError, model_relation, required_aggregates
from .timeprep import calendar_date
from .windows import offset_chains


@dataclass
class CalendarQuery(CompiledQuery):
    """Not a KPI query: its rows are (first day, last day) of each period of ``calendar_grain``."""

    calendar_grain: str = ""
    # named here too: the plan cache keeps the properties a query's own class defines (run/querycache.py)
    sql = CompiledQuery.sql
    kpis = CompiledQuery.kpis


@in_project_dialect
def plan_calendar_queries(project: Project, kpi_names: list[str], grain: str, dialect_of_source) -> list[CompiledQuery]:
    found = calendar_of(project, grain)
    if found is None:
        return []
    calendar, column = found
    for name in required_aggregates(project, kpi_names):
        if project.kpis[name].window:
            raise CompileError(f"KPI '{name}' (`window: {project.kpis[name].window}`) needs a built-in grain, not the "
                               f"custom grain '{grain}'", "request day, week, month, quarter or year for windows")
    if any(offset_chains(project, kpi_names)):
        raise CompileError(f"a formula reads a KPI at another period, which needs a built-in grain, not the custom "
                           f"grain '{grain}'", "request day, week, month, quarter or year for offsets")
    model = project.models.get(calendar.model)
    if model is None:
        raise CompileError(f"calendar '{calendar.name}': unknown model '{calendar.model}'")
    dialect = dialect_of_source(model.source)
    first = calendar_date(parse_expression(column, dialect), dialect)
    day = calendar_date(parse_expression(calendar.date, dialect), dialect)
    select = (exp.select(exp.alias_(first, "period_start", copy=False), exp.alias_(exp.Max(this=day), "last_day"))
              .from_(model_relation(project, model, dialect), copy=False).group_by(first.copy(), copy=False))
    return [CalendarQuery(model=model.name, source=model.source, dialect=dialect, grain=grain, by=[],
                          expression=select, dim_aliases=[], calendar_grain=grain)]
