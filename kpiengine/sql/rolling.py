"""Rolling, cumulative and grain-to-date aggregates: ``window: 28d``, ``4 periods``, ``cumulative``, ``mtd``.

A window aggregate is not a sum of per-period values (a count of distinct customers over
28 days is not the sum of 4 weekly counts), so it is computed in SQL: the model's rows are
joined to the periods the request shows (a spine of the distinct periods the model has rows
in, inside the requested range) on "the row's time falls in the period's window", and
aggregated per period. KPIs of one model with the same window share one such query.

    WITH __kpi_w AS (SELECT m.*, <local time> AS __kpi_t, <period> AS __kpi_wp, <dims> FROM model m
                     WHERE <time in the widest window>),
         __kpi_s AS (SELECT DISTINCT __kpi_wp AS __kpi_p FROM __kpi_w WHERE <time in the range>)
    SELECT s.__kpi_p, dims, aggregates FROM __kpi_s s JOIN __kpi_w w
      ON w.__kpi_t >= <window start of s.__kpi_p> AND w.__kpi_t < <end of s.__kpi_p>
    GROUP BY s.__kpi_p, dims

The rows are read like the main query's (:mod:`.timeprep`: relation, parsed and local time,
period): a joined breakdown (``rep.team``) LEFT JOINs its dimension tables to them, and a
query filter (``--where``) keeps rows before any window holds them (:func:`joined`).

The join reads each row once per period whose window holds it: a 4-period window reads the
data 4 times, a cumulative window over N periods up to N times (see docs/spec.md).
"""
from __future__ import annotations

from datetime import date

from sqlglot import exp

from ..spec.dialect import in_project_dialect
from ..spec.entities import DimensionRefError
from ..spec.model import KpiSpec, ModelSpec, Project
from ..spec.offsets import OffsetError, Window, parse_window, truncate
from ..spec.timedims import is_time_dimension
from .compiler import (
    PERIOD_ALIAS,
    CompiledQuery,
    CompileError,
    aggregate_columns,
    dimension_expr,
    model_relation,
    required_aggregates,
)
from .joins import JoinPlan, attach, dimension_expression, plan_request, where_condition
from . import window_islands as islands
from .periods import PeriodError, period_start_expr
from .timeprep import TimePrep, time_preamble
from .windows import chains_by_aggregate, scan_lookback, widen_condition

_STEP = {"day": (1, "DAY"), "week": (7, "DAY"), "month": (1, "MONTH"), "quarter": (3, "MONTH"), "year": (12, "MONTH")}


def timestamp_literal(d: date, dialect: str) -> exp.Expression:
    """Midnight of ``d`` as a timestamp literal (SQLite compares ISO text)."""
    text = exp.Literal.string(d.isoformat() + " 00:00:00")
    if dialect == "sqlite":
        return text
    return exp.cast(text, "datetime" if dialect == "bigquery" else "timestamp")


def _as_time(day: exp.Expression, dialect: str) -> exp.Expression:
    """A DATE expression compared with a timestamp: made a timestamp where engines are strict."""
    if dialect == "sqlite":
        return day  # 'YYYY-MM-DD' < 'YYYY-MM-DD HH:MM:SS' as text, as SQLite stores times
    return exp.cast(day, "datetime" if dialect == "bigquery" else "timestamp")


def _add(day: exp.Expression, n: int, grain: str) -> exp.Expression:
    """``day`` moved by ``n`` periods of ``grain`` (weeks as 7 days, quarters as 3 months: portable units)."""
    size, unit = _STEP[grain]
    return exp.DateAdd(this=day, expression=exp.Literal.number(n * size), unit=exp.var(unit))


def _window_start(window: Window, p: exp.Expression, grain: str, dialect: str) -> exp.Expression | None:
    if window.kind == "periods":
        return p.copy() if window.n == 1 else _add(p.copy(), 1 - window.n, grain)
    if window.kind == "days":
        end = _add(p.copy(), 1, grain)
        return exp.DateAdd(this=end, expression=exp.Literal.number(-window.n), unit=exp.var("DAY"))
    if window.kind == "to_date":
        return period_start_expr(p.copy(), window.unit, dialect, "UTC")  # p is already a local date
    return None


