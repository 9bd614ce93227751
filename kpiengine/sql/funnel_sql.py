"""A funnel as one SQL query, built as sqlglot syntax trees for any dialect.

Shape of the query (CTEs; no join multiplies rows):

* ``s1``: each entity's first step-1 event (GROUP BY entity, or ROW_NUMBER() = 1
  when breakdown values of that event are needed), one pass over step 1's model.
* ``s<k>``: one pass over step k's model, joined to ``s<k-1>`` (ordered) or ``s1``
  (unordered), which hold one row per entity, so the join never multiplies rows;
  GROUP BY entity keeps the earliest qualifying event.
* ``ent``: ``s1`` LEFT JOIN every ``s<k>`` on the entity (1:1).
* ``steps``: one row per entity and step reached (UNION ALL), with its period
  (entry period for the cohort view, the step's own period for the event view)
  and the seconds since the previous step.
* the result: GROUP BY period, breakdown, step: distinct entities and the exact
  median time: the engine's median aggregate where it has one (DuckDB MEDIAN,
  PostgreSQL PERCENTILE_CONT, Spark PERCENTILE), else ROW_NUMBER()/COUNT()
  windows where ``2*rn BETWEEN n AND n+2`` picks the one or two middle rows
  (SQLite, MySQL/MariaDB and any other engine with window functions).

Times are compared as epoch seconds computed per dialect, so windows behave the
same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlglot
from sqlglot import exp

from ..spec.dialect import in_project_dialect
from ..spec.entities import column_dimension, where_dimensions
from ..spec.model import Project
from ..spec.sqlsafety import parse_expression
from .compiler import dimension_expr, model_relation, model_time_expr
from .periods import period_start_expr

_T = "__kpi_t__"
_EPOCH = {
    "duckdb": f"EPOCH(CAST({_T} AS TIMESTAMP))",
    "sqlite": f"CAST(STRFTIME('%s', {_T}) AS INTEGER)",
    "postgres": f"EXTRACT(EPOCH FROM {_T})",
    "redshift": f"EXTRACT(EPOCH FROM {_T})",
    # TIMESTAMPDIFF from a constant is independent of the session time zone, unlike UNIX_TIMESTAMP.
    "mysql": f"TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {_T})",
    "spark": f"UNIX_SECONDS(CAST({_T} AS TIMESTAMP))",
    "databricks": f"UNIX_SECONDS(CAST({_T} AS TIMESTAMP))",
}


def epoch_seconds(t: exp.Expression, dialect: str) -> exp.Expression:
    """Seconds since 1970 of a timestamp expression, as a number, in ``dialect``."""
    template = _EPOCH.get(dialect)
    if template is None:
        return exp.TimeToUnix(this=t.copy())
    tree = sqlglot.parse_one(template, read=dialect)
    return tree.transform(lambda n: t.copy() if isinstance(n, exp.Column) and n.name == _T else n, copy=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _and(*conds: exp.Expression | None) -> exp.Expression | None:
    conds = [c for c in conds if c is not None]
    return exp.and_(*conds) if conds else None


def _not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=e, expression=exp.Null()))


def _step_events(project: Project, funnel, k: int, dims: list[str], dialect: str) -> exp.Select:
    """The events of step k: entity, time, epoch seconds (and breakdown values for step 1)."""
    step = funnel.steps[k - 1]
    model = project.models[step.model]
    t = model_time_expr(project, model, dialect)
    ent = parse_expression(step.entity, dialect)
    cols = [exp.alias_(ent, "ent"), exp.alias_(t.copy(), "ts"), exp.alias_(epoch_seconds(t, dialect), "ep")]
    cols += [exp.alias_(dimension_expr(project, model, d, dialect), f"d_{d}") for d in dims]
    where = _and(parse_expression(step.filter, dialect) if step.filter else None,
                 _not_null(ent.copy()), _not_null(t.copy()))
    return exp.select(*cols).from_(model_relation(project, model, dialect), copy=False).where(where, copy=False)


def entry_key(project: Project, funnel):
    """The step-1 model's primary or unique entity whose key is the funnel's entity, or None.

    Such a model has one row per entity (the promise its ``type`` makes, which ``kpi validate
    --connect`` checks in the data), so each entity's first entry is its only row.
    """
    step = funnel.steps[0]
    model = project.models.get(step.model)
    for entity in (model.entities.values() if model is not None else ()):
        if entity.is_unique and [k.strip() for k in entity.key] == [step.entity.strip()]:
            return entity
    return None


def _entry_cte(project: Project, funnel, dims: list[str], dialect: str) -> exp.Select:
    events = _step_events(project, funnel, 1, dims, dialect)
    if dims and entry_key(project, funnel) is not None:
        # One row per entity: no ROW_NUMBER over every entry (a fifth of the demo's day-grain statement).
        return (exp.select(_col("ent"), exp.alias_(_col("ts"), "t"), exp.alias_(_col("ep"), "e"),
                           *[_col(f"d_{d}") for d in dims])
                .from_(events.subquery("x", copy=False), copy=False))
    if not dims:
        return (exp.select(_col("ent"), exp.alias_(exp.Min(this=_col("ts")), "t"),
                           exp.alias_(exp.Min(this=_col("ep")), "e"))
                .from_(events.subquery("x", copy=False), copy=False).group_by(_col("ent"), copy=False))
    # Breakdown values of the entity's first entry event. Simultaneous entries are
    # broken the same way everywhere: by time, then NULL first, then the values.
    keys: list[exp.Expression] = [_col("ep")]
    for d in dims:
        keys.append(exp.Case(ifs=[exp.If(this=exp.Is(this=_col(f"d_{d}"), expression=exp.Null()),
                                         true=exp.Literal.number(0))], default=exp.Literal.number(1)))
        keys.append(_col(f"d_{d}"))
    order = [exp.Ordered(this=k) for k in keys]
    rn = exp.Window(this=exp.RowNumber(), partition_by=[_col("ent")], order=exp.Order(expressions=order))
    ranked = exp.select(exp.Star(), exp.alias_(rn, "rn")).from_(events.subquery("x", copy=False), copy=False)
    return (exp.select(_col("ent"), exp.alias_(_col("ts"), "t"), exp.alias_(_col("ep"), "e"),
                       *[_col(f"d_{d}") for d in dims])
            .from_(ranked.subquery("r", copy=False), copy=False).where(exp.EQ(this=_col("rn"), expression=exp.Literal.number(1)), copy=False))


def _later_cte(project: Project, funnel, k: int, dialect: str) -> exp.Select:
    """Earliest step-k event per entity that follows the anchor step within the windows."""
    step = funnel.steps[k - 1]
    anchor = f"s{k - 1}" if funnel.ordered else "s1"
    events = _step_events(project, funnel, k, [], dialect)
    x_ep, p_e = _col("ep", "x"), _col("e", "p")
    entry_e = _col("e1", "p") if k > 2 and funnel.ordered else _col("e", "p")
    conds = [exp.GTE(this=x_ep, expression=p_e)]
    if funnel.window_seconds is not None:
        conds.append(exp.LTE(this=x_ep.copy(), expression=exp.Add(
            this=entry_e, expression=exp.Literal.number(_num(funnel.window_seconds)))))
    if step.within_seconds is not None:
        conds.append(exp.LTE(this=x_ep.copy(), expression=exp.Add(
            this=p_e.copy(), expression=exp.Literal.number(_num(step.within_seconds)))))
    return (exp.select(exp.alias_(_col("ent", "x"), "ent"), exp.alias_(exp.Min(this=_col("ts", "x")), "t"),
                       exp.alias_(exp.Min(this=x_ep.copy()), "e"), exp.alias_(exp.Min(this=entry_e.copy()), "e1"))
            .from_(events.subquery("x", copy=False), copy=False)
            .join(exp.to_table(anchor).as_("p"), on=exp.EQ(this=_col("ent", "x"), expression=_col("ent", "p")), copy=False)
            .where(exp.and_(*conds), copy=False)
            .group_by(_col("ent", "x"), copy=False))


def _where_dims(where: str | None, by: list[str], dialect: str) -> list[str]:
    """The dimensions a query filter reads that the breakdown does not carry already."""
    return [d for d in where_dimensions(where, dialect) if d not in by] if where else []


def _where_on_entities(where: str | None, dialect: str) -> exp.Expression | None:
    """A query filter over dimension names (``region = 'east'``), over the ``ent`` row's entry values (``d_region``).

    The entity's breakdown values are those of its entry event, so the filter keeps the entities
    whose entry is in the segment: what a ``filter=`` segment keeps, for any condition.
    """
    if not where:
        return None
    tree = parse_expression(where, dialect)

    def swap(node: exp.Expression) -> exp.Expression:
        return _col(f"d_{column_dimension(node)}") if isinstance(node, exp.Column) else node

    return exp.Paren(this=tree.transform(swap, copy=False))


def _grouped(select: exp.Select, keys: list[exp.Expression], rolled: bool, at: int | None = None) -> exp.Select:
    """GROUP BY ``keys``; rolled: GROUPING SETS of ``keys`` and of ``keys`` without the one at ``at``
    (default: the last), the breakdown's totals from the same pass."""
    if not rolled:
        return select.group_by(*keys, copy=False)
    at = len(keys) - 1 if at is None else at
    fewer = [k.copy() for i, k in enumerate(keys) if i != at]
    sets = exp.GroupingSets(expressions=[exp.Tuple(expressions=fewer), exp.Tuple(expressions=[k.copy() for k in keys])])
    select.set("group", exp.Group(expressions=[sets]))
    return select


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _with_steps(project: Project, funnel, dims: list[str], dialect: str) -> tuple[list[tuple[str, exp.Select]],
                                                                                    exp.Select]:
    """The s1..sN CTEs and the per-entity ``ent`` select (entity, entry time, t_k, e_k, dims)."""
    n = len(funnel.steps)
    if getattr(funnel, "touch", "first") == "last":
        ctes = _last_touch_ctes(project, funnel, dims, dialect)
        return ctes, _ent_select(dims, n)
    ctes = [("s1", _entry_cte(project, funnel, dims, dialect))]
    # s1 carries the entry epoch as e1 too, so every s<k> can measure the window from the entry.
    first = ctes[0][1]
    first.select(exp.alias_(exp.Min(this=_col("ep")) if not dims else _col("ep"), "e1"), copy=False)
    for k in range(2, n + 1):
        ctes.append((f"s{k}", _later_cte(project, funnel, k, dialect)))
    return ctes, _ent_select(dims, n)


