"""Where a KPI becomes SQL.

For one request (grain, breakdown, date range) every aggregate KPI that reads
the same model is computed in ONE scan of that model, with conditional
aggregation (``SUM(CASE WHEN filter THEN x END)``) instead of one query per
KPI. Queries are built as sqlglot syntax trees and rendered for the source's
dialect; user text (columns, filters, dimension expressions) enters only as
parsed and checked expressions, labels never enter SQL at all.

Formulas are not compiled to SQL: they are evaluated in Python over these
per-model aggregates (see :mod:`kpiengine.engine`), which keeps division by
zero, NULL handling and joins across models identical on every engine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from ..spec.dialect import in_project_dialect
from ..spec.entities import DimensionRefError, where_dimensions
from ..spec.formula import parse_formula, references
from ..spec.model import ALL_GRAIN, GRAINS, KpiSpec, ModelSpec, Project
from ..spec.sqlsafety import parse_expression, parse_select, read_dialect
from ..spec.sqltree import copy_tree
from ..spec.timedims import is_time_dimension
from .joins import attach, dimension_expression, plan_joins, where_condition
from .periods import PeriodError, text_to_timestamp
from .timeparts import time_dimension_expr
from .timeprep import PARSED_TIME, time_preamble  # noqa: F401  (PARSED_TIME: re-exported)
from .windows import chains_by_aggregate, scan_lookback, widen_condition

PERIOD_ALIAS = "period_start"

# Where PERCENTILE_CONT ... WITHIN GROUP works as an aggregate (others need a window or lack it).
_PERCENTILE_EXACT = {"postgres", "snowflake", "redshift", "oracle", "databricks"}


class CompileError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass
class AggregateColumn:
    """How one aggregate KPI is read back from a model query's columns."""

    kpi: str
    aggregate: str
    aliases: list[str]  # avg -> [sum, count]; others one column


@dataclass
class CompiledQuery:
    model: str
    source: str
    dialect: str
    grain: str
    by: list[str]
    expression: exp.Select
    dim_aliases: list[str]
    columns: list[AggregateColumn] = field(default_factory=list)
    time_format: str | None = None  # set when the last column samples unreadable text times
    joins: list[str] = field(default_factory=list)  # the join path of each joined dimension (kpi explain)
    plain: bool = False  # one grouped SELECT of aggregates (not a window or semi-additive plan)

    @property
    def sql(self) -> str:
        # The generator rewrites the tree it renders, so it renders a copy: ours, the faster (spec.sqltree).
        return copy_tree(self.expression).sql(dialect=self.dialect, copy=False)

    def pretty(self) -> str:
        return copy_tree(self.expression).sql(dialect=self.dialect, pretty=True, copy=False)

    @property
    def kpis(self) -> list[str]:
        return [c.kpi for c in self.columns]


def model_relation(project: Project, model: ModelSpec, dialect: str) -> exp.Expression:
    """The FROM clause item of a model: a table, a subquery, or a file reader (DuckDB)."""
    alias = exp.TableAlias(this=exp.to_identifier("m"))
    if model.table:
        table = exp.to_table(str(model.table), dialect=dialect)
        table.set("alias", alias)
        return table
    if model.sql:
        # A spec's sql is written in project.sql_dialect; SQL a feature generated (funnels) is the source's.
        read = read_dialect(dialect) if model.raw is not None else dialect
        return exp.Subquery(this=parse_select(model.sql, read), alias=alias)
    if model.file:
        if dialect != "duckdb":
            raise CompileError(f"model '{model.name}' reads a file, which only DuckDB sources can do",
                               "point the model at a duckdb source, or load the file into a table")
        path = model_file_path(project, model)
        lower = path.lower()
        reader = "READ_PARQUET" if lower.endswith((".parquet", ".pq")) else "READ_CSV_AUTO"
        args: list[exp.Expression] = [exp.Literal.string(path)]
        if reader == "READ_CSV_AUTO" and model.time_format and _is_plain_column(model.time, dialect):
            # Keep the text date as text: DuckDB's sniffer may type "01-02-2018" as a date on its own,
            # and the model's time_format, not a guess, decides what it means.
            column = exp.PropertyEQ(this=exp.to_identifier(model.time), expression=exp.Literal.string("VARCHAR"))
            args.append(exp.EQ(this=exp.column("types"), expression=exp.Struct(expressions=[column])))
        func = exp.Anonymous(this=reader, expressions=args)
        return exp.Table(this=func, alias=alias)
    raise CompileError(f"model '{model.name}' has no table, sql or file")