def prepared(project: Project, model: ModelSpec, grain: str, by: list[str], start: date | None,
             where: str | None, dialect: str) -> tuple[TimePrep, JoinPlan, list[exp.Expression]]:
    """The time preamble, the join plan and the breakdown expressions of a planner's row scan.

    As in the main compiler: dimensions of other models (``rep.team``) and those a query
    filter names are LEFT JOINed to the rows (sql/joins.py); built-in time dimensions
    (``day_of_week``) come from the model's own time.
    """
    try:
        prep = time_preamble(project, model, grain, start, dialect, lambda m: model_relation(project, m, dialect))
    except PeriodError as exc:
        raise CompileError(f"model '{model.name}': {exc}") from None
    try:
        plan = plan_request(project, model, by, where, dialect)
    except DimensionRefError as exc:
        raise CompileError(str(exc), exc.hint) from None
    dims = [dimension_expr(project, model, d, dialect) if is_time_dimension(d, model.dimensions)
            else dimension_expression(project, plan, d, dialect) for d in by]
    return prep, plan, dims


def joined(select: exp.Select, project: Project, plan: JoinPlan, where: str | None, dialect: str) -> exp.Select:
    """The row scan ``select`` (over ``m``) with the query filter and the plan's LEFT JOINs."""
    if where:
        select = select.where(where_condition(project, plan, where, dialect), copy=False)
    return attach(select, project, plan, dialect, lambda target, d: model_relation(project, target, d))


def dim_alias(dim: str) -> str:
    """The output column of a breakdown dimension (``rep.team`` -> ``d_rep__team``, as the main compiler)."""
    return f"d_{dim}".replace(".", "__")


@in_project_dialect  # filters, dimensions, sql models: written in project.sql_dialect
def plan_window_queries(project: Project, kpi_names: list[str], grain: str, by: list[str], start: date | None,
                        end: date | None, dialect_of_source, where: str | None = None) -> list[CompiledQuery]:
    """One query per (model, window) for the window aggregates ``kpi_names`` need."""
    groups: dict[tuple[str, Window], list[KpiSpec]] = {}
    for name in required_aggregates(project, kpi_names):
        kpi = project.kpis[name]
        if not kpi.window:
            continue
        try:
            window = parse_window(kpi.window)
            window.check_grain(grain)
        except OffsetError as exc:
            raise CompileError(f"KPI '{name}': {exc}", exc.hint) from None
        groups.setdefault((kpi.model, window), []).append(kpi)
    if not groups:
        return []
    chains = chains_by_aggregate(project, kpi_names)
    return [compile_window_query(project, model, window, kpis, grain, by, start, end,
                                 dialect_of_source(project.models[model].source),
                                 scan_lookback(chains, kpis, grain, start, end), where=where)
            for (model, window), kpis in groups.items()]


