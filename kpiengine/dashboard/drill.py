"""The rows behind a number: the first rows of a KPI's model for one period and segment, and as CSV.

Clicking a point asks "which deals are these?". The engine aggregates; it does
not return rows, so this builds one read-only SELECT with sqlglot from the same
parts the compiler uses (the model's relation, time and dimension expressions,
the KPI's filter) and runs it on the model's source through the engine. A
formula KPI has no rows of its own: its inputs do, and ``input=`` picks one
(default: the first input measured on a model).
"""
from __future__ import annotations

import csv
import io
from datetime import date

from sqlglot import exp

from ..spec.dialect import in_project_dialect
from ..spec.entities import column_dimension, where_dimensions
from ..spec.formula import parse_formula
from ..sql.compiler import dimension_expr, model_relation, model_time_expr
from ..sql.periods import localize, next_period, python_period_start
from ..spec.sqlsafety import parse_expression
from .options import DashboardError

MAX_ROWS = 100


def row_kpis(project, kpi: str) -> list[str]:
    """The KPIs whose model rows stand behind ``kpi``: itself, or the inputs of its formula, in order."""
    spec = project.kpis[kpi]
    if not spec.is_formula:
        return [kpi]
    out: list[str] = []
    for column in parse_formula(spec.formula).find_all(exp.Column):
        if column.name in project.kpis and column.name not in out:
            out += [k for k in row_kpis(project, column.name) if k not in out]
    return out


def _timestamp(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat() + " 00:00:00")
    return text if dialect == "sqlite" else exp.cast(text, "timestamp")


@in_project_dialect  # the KPI's filter and dimensions: written in project.sql_dialect
def drill_sql(project, kpi: str, grain: str, period: date, dimensions: dict, dialect: str,
              limit: int = MAX_ROWS, where: str | None = None) -> str:
    """SELECT the model's rows counted in ``kpi`` for ``period`` and ``dimensions`` (NULL matches NULL).

    ``where``: the page's query filter over dimension names (checked by options.parse_where),
    rewritten over the model's dimension expressions as the compiler does.
    """
    spec = project.kpis[kpi]
    model = project.models[spec.model]
    time = model_time_expr(project, model, dialect)
    local = localize(time.copy(), dialect, project.timezone, model.source_zone)
    conds = [exp.GTE(this=local.copy(), expression=_timestamp(period, dialect)),
             exp.LT(this=local.copy(), expression=_timestamp(next_period(period, grain), dialect))]
    for dim, value in dimensions.items():
        column = dimension_expr(project, model, dim, dialect)
        conds.append(exp.Is(this=column, expression=exp.Null()) if value is None else
                     exp.EQ(this=exp.cast(column, "text"), expression=exp.Literal.string(str(value))))
    if spec.filter:
        conds.append(parse_expression(spec.filter, dialect))
    if where:
        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column):
                return exp.Paren(this=dimension_expr(project, model, column_dimension(node), dialect))
            return node

        conds.append(exp.Paren(this=parse_expression(where, dialect).transform(swap, copy=False)))
    query = (exp.select(exp.Star()).from_(model_relation(project, model, dialect)).where(exp.and_(*conds))
             .order_by(exp.Ordered(this=time.copy())).limit(limit))
    return query.sql(dialect=dialect)


def drill(engine, kpi: str, grain: str, period: date, dimensions: dict, input_kpi: str | None = None,
          limit: int = MAX_ROWS, where: str | None = None) -> dict:
    """The first ``limit`` rows behind ``kpi`` (or its input ``input_kpi``), with the columns' names."""
    project = engine.project
    if kpi not in project.kpis:
        raise DashboardError(f"option 'kpi': unknown KPI {kpi!r}", "kpi")
    candidates = row_kpis(project, kpi)
    if not candidates:
        raise DashboardError(f"{kpi} is computed from no model: there are no rows behind it", "kpi")
    chosen = input_kpi or candidates[0]
    if chosen not in candidates:
        raise DashboardError(f"option 'input': {chosen!r} is not an input of {kpi}; use one of "
                             f"{', '.join(candidates)}", "input")
    spec = project.kpis[chosen]
    model = project.models[spec.model]
    missing = [d for d in dimensions if d not in model.dimensions]
    if missing:
        raise DashboardError(f"option 'dims': model {model.name!r} has no dimension {', '.join(missing)}", "dims")
    lacking = [d for d in where_dimensions(where, "duckdb") if d not in model.dimensions] if where else []
    if lacking:
        raise DashboardError(f"option 'where': the rows of model {model.name!r} cannot be filtered by "
                             f"{', '.join(lacking)} (not a dimension of the model)", "where")
    period = python_period_start(period, grain)
    dialect = engine.dialect_of(model.source)
    sql = drill_sql(project, chosen, grain, period, dimensions, dialect, limit, where)
    result = engine.run_sql(model.source, sql)
    return {"kpi": kpi, "input": chosen, "inputs": candidates, "label": spec.label, "model": model.name,
            "period": period.isoformat(), "grain": grain, "dimensions": dimensions, "filter": spec.filter,
            "where": where,
            "columns": list(result.columns), "rows": [[_cell(v) for v in r] for r in result.rows],
            "limit": limit, "truncated": len(result.rows) >= limit}


def _cell(value):
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


def as_csv(rows: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(rows["columns"])
    for r in rows["rows"]:
        # a cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in ("=", "+", "-", "@") else c for c in r])
    return out.getvalue()