def model_file_path(project: Project, model: ModelSpec) -> str:
    """The file a file model reads, as the warehouse sees it (relative paths from the spec folder)."""
    return model.file if os.path.isabs(model.file) else os.path.join(project.folder, model.file)


def _is_plain_column(text: str, dialect: str) -> bool:
    node = parse_expression(text, dialect)
    return isinstance(node, exp.Column) and not node.table


def model_time_expr(project: Project, model: ModelSpec, dialect: str) -> exp.Expression:
    """The model's event time as a timestamp expression (text dates parsed with time_format)."""
    raw = parse_expression(model.time, dialect)
    if model.time_format:
        return text_to_timestamp(raw, model.time_format, dialect)
    return raw


def dimension_expr(project: Project, model: ModelSpec, dim: str, dialect: str) -> exp.Expression:
    if is_time_dimension(dim, model.dimensions):  # day_of_week, hour, time_month... (spec.timedims)
        try:
            return time_dimension_expr(dim, model_time_expr(project, model, dialect), dialect, project.timezone)
        except PeriodError as exc:
            raise CompileError(f"model '{model.name}': {exc}") from None
    if dim not in model.dimensions:
        raise CompileError(f"model '{model.name}' has no dimension '{dim}'",
                           f"available: {', '.join(model.dimensions) or 'none'}")
    return parse_expression(str(model.dimensions[dim]), dialect)


def _timestamp_literal(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat() + " 00:00:00")
    if dialect == "sqlite":
        return text  # SQLite compares ISO text; CAST(... AS DATE) would give a number
    if dialect == "bigquery":
        return exp.cast(text, "datetime")
    return exp.cast(text, "timestamp")


def _conditional(value: exp.Expression, condition: exp.Expression | None, *, copy: bool = False
                 ) -> exp.Expression:
    if condition is None:
        return value
    return exp.Case(ifs=[exp.If(this=condition.copy() if copy else condition, true=value)])


# Dialects with the standard aggregate FILTER (WHERE ...) clause, measured faster than
# CASE WHEN inside the aggregate (DuckDB at 10M rows: 1.36x -> 1.19x the hand-written query).
# SQLite has it from 3.30; Spark's DISTINCT with FILTER came late, so Spark keeps CASE.
FILTER_CLAUSE = {"duckdb", "postgres", "sqlite"}
# Where dropping the NOT NULL time test for a HAVING on the period pays (measured on DuckDB at 10M
# rows: about 3 %); PostgreSQL pushes that HAVING down into a per-row date_trunc, which costs more.
_STRICT_TIME = {"duckdb"}
_FILTERABLE = {"count", "count_distinct", "sum", "avg", "min", "max"}


def _filtered(agg: exp.Expression, condition: exp.Expression, copy: bool = False) -> exp.Expression:
    return exp.Filter(this=agg, expression=exp.Where(this=condition.copy() if copy else condition))