def compile_window_query(project: Project, model_name: str, window: Window, kpis: list[KpiSpec], grain: str,
                         by: list[str], start: date | None, end: date | None, dialect: str,
                         lookback=(), where: str | None = None) -> CompiledQuery:
    model = project.models[model_name]
    prep, plan, dims = prepared(project, model, grain, by, start, where, dialect)
    relation, time_expr, local, period = prep.relation, prep.time, prep.local, prep.period
    dim_cols = [f"__kpi_d{i}" for i in range(len(by))]
    t = exp.column("__kpi_t")

    # The rows: every row whose time can fall in the window of a shown (or offset-read) period.
    first = min([d for d in [start] + [lo for lo, _ in lookback] if d is not None], default=None)
    if any(lo is None for lo, _ in lookback):
        first = None
    last_end = end if not any(hi is None for _, hi in lookback) else None
    if last_end is not None:
        last_end = max([last_end] + [hi for _, hi in lookback if hi is not None])
    scan = [exp.Not(this=exp.Is(this=time_expr.copy(), expression=exp.Null()))]
    lower = window.first_day(truncate(first, grain), grain) if first is not None else None
    if lower is not None:
        scan.append(exp.GTE(this=local.copy(), expression=timestamp_literal(lower, dialect)))
    if last_end is not None:
        scan.append(exp.LT(this=local.copy(), expression=timestamp_literal(last_end, dialect)))
    rows = (exp.select(exp.column(exp.Star(), table="m"), exp.alias_(local, "__kpi_t", copy=False),
                       exp.alias_(period, "__kpi_wp", copy=False),
                       *[exp.alias_(d, a) for d, a in zip(dims, dim_cols)])
            .from_(relation, copy=False).where(exp.and_(*scan), copy=False))
    rows = joined(rows, project, plan, where, dialect)  # the filter holds for every row a window reads

    # The periods shown: those the model has rows in, inside the requested range (and offset reads).
    in_range = []
    if start is not None:
        in_range.append(exp.GTE(this=t.copy(), expression=timestamp_literal(start, dialect)))
    if end is not None:
        in_range.append(exp.LT(this=t.copy(), expression=timestamp_literal(end, dialect)))
    in_range = widen_condition(in_range, t, list(lookback), lambda d: timestamp_literal(d, dialect))
    spine = exp.select(exp.alias_(exp.column("__kpi_wp"), "__kpi_p")).distinct().from_("__kpi_w")
    if in_range:
        spine = spine.where(exp.and_(*in_range), copy=False)

    dim_aliases = [dim_alias(d) for d in by]
    if islands.applies(window, kpis, dialect):  # distinct counts over days: no join of periods to rows
        final, ctes, columns = islands.islands_query(window, kpis, dim_cols, dim_aliases,
                                                     lambda q: _add(q, 1, grain), dialect)
        final = final.with_("__kpi_w", as_=rows).with_("__kpi_s", as_=spine)
        for name, body in ctes:
            final = final.with_(name, as_=body, copy=False)
        return CompiledQuery(model=model.name, source=model.source, dialect=dialect, grain=grain, by=list(by),
                             expression=final, dim_aliases=dim_aliases, columns=columns, joins=plan.describe())

    p = exp.column("__kpi_p", table="s")
    on = [exp.LT(this=exp.column("__kpi_t", table="w"), expression=_as_time(_add(p.copy(), 1, grain), dialect))]
    lo = _window_start(window, p, grain, dialect)
    if lo is not None:  # cumulative: everything before the period's end
        on.insert(0, exp.GTE(this=exp.column("__kpi_t", table="w"), expression=_as_time(lo, dialect)))
    w_dims = [exp.column(c, table="w") for c in dim_cols]
    aggregates, columns = [], []
    for i, kpi in enumerate(kpis):
        exprs, meta = aggregate_columns(kpi, dialect, f"k{i}")
        aggregates += exprs
        columns.append(meta)
    select = (exp.select(exp.alias_(p.copy(), PERIOD_ALIAS), *[exp.alias_(d, a) for d, a in zip(w_dims, dim_aliases)])
              .select(*aggregates, copy=False)
              .from_(exp.Table(this=exp.to_identifier("__kpi_s"), alias=exp.TableAlias(this=exp.to_identifier("s"))))
              .join(exp.Table(this=exp.to_identifier("__kpi_w"), alias=exp.TableAlias(this=exp.to_identifier("w"))),
                    on=exp.and_(*on), join_type="INNER")
              .group_by(p.copy(), *[d.copy() for d in w_dims], copy=False)
              .with_("__kpi_w", as_=rows).with_("__kpi_s", as_=spine))
    return CompiledQuery(model=model.name, source=model.source, dialect=dialect, grain=grain, by=list(by),
                         expression=select, dim_aliases=dim_aliases, columns=columns, joins=plan.describe())