def _ent_select(dims: list[str], n: int) -> exp.Select:
    cols = [exp.alias_(_col("ent", "s1"), "ent"), exp.alias_(_col("t", "s1"), "t1"),
            exp.alias_(_col("e", "s1"), "e1")]
    cols += [exp.alias_(_col(f"d_{d}", "s1"), f"d_{d}") for d in dims]
    for k in range(2, n + 1):
        cols += [exp.alias_(_col("t", f"s{k}"), f"t{k}"), exp.alias_(_col("e", f"s{k}"), f"e{k}")]
    ent = exp.select(*cols).from_("s1", copy=False)
    for k in range(2, n + 1):
        ent = ent.join(exp.to_table(f"s{k}"), on=exp.EQ(this=_col("ent", f"s{k}"), expression=_col("ent", "s1")),
                       join_type="left", copy=False)
    return ent


def _last_touch_ctes(project: Project, funnel, dims: list[str], dialect: str) -> list[tuple[str, exp.Select]]:
    """``touch: last`` (two ordered steps): the conversion is credited to the latest entry event before it.

    ``s1f`` is each entity's first entry; ``c2`` its earliest conversion at or after it; ``lt`` the
    latest entry event at or before that conversion (ties broken like entries: NULL first, then the
    smallest value); ``s1`` is ``lt`` where there is a conversion, else the first entry; ``s2`` the
    conversion when it falls within the window (and the step's ``within``) of ``s1``.
    """
    ctes = [("s1f", _entry_cte(project, funnel, dims, dialect))]
    conv = _step_events(project, funnel, 2, [], dialect)
    ctes.append(("c2", exp.select(exp.alias_(_col("ent", "x"), "ent"), exp.alias_(exp.Min(this=_col("ts", "x")), "t"),
                                  exp.alias_(exp.Min(this=_col("ep", "x")), "e"))
                 .from_(conv.subquery("x"))
                 .join(exp.to_table("s1f").as_("p"), on=exp.EQ(this=_col("ent", "x"), expression=_col("ent", "p")))
                 .where(exp.GTE(this=_col("ep", "x"), expression=_col("e", "p")))
                 .group_by(_col("ent", "x"))))
    entries = _step_events(project, funnel, 1, dims, dialect)
    keys: list[exp.Expression] = [exp.Ordered(this=_col("ep", "x"), desc=True)]
    for d in dims:
        keys.append(exp.Ordered(this=exp.Case(ifs=[exp.If(this=exp.Is(this=_col(f"d_{d}", "x"), expression=exp.Null()),
                                                         true=exp.Literal.number(0))], default=exp.Literal.number(1))))
        keys.append(exp.Ordered(this=_col(f"d_{d}", "x")))
    rn = exp.Window(this=exp.RowNumber(), partition_by=[_col("ent", "x")], order=exp.Order(expressions=keys))
    ranked = (exp.select(exp.column(exp.Star(), table="x"), exp.alias_(rn, "rn")).from_(entries.subquery("x"))
              .join(exp.to_table("c2").as_("c"), on=exp.EQ(this=_col("ent", "x"), expression=_col("ent", "c")))
              .where(exp.LTE(this=_col("ep", "x"), expression=_col("e", "c"))))
    ctes.append(("lt", exp.select(_col("ent"), exp.alias_(_col("ts"), "t"), exp.alias_(_col("ep"), "e"),
                                  *[_col(f"d_{d}") for d in dims])
                 .from_(ranked.subquery("r")).where(exp.EQ(this=_col("rn"), expression=exp.Literal.number(1)))))
    touched = _not_null(_col("ent", "l"))

    def pick(column: str) -> exp.Expression:
        return exp.alias_(exp.Case(ifs=[exp.If(this=touched.copy(), true=_col(column, "l"))], default=_col(column, "f")),
                          column)

    ctes.append(("s1", exp.select(exp.alias_(_col("ent", "f"), "ent"), pick("t"), pick("e"),
                                  *[pick(f"d_{d}") for d in dims])
                 .from_(exp.to_table("s1f").as_("f"))
                 .join(exp.to_table("lt").as_("l"), on=exp.EQ(this=_col("ent", "l"), expression=_col("ent", "f")),
                       join_type="left")))
    limits = [s for s in (funnel.window_seconds, funnel.steps[1].within_seconds) if s is not None]
    conds = [exp.GTE(this=_col("e", "c"), expression=_col("e", "s"))]
    if limits:
        conds.append(exp.LTE(this=_col("e", "c"), expression=exp.Add(
            this=_col("e", "s"), expression=exp.Literal.number(_num(min(limits))))))
    ctes.append(("s2", exp.select(exp.alias_(_col("ent", "c"), "ent"), exp.alias_(_col("t", "c"), "t"),
                                  exp.alias_(_col("e", "c"), "e"), exp.alias_(_col("e", "s"), "e1"))
                 .from_(exp.to_table("c2").as_("c"))
                 .join(exp.to_table("s1").as_("s"), on=exp.EQ(this=_col("ent", "c"), expression=_col("ent", "s")))
                 .where(exp.and_(*conds))))
    return ctes