def aggregate_columns(kpi: KpiSpec, dialect: str, prefix: str) -> tuple[list[exp.Expression], AggregateColumn]:
    cond = parse_expression(kpi.filter, dialect) if kpi.filter else None
    col = parse_expression(kpi.column, dialect) if kpi.column else None
    agg = kpi.aggregate
    if cond is not None and agg in _FILTERABLE and dialect in FILTER_CLAUSE:
        return _filter_clause_columns(kpi, col, cond, prefix)
    if agg == "count":
        if col is None and cond is None:
            exprs = [exp.Count(this=exp.Star())]
        else:
            exprs = [exp.Count(this=_conditional(col if col is not None else exp.Literal.number(1), cond))]
    elif agg == "count_distinct":
        exprs = [exp.Count(this=exp.Distinct(expressions=[_conditional(col, cond)]))]
    elif agg == "sum":
        exprs = [exp.Sum(this=_conditional(col, cond))]
    elif agg == "avg":
        # Averages are SUM / COUNT divided in Python: MySQL rounds AVG of integers to 4 decimals.
        exprs = [exp.Sum(this=_conditional(col, cond)), exp.Count(this=_conditional(col.copy(), cond, copy=True))]
    elif agg == "min":
        exprs = [exp.Min(this=_conditional(col, cond))]
    elif agg == "max":
        exprs = [exp.Max(this=_conditional(col, cond))]
    elif agg == "percentile":
        exprs = [_percentile(_conditional(col, cond), float(kpi.percentile), dialect, kpi.name)]
    elif agg == "percentile_disc":  # the smallest value whose cumulative share reaches p (no interpolation)
        exprs = [percentile_disc(_conditional(col, cond), float(kpi.percentile), dialect, kpi.name)]
    else:
        raise CompileError(f"KPI '{kpi.name}': unknown aggregate '{agg}'")
    aliases = [f"{prefix}_{i}" if len(exprs) > 1 else prefix for i in range(len(exprs))]
    # Freshly built trees: aliasing them needs no defensive copy (copies dominate compile time).
    return ([exp.alias_(e, a, copy=False) for e, a in zip(exprs, aliases)],
            AggregateColumn(kpi=kpi.name, aggregate=agg, aliases=aliases))


def _filter_clause_columns(kpi: KpiSpec, col: exp.Expression | None, cond: exp.Expression, prefix: str
                           ) -> tuple[list[exp.Expression], AggregateColumn]:
    agg = kpi.aggregate
    if agg == "count":
        exprs = [_filtered(exp.Count(this=col if col is not None else exp.Star()), cond)]
    elif agg == "count_distinct":
        exprs = [_filtered(exp.Count(this=exp.Distinct(expressions=[col])), cond)]
    elif agg == "avg":  # SUM / COUNT divided later, as without FILTER
        exprs = [_filtered(exp.Sum(this=col), cond), _filtered(exp.Count(this=col.copy()), cond, copy=True)]
    else:
        exprs = [_filtered({"sum": exp.Sum, "min": exp.Min, "max": exp.Max}[agg](this=col), cond)]
    aliases = [f"{prefix}_{i}" if len(exprs) > 1 else prefix for i in range(len(exprs))]
    return ([exp.alias_(e, a, copy=False) for e, a in zip(exprs, aliases)],
            AggregateColumn(kpi=kpi.name, aggregate=agg, aliases=aliases))


def _percentile(value: exp.Expression, p: float, dialect: str, kpi: str) -> exp.Expression:
    # As DOUBLE: DuckDB keeps a DECIMAL(12,2) input's scale and would cut the interpolated value.
    value = exp.cast(value, "double")
    if dialect == "duckdb":
        return exp.Anonymous(this="QUANTILE_CONT", expressions=[value, exp.Literal.number(p)])
    if dialect in ("spark", "spark2", "databricks", "hive"):
        return exp.Anonymous(this="PERCENTILE", expressions=[value, exp.Literal.number(p)])  # exact, interpolated
    if dialect in _PERCENTILE_EXACT:
        return exp.WithinGroup(this=exp.PercentileCont(this=exp.Literal.number(p)),
                               expression=exp.Order(expressions=[exp.Ordered(this=value)]))
    raise CompileError(f"KPI '{kpi}': percentile is not available as an aggregate on {dialect}",
                       "use duckdb, postgres, snowflake, redshift or spark, or another aggregate")


