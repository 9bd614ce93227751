"""SQL for the built-in time breakdowns (``day_of_week``, ``hour``, ``time_month``...; see spec.timedims).

Engines disagree on the day of the week (Sunday = 1 on Spark and BigQuery, 0 in SQLite's
``%w``, ``@@DATEFIRST`` on SQL Server; sqlglot's own ISO day-of-week for Spark is off by one),
so each dialect gets a template known to give ISO 1 = Monday .. 7 = Sunday, parsed in that
dialect with the time substituted as a syntax-tree node, as in :mod:`kpiengine.sql.periods`.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..spec.timedims import TIME_GRAIN_DIMENSIONS
from .periods import localize, period_start_expr

_T = "__kpi_time__"
_DOW = {
    "duckdb": f"ISODOW({_T})",
    "postgres": f"CAST(EXTRACT(ISODOW FROM {_T}) AS INTEGER)",
    "redshift": f"CAST(EXTRACT(ISODOW FROM {_T}) AS INTEGER)",
    "mysql": f"WEEKDAY({_T}) + 1",
    "sqlite": f"((CAST(STRFTIME('%w', {_T}) AS INTEGER) + 6) % 7) + 1",
    "spark": f"((DAYOFWEEK({_T}) + 5) % 7) + 1",
    "databricks": f"((DAYOFWEEK({_T}) + 5) % 7) + 1",
    "snowflake": f"DAYOFWEEKISO({_T})",
    "bigquery": f"MOD(EXTRACT(DAYOFWEEK FROM {_T}) + 5, 7) + 1",
    "trino": f"DAY_OF_WEEK({_T})",
    "presto": f"DAY_OF_WEEK({_T})",
    "tsql": f"((DATEPART(weekday, {_T}) + @@DATEFIRST - 2) % 7) + 1",
}
_HOUR = {"sqlite": f"CAST(STRFTIME('%H', {_T}) AS INTEGER)", "tsql": f"DATEPART(hour, {_T})"}


def _template(text: str, time_expr: exp.Expression, dialect: str) -> exp.Expression:
    tree = sqlglot.parse_one(text, read=dialect)
    return tree.transform(lambda n: time_expr.copy() if isinstance(n, exp.Column) and n.name == _T else n)


def time_dimension_expr(name: str, time_expr: exp.Expression, dialect: str, timezone: str) -> exp.Expression:
    """The SQL of the built-in breakdown ``name`` over the model's (UTC) event time."""
    if name in TIME_GRAIN_DIMENSIONS:
        return period_start_expr(time_expr, TIME_GRAIN_DIMENSIONS[name], dialect, timezone)
    local = localize(time_expr, dialect, timezone)
    if name == "day_of_week":
        return exp.Paren(this=_template(_DOW.get(dialect, f"DAYOFWEEKISO({_T})"), local, dialect))
    if dialect in _HOUR:
        return _template(_HOUR[dialect], local, dialect)
    return exp.cast(exp.Extract(this=exp.var("HOUR"), expression=local), "int")