def _reached(funnel, k: int) -> exp.Expression | None:
    """Condition on the ``ent`` row for 'reached step k' (ordered: e_k set; unordered: e_2..e_k all set)."""
    if k == 1:
        return None
    if funnel.ordered:
        return _not_null(_col(f"e{k}"))
    return exp.and_(*[_not_null(_col(f"e{j}")) for j in range(2, k + 1)])


def _native_median(value: exp.Expression, dialect: str) -> exp.Expression | None:
    """The engine's exact median aggregate where it has one; None means use the portable window form."""
    if dialect == "duckdb":
        return exp.Anonymous(this="MEDIAN", expressions=[value])
    if dialect in ("postgres", "redshift"):
        return exp.WithinGroup(this=exp.PercentileCont(this=exp.Literal.number(0.5)),
                               expression=exp.Order(expressions=[exp.Ordered(this=value)]))
    if dialect in ("spark", "databricks"):
        return exp.Anonymous(this="PERCENTILE", expressions=[value, exp.Literal.number(0.5)])
    return None


def _date_literal(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat())
    return text if dialect == "sqlite" else exp.cast(text, "date")


@dataclass
class CompiledFunnel:
    """The funnel query and the shape of its rows.

    Long rows are (period_start, d_<dim>..., step, entities, median_seconds); wide
    rows (cohort view on engines with a median aggregate: one GROUP BY over the
    entities) are (period_start, d_<dim>..., n_1..n_N, m_2..m_N). :meth:`long_rows`
    gives the long form either way.
    """

    expression: exp.Select
    dialect: str
    steps: int
    by: list[str]
    wide: bool
    rollup: bool = False  # rows end with a flag: 1 for the totals over the last dimension of ``by``

    def sql(self, pretty: bool = False) -> str:
        return self.expression.sql(dialect=self.dialect, pretty=pretty)

    def split_rows(self, rows) -> tuple[list[tuple], list[tuple]]:
        """A rolled-up query's rows as (long rows by ``by[:-1]``, long rows by ``by``)."""
        nd = len(self.by)
        totals, split = [], []
        for r in rows:
            if r[-1]:  # the last dimension's column is NULL there: drop it
                totals.append(tuple(r[:nd]) + tuple(r[1 + nd:-1]))
            else:
                split.append(tuple(r[:-1]))
        return (CompiledFunnel(self.expression, self.dialect, self.steps, self.by[:-1], self.wide).long_rows(totals),
                self.long_rows(split))

    def long_rows(self, rows) -> list[tuple]:
        if not self.wide:
            return list(rows)
        nd, n = len(self.by), self.steps
        out = []
        for r in rows:
            head = tuple(r[:1 + nd])
            counts, medians = r[1 + nd:1 + nd + n], (None,) + tuple(r[1 + nd + n:1 + nd + 2 * n - 1])
            out += [head + (k + 1, counts[k], medians[k]) for k in range(n)]
        return out