def percentile_disc(value: exp.Expression, p: float, dialect: str, kpi: str) -> exp.Expression:
    value = exp.cast(value, "double")
    if dialect == "duckdb":
        return exp.Anonymous(this="QUANTILE_DISC", expressions=[value, exp.Literal.number(p)])
    if dialect in _PERCENTILE_EXACT or dialect in ("spark", "databricks"):
        # Anonymous: sqlglot renders PercentileDisc as the approximate PERCENTILE_APPROX on Spark.
        return exp.WithinGroup(this=exp.Anonymous(this="PERCENTILE_DISC", expressions=[exp.Literal.number(p)]),
                               expression=exp.Order(expressions=[exp.Ordered(this=value)]))
    raise CompileError(f"KPI '{kpi}': percentile_disc is not available as an aggregate on {dialect}",
                       "use duckdb, postgres, snowflake, redshift or spark, or another aggregate")


BAD_TIME_ALIAS = "bad_time"


def compile_model_query(project: Project, model: ModelSpec, kpis: list[KpiSpec], grain: str, by: list[str],
                        start: date | None, end: date | None, dialect: str, where: str | None = None,
                        lookback=()) -> CompiledQuery:
    """One SELECT over ``model`` computing every KPI in ``kpis`` per period and breakdown.

    A model whose time is text (``time_format``) is read through a subquery that
    parses the time once. Rows whose text does not match the format are not
    dropped: they land in a NULL period with a sample of the text, and the
    engine stops with an error quoting it (some engines return NULL for a
    mismatch instead of failing, which would silently lose rows).
    """
    try:  # relation, parsed time, local time, period: the same for every planner (sql/timeprep.py)
        prep = time_preamble(project, model, grain, start, dialect, lambda m: model_relation(project, m, dialect))
    except PeriodError as exc:
        raise CompileError(f"model '{model.name}': {exc}") from None
    relation, raw_time, time_expr, local_time, period = prep.relation, prep.raw, prep.time, prep.local, prep.period
    try:  # dimensions of other models (rep.team) are LEFT JOINed below the aggregation: sql/joins.py
        plan = plan_joins(project, model, list(by) + (where_dimensions(where, dialect) if where else []))
    except DimensionRefError as exc:
        raise CompileError(str(exc), exc.hint) from None
    # Built-in time dimensions (day_of_week, time_month...) come from the model's own time: no join.
    dims = [dimension_expr(project, model, d, dialect) if is_time_dimension(d, model.dimensions)
            else dimension_expression(project, plan, d, dialect) for d in by]
    dim_aliases = [f"d_{d}".replace(".", "__") for d in by]
    select = exp.select(exp.alias_(period, PERIOD_ALIAS), *[exp.alias_(e, a) for e, a in zip(dims, dim_aliases)])
    columns, aggregates = [], []
    for i, kpi in enumerate(kpis):
        exprs, meta = aggregate_columns(kpi, dialect, f"k{i}")
        aggregates += exprs
        columns.append(meta)
    # One call: each select() re-parents every column already there, quadratic over thousands of KPIs.
    select = select.select(*aggregates, copy=False)
    select = select.from_(relation, copy=False)
    in_range = []
    if start is not None:
        in_range.append(exp.GTE(this=local_time.copy(), expression=_timestamp_literal(start, dialect)))
    if end is not None:
        in_range.append(exp.LT(this=local_time.copy(), expression=_timestamp_literal(end, dialect)))
    # Periods that offsets (revenue[-1]) read outside the range, in the same scan (sql.windows).
    in_range = widen_condition(in_range, local_time, list(lookback), lambda d: _timestamp_literal(d, dialect))
    if model.time_format:
        unreadable = exp.Is(this=time_expr.copy(), expression=exp.Null())
        # Empty text is "no time", like NULL; anything else must parse or be reported.
        present = exp.Not(this=exp.Is(this=exp.Nullif(this=exp.Trim(this=exp.cast(raw_time.copy(), "text")),
                                                      expression=exp.Literal.string("")),
                                      expression=exp.Null()))
        conditions = [present]
        if in_range:
            conditions.append(exp.or_(exp.and_(*in_range), unreadable.copy()))
        sample = exp.Min(this=exp.Case(ifs=[exp.If(this=unreadable, true=exp.cast(raw_time.copy(), "text"))]))
        select = select.select(exp.alias_(sample, BAD_TIME_ALIAS), copy=False)
        having = None
    else:
        # Rows without a time belong to no period. A range comparison already leaves them out;
        # otherwise their group (period NULL) is dropped after grouping, which costs one group
        # instead of a test on every row (measured 3-4 % of the scan at 10M rows).
        conditions = list(in_range)
        having = None
        if not in_range:
            # Only where a time that is not NULL always has a period (typed engines fail on bad
            # text); elsewhere a NULL period must reach the engine, which reports it.
            if grain not in GRAINS or dialect not in _STRICT_TIME:
                conditions.append(exp.Not(this=exp.Is(this=time_expr.copy(), expression=exp.Null())))
            else:
                having = exp.Not(this=exp.Is(this=_group_key(period).copy(), expression=exp.Null()))
    if where:
        conditions.append(where_condition(project, plan, where, dialect))
    if conditions:
        select = select.where(exp.and_(*conditions), copy=False)
    grouping = ([] if grain == ALL_GRAIN else [_group_key(period).copy()]) + [d.copy() for d in dims]
    if grouping:
        select = select.group_by(*grouping, copy=False)
    if having is not None:
        select = select.having(having, copy=False)
    select = attach(select, project, plan, dialect, lambda target, d: model_relation(project, target, d))
    return CompiledQuery(model=model.name, source=model.source, dialect=dialect, grain=grain, by=list(by),
                         expression=select, dim_aliases=dim_aliases, columns=columns,
                         time_format=model.time_format, joins=plan.describe(), plain=True)


