"""Data checks as SQL: one query per model for every check of the judged day, built as sqlglot trees.

``SELECT COUNT(*), COUNT(*) - COUNT(region), SUM(CASE WHEN amount < 0 ... END),
COUNT(DISTINCT CASE WHEN region IN ('east', 'west') THEN region END),
(SELECT COUNT(id) - COUNT(DISTINCT id) FROM orders) FROM orders WHERE <the day>``:
the day's rows are read once whatever the number of checks; duplicate keys are
counted over the whole model (a key repeated across days is a duplicate too).
Volume checks read the model's rows per day (:func:`kpiengine.sql.fingerprint.day_counts_query`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlglot import exp

from ..spec.model import ModelSpec, Project
from ..spec.sqlsafety import parse_expression
from .compiler import dimension_expr, model_relation, model_time_expr
from .periods import localize


@dataclass
class ChecksQuery:
    model: str
    sql: str
    columns: list[str]  # "rows", then the name of each check it measures, in select order


def _day_start(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat() + " 00:00:00")
    return text if dialect == "sqlite" else exp.cast(text, "timestamp")  # SQLite compares ISO text


def _literal(value) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def checks_query(project: Project, model: ModelSpec, checks: list, day: date, dialect: str) -> ChecksQuery:
    """The measures of ``checks`` (all but volume) over the rows of ``day`` (project time zone)."""
    local = localize(model_time_expr(project, model, dialect), dialect, project.timezone, model.source_zone)
    columns, selects = ["rows"], [exp.Count(this=exp.Star())]
    for c in checks:
        if c.type == "nulls":
            col = parse_expression(c.column, dialect)
            selects.append(exp.Sub(this=exp.Count(this=exp.Star()), expression=exp.Count(this=col)))
        elif c.type == "range":
            col = parse_expression(c.column, dialect)
            outside = []
            if c.min is not None:
                outside.append(exp.LT(this=col.copy(), expression=exp.Literal.number(c.min)))
            if c.max is not None:
                outside.append(exp.GT(this=col.copy(), expression=exp.Literal.number(c.max)))
            hit = exp.Case(ifs=[exp.If(this=exp.or_(*outside), true=exp.Literal.number(1))],
                           default=exp.Literal.number(0))
            selects.append(exp.Coalesce(this=exp.Sum(this=hit), expressions=[exp.Literal.number(0)]))
        elif c.type == "required":
            dim = dimension_expr(project, model, c.dimension, dialect)
            wanted = exp.In(this=dim.copy(), expressions=[_literal(v) for v in c.values])
            selects.append(exp.Count(this=exp.Distinct(expressions=[exp.Case(ifs=[exp.If(this=wanted, true=dim)])])))
        elif c.type == "unique":
            col = parse_expression(c.column, dialect)
            whole = (exp.select(exp.Sub(this=exp.Count(this=col), expression=exp.Count(
                this=exp.Distinct(expressions=[col.copy()])))).from_(model_relation(project, model, dialect)))
            selects.append(exp.Subquery(this=whole))
        else:
            continue
        columns.append(c.name)
    where = exp.and_(exp.GTE(this=local.copy(), expression=_day_start(day, dialect)),
                     exp.LT(this=local.copy(), expression=_day_start(day + timedelta(days=1), dialect)))
    select = exp.select(*[exp.alias_(e, f"c{i}") for i, e in enumerate(selects)]).from_(
        model_relation(project, model, dialect), copy=False).where(where, copy=False)
    return ChecksQuery(model.name, select.sql(dialect=dialect), columns)