@in_project_dialect  # the steps' filters and dimensions: written in project.sql_dialect
def compile_funnel(project: Project, funnel, grain: str, by: list[str], start: date | None, end: date | None,
                   view: str, dialect: str, where: str | None = None, rollup: bool = False) -> CompiledFunnel:
    """The funnel's query for ``dialect``: per period and breakdown, entities and median time per step.

    ``where``: a query filter over the entry model's dimension names (checked by the caller, as
    ``kpi run --where`` is): only entities whose entry event passes it are counted.
    ``rollup``: also the totals over the last dimension of ``by``, in the same pass over the
    entities (GROUPING SETS; ``CompiledFunnel.split_rows`` parts them), where the engine has a
    median aggregate; elsewhere the query is the plain one and ``rollup`` is False on it.
    """
    ctes, ent = _with_steps(project, funnel, list(by) + _where_dims(where, by, dialect), dialect)
    keep = _where_on_entities(where, dialect)
    n = len(funnel.steps)
    where = []
    if start is not None:
        where.append(exp.GTE(this=_col("period_start"), expression=_date_literal(start, dialect)))
    if end is not None:
        where.append(exp.LT(this=_col("period_start"), expression=_date_literal(end, dialect)))
    if view == "cohort" and _native_median(_col("x"), dialect) is not None:
        # Every step is attributed to the entry period: one GROUP BY over the entities, no union.
        period = period_start_expr(_col("t1"), grain, dialect, project.timezone)
        cols: list[exp.Expression] = [exp.alias_(period, "period_start"), *[_col(f"d_{d}") for d in by],
                                      exp.alias_(exp.Count(this=exp.Star()), "n_1")]
        for k in range(2, n + 1):
            cols.append(exp.alias_(exp.Count(this=exp.Case(ifs=[exp.If(this=_reached(funnel, k),
                                                                       true=exp.Literal.number(1))])), f"n_{k}"))
        for k in range(2, n + 1):
            gap = exp.Sub(this=_col(f"e{k}"), expression=_col(f"e{k - 1}" if funnel.ordered else "e1"))
            cols.append(exp.alias_(_native_median(exp.Case(ifs=[exp.If(this=_reached(funnel, k), true=gap)]),
                                                  dialect), f"m_{k}"))
        rolled = rollup and bool(by)
        keys = [period.copy(), *[_col(f"d_{d}") for d in by]]
        if rolled:
            cols.append(exp.alias_(exp.Anonymous(this="GROUPING", expressions=[_col(f"d_{by[-1]}")]), "g_total"))
        inner = exp.select(*cols).from_("ent", copy=False)
        inner = _grouped(inner, keys, rolled)
        if keep is not None:
            inner = inner.where(keep, copy=False)
        final = exp.select(exp.Star()).from_(inner.subquery("w", copy=False), copy=False)
        if where:
            final = final.where(exp.and_(*where), copy=False)
        final = final.order_by(_col("period_start"), *[_col(f"d_{d}") for d in by], copy=False)
        for name, q in ctes + [("ent", ent)]:
            final = final.with_(name, as_=q, copy=False)
        return CompiledFunnel(final, dialect, n, list(by), wide=True, rollup=rolled)
    branches = []
    for k in range(1, n + 1):
        anchor_t = _col("t1") if view == "cohort" or k == 1 else _col(f"t{k}")
        period = period_start_expr(anchor_t, grain, dialect, project.timezone)
        if k == 1:
            gap: exp.Expression = exp.Null()
        else:
            since = f"e{k - 1}" if funnel.ordered else "e1"
            gap = exp.Sub(this=_col(f"e{k}"), expression=_col(since))
        sel = exp.select(exp.alias_(exp.Literal.number(k), "step"), exp.alias_(period, "period_start"),
                         *[_col(f"d_{d}") for d in by], exp.alias_(gap, "gap")).from_("ent", copy=False)
        cond = _reached(funnel, k)
        if cond is not None:
            sel = sel.where(cond, copy=False)
        if keep is not None:
            sel = sel.where(keep.copy(), copy=False)
        branches.append(sel)
    union: exp.Expression = branches[0]
    for b in branches[1:]:
        union = exp.union(union, b, distinct=False, copy=False)
    part = [_col("step"), _col("period_start"), *[_col(f"d_{d}") for d in by]]
    native = _native_median(_col("gap"), dialect)
    if native is not None:
        # One GROUP BY with the engine's exact median aggregate: no window sort needed.
        rolled = rollup and bool(by)
        extra = [exp.alias_(exp.Anonymous(this="GROUPING", expressions=[_col(f"d_{by[-1]}")]), "g_total")] \
            if rolled else []
        final = exp.select(_col("period_start"), *[_col(f"d_{d}") for d in by], _col("step"),
                           exp.alias_(exp.Count(this=exp.Star()), "entities"), exp.alias_(native, "median_seconds"),
                           *extra) \
            .from_(union.subquery("u", copy=False), copy=False)
        if where:
            final = final.where(exp.and_(*where), copy=False)
        final = _grouped(final, [_col("period_start"), *[_col(f"d_{d}") for d in by], _col("step")], rolled,
                         at=len(by))
        final = final.order_by(_col("period_start"), *[_col(f"d_{d}") for d in by], _col("step"), copy=False)
        for name, q in ctes + [("ent", ent)]:
            final = final.with_(name, as_=q, copy=False)
        return CompiledFunnel(final, dialect, n, list(by), wide=False, rollup=rolled)
    rn = exp.Window(this=exp.RowNumber(), partition_by=[p.copy() for p in part],
                    order=exp.Order(expressions=[exp.Ordered(this=_col("gap"))]))
    cnt = exp.Window(this=exp.Count(this=_col("gap")), partition_by=[p.copy() for p in part])
    ranked = exp.select(*[p.copy() for p in part], _col("gap"), exp.alias_(rn, "rn"), exp.alias_(cnt, "n")) \
        .from_(union.subquery("u", copy=False), copy=False)
    if where:
        ranked = ranked.where(exp.and_(*where), copy=False)
    two_rn = exp.Mul(this=exp.Literal.number(2), expression=_col("rn"))
    middle = exp.and_(_not_null(_col("gap")), exp.Between(
        this=two_rn, low=_col("n"), high=exp.Add(this=_col("n"), expression=exp.Literal.number(2))))
    median = exp.Avg(this=exp.Case(ifs=[exp.If(this=middle, true=_col("gap"))]))
    final = (exp.select(_col("period_start"), *[_col(f"d_{d}") for d in by], _col("step"),
                        exp.alias_(exp.Count(this=exp.Star()), "entities"), exp.alias_(median, "median_seconds"))
             .from_(ranked.subquery("r", copy=False), copy=False)
             .group_by(_col("period_start"), *[_col(f"d_{d}") for d in by], _col("step"), copy=False)
             .order_by(_col("period_start"), *[_col(f"d_{d}") for d in by], _col("step"), copy=False))
    for name, q in ctes + [("ent", ent)]:
        final = final.with_(name, as_=q, copy=False)
    return CompiledFunnel(final, dialect, n, list(by), wide=False)


@in_project_dialect
def entity_query(project: Project, funnel, dims: list[str], dialect: str, where: str | None = None) -> exp.Select:
    """One row per entity: entity, entered_at, d_<dim>..., reached_<k> (0/1) for the funnel's KPIs.

    ``where``: only the entities whose entry event passes this query filter (see compile_funnel).
    """
    ctes, ent = _with_steps(project, funnel, list(dims) + _where_dims(where, dims, dialect), dialect)
    keep = _where_on_entities(where, dialect)
    cols = [_col("ent").as_("entity"), _col("t1").as_("entered_at"), *[_col(f"d_{d}") for d in dims]]
    for k in range(1, len(funnel.steps) + 1):
        cond = _reached(funnel, k)
        flag = exp.Literal.number(1) if cond is None else exp.Case(
            ifs=[exp.If(this=cond, true=exp.Literal.number(1))], default=exp.Literal.number(0))
        cols.append(exp.alias_(flag, f"reached_{k}"))
    final = exp.select(*cols).from_("ent", copy=False)
    if keep is not None:
        final = final.where(keep, copy=False)
    for name, q in ctes + [("ent", ent)]:
        final = final.with_(name, as_=q, copy=False)
    return final
