"""Semi-additive aggregates: ``aggregate: last`` / ``first`` (balances, pipeline value, headcount).

A balance is not summed over time: the value of a period is the sum of the column over the rows
at the latest (``last``) or earliest (``first``) time of the period, within each dimension group,
among the rows the KPI's filter keeps. Summing over dimensions is still right (the balance of a
region is the sum of its accounts' balances at that moment), summing over time is not.

One query per model serves all its semi-additive KPIs: a window function marks each group's
last (first) time per KPI, and the outer query sums the rows at that time.

    SELECT __kpi_p, dims, SUM(CASE WHEN <filter> AND __kpi_t = __kpi_at0 THEN col END) ...
    FROM (SELECT m.*, <local time> AS __kpi_t, <period> AS __kpi_p, <dims>,
                 MAX(CASE WHEN <filter> THEN <local time> END) OVER (PARTITION BY <period>, <dims>) AS __kpi_at0
          FROM model m WHERE <range>) AS w
    GROUP BY __kpi_p, dims

The inner scan joins dimension tables and applies ``--where`` as the window planner's does
(:func:`kpiengine.sql.rolling.joined`), so the last time is picked among the rows kept.
"""
from __future__ import annotations

from datetime import date

from sqlglot import exp

from ..spec.dialect import in_project_dialect
from ..spec.model import ALL_GRAIN, KpiSpec, Project
from ..spec.sqlsafety import parse_expression
from .compiler import (
    PERIOD_ALIAS,
    AggregateColumn,
    CompiledQuery,
    required_aggregates,
)
from .rolling import dim_alias, joined, prepared, timestamp_literal
from .windows import all_time_period, chains_by_aggregate, scan_lookback, widen_condition

SEMI_ADDITIVE = ("last", "first")


@in_project_dialect  # filters, dimensions, sql models: written in project.sql_dialect
def plan_semiadditive_queries(project: Project, kpi_names: list[str], grain: str, by: list[str],
                              start: date | None, end: date | None, dialect_of_source,
                              where: str | None = None) -> list[CompiledQuery]:
    by_model: dict[str, list[KpiSpec]] = {}
    for name in required_aggregates(project, kpi_names):
        kpi = project.kpis[name]
        if kpi.aggregate in SEMI_ADDITIVE and not kpi.window:
            by_model.setdefault(kpi.model, []).append(kpi)
    if not by_model:
        return []
    chains = chains_by_aggregate(project, kpi_names)
    return [compile_semiadditive_query(project, model, kpis, grain, by, start, end,
                                       dialect_of_source(project.models[model].source),
                                       scan_lookback(chains, kpis, grain, start, end), where=where)
            for model, kpis in by_model.items()]


def compile_semiadditive_query(project: Project, model_name: str, kpis: list[KpiSpec], grain: str, by: list[str],
                               start: date | None, end: date | None, dialect: str, lookback=(),
                               where: str | None = None) -> CompiledQuery:
    """The query filter and joins apply to the rows before the last (first) time is picked:
    the balance under ``--where`` is that of the rows it keeps, at their own latest time."""
    model = project.models[model_name]
    prep, plan, dims = prepared(project, model, grain, by, start, where, dialect)
    relation, time_expr, local, period = prep.relation, prep.time, prep.local, prep.period
    dim_cols = [f"__kpi_d{i}" for i in range(len(by))]
    partition = ([] if grain == ALL_GRAIN else [period.copy()]) + [d.copy() for d in dims]
    inner = [exp.column(exp.Star(), table="m"), exp.alias_(local.copy(), "__kpi_t", copy=False),
             exp.alias_(period, "__kpi_p", copy=False), *[exp.alias_(d, a) for d, a in zip(dims, dim_cols)]]
    outer, columns = [], []
    t = exp.column("__kpi_t")
    for i, kpi in enumerate(kpis):
        cond = parse_expression(kpi.filter, dialect) if kpi.filter else None
        moment = local.copy() if cond is None else exp.Case(ifs=[exp.If(this=cond, true=local.copy())])
        pick = exp.Max(this=moment) if kpi.aggregate == "last" else exp.Min(this=moment)
        at = f"__kpi_at{i}"
        inner.append(exp.alias_(exp.Window(this=pick, partition_by=partition or None), at, copy=False))
        keep = exp.EQ(this=t.copy(), expression=exp.column(at))
        if kpi.filter:
            keep = exp.and_(parse_expression(kpi.filter, dialect), keep)
        value = exp.Case(ifs=[exp.If(this=keep, true=parse_expression(kpi.column, dialect))])
        outer.append(exp.alias_(exp.Sum(this=value), f"k{i}", copy=False))
        columns.append(AggregateColumn(kpi=kpi.name, aggregate=kpi.aggregate, aliases=[f"k{i}"]))
    in_range = []
    if start is not None:
        in_range.append(exp.GTE(this=local.copy(), expression=timestamp_literal(start, dialect)))
    if end is not None:
        in_range.append(exp.LT(this=local.copy(), expression=timestamp_literal(end, dialect)))
    in_range = widen_condition(in_range, local, list(lookback), lambda d: timestamp_literal(d, dialect))
    scan = in_range + [exp.Not(this=exp.Is(this=time_expr.copy(), expression=exp.Null()))]
    rows = exp.select(*inner).from_(relation, copy=False).where(exp.and_(*scan), copy=False)
    rows = joined(rows, project, plan, where, dialect)
    dim_aliases = [dim_alias(d) for d in by]
    shown = all_time_period(start, dialect) if grain == ALL_GRAIN else exp.column("__kpi_p")
    select = (exp.select(exp.alias_(shown, PERIOD_ALIAS),
                         *[exp.alias_(exp.column(c), a) for c, a in zip(dim_cols, dim_aliases)])
              .select(*outer, copy=False)
              .from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=exp.to_identifier("w"))), copy=False))
    grouping = ([] if grain == ALL_GRAIN else [exp.column("__kpi_p")]) + [exp.column(c) for c in dim_cols]
    if grouping:
        select = select.group_by(*grouping, copy=False)
    return CompiledQuery(model=model.name, source=model.source, dialect=dialect, grain=grain, by=list(by),
                         expression=select, dim_aliases=dim_aliases, columns=columns, joins=plan.describe())