def _group_key(period: exp.Expression) -> exp.Expression:
    """What to group on for a period: the truncated time itself, not its cast to DATE.

    ``SELECT CAST(DATE_TRUNC(...) AS DATE) ... GROUP BY DATE_TRUNC(...)`` is valid everywhere
    the cast form is, and spares the cast on every row (DuckDB at 10M rows: about 3 %)."""
    if isinstance(period, exp.Cast) and isinstance(period.this, exp.TimestampTrunc):
        return period.this
    return period


def required_aggregates(project: Project, kpi_names: list[str]) -> list[str]:
    """Aggregate KPIs needed to compute ``kpi_names`` (formula inputs, recursively), in stable order."""
    out: dict[str, None] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise CompileError(f"formula cycle: {' -> '.join(trail + (name,))}")
        kpi = project.kpis[name]
        if kpi.is_formula:
            for ref in references(parse_formula(kpi.formula)):
                visit(ref, trail + (name,))
        else:
            out.setdefault(name, None)

    for n in kpi_names:
        visit(n, ())
    return list(out)


@in_project_dialect  # filters, dimensions, sql models: written in project.sql_dialect
def plan_queries(project: Project, kpi_names: list[str], grain: str, by: list[str], start: date | None,
                 end: date | None, dialect_of_source, where: str | None = None) -> list[CompiledQuery]:
    """Group the needed aggregates by model: one compiled query per model."""
    by_model: dict[str, list[KpiSpec]] = {}
    for name in required_aggregates(project, kpi_names):
        kpi = project.kpis[name]
        if kpi.window or kpi.aggregate in ("last", "first"):
            continue  # rolling and semi-additive aggregates: their own query (sql.rolling, sql.semiadditive)
        by_model.setdefault(kpi.model, []).append(kpi)
    queries = []
    chains = chains_by_aggregate(project, kpi_names)
    for model_name, kpis in by_model.items():
        model = project.models[model_name]
        queries.append(compile_model_query(project, model, kpis, grain, by, start, end,
                                           dialect_of_source(model.source), where=where,
                                           lookback=scan_lookback(chains, kpis, grain, start, end)))
    return queries
