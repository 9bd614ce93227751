"""The whole request as one SQL query per source: model scans stacked, formulas and offsets in SQL.

:mod:`kpiengine.sql.compiler` (and the window and semi-additive planners) give one
aggregate query per model scan. This module puts every scan of one source into a
single statement a user can paste into any SQL client and get the request's numbers:

* each scan is a CTE ``q0, q1, ...``; they are stacked with ``UNION ALL`` (each scan's
  columns in its own slots, NULL in the others, plus a presence flag) and grouped on
  (period, dimensions). GROUP BY puts NULL with NULL on every engine, so rows of
  different models meet null-safely without a FULL OUTER JOIN (MySQL has none);
* aggregates read back as before: an additive aggregate (count, count distinct, sum)
  with no row is 0, an average is SUM / COUNT divided as DOUBLE, others stay NULL;
* formulas become SQL over those columns with one meaning on every engine: every
  input cast to DOUBLE (no integer division), ``x / 0`` is NULL (``NULLIF``), and NULL
  in, NULL out, exactly as :func:`kpiengine.spec.formula.evaluate` does in Python;
* an input read at an offset (``revenue[-1]``) is a LEFT JOIN of the grouped scans to
  themselves at the shifted period, on the dimensions with ``IS NOT DISTINCT FROM``
  (``<=>`` on MySQL, ``IS`` on SQLite); the scan was widened to those periods by the
  compiler, and only the requested periods are returned.

The engine only reads rows back: a KPI has a value at a key where one of the scans
holding its aggregate inputs has a row (the presence flags), as in the per-model path
(:mod:`kpiengine.run.assemble`), which stays for what one statement cannot do: formulas
across sources, gap filling with offsets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from ..spec.formula import parse_formula, parse_offset
from ..spec.model import GRAINS, Project
from ..spec.offsets import Offset, truncate
from .compiler import BAD_TIME_ALIAS, PERIOD_ALIAS, CompiledQuery
from .periods import period_start_expr

ADDITIVE = ("count", "count_distinct", "sum")

# Inline expansion of nested formulas grows with the formula DAG; beyond this many nodes a
# request is assembled in Python instead (the per-model path), never a statement of megabytes.
MAX_FORMULA_NODES = 20_000

# Dialects that take FULL standard null-safe equality and date arithmetic through sqlglot; others
# (ClickHouse...) keep the per-model path.
SUPPORTED = {"duckdb", "postgres", "redshift", "mysql", "sqlite", "spark", "spark2", "databricks", "snowflake",
             "bigquery", "trino", "presto", "athena", "tsql"}


# Engines that type a UNION's NULL columns pair by pair (see _typed_empty_branch).
_PAIRWISE_UNION_TYPES = {"postgres", "redshift"}


class NotOneQuery(Exception):
    """This request needs the per-model path (said why, for ``kpi compile``)."""


@dataclass
class OutputColumn:
    """One KPI of the statement: its column, and the presence flags that say where it has a value."""

    kpi: str
    alias: str
    aggregate: str | None  # None for formulas
    flags: list[int]  # indexes into RequestQuery.flags


@dataclass
class RequestQuery:
    """One statement computing every KPI of a request that one source holds."""

    source: str
    dialect: str
    grain: str
    by: list[str]
    expression: exp.Select
    dim_aliases: list[str]
    outputs: list[OutputColumn] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    bad_times: list[tuple[str, str, str]] = field(default_factory=list)  # (alias, model, time_format)
    models: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)

    @property
    def sql(self) -> str:
        return self.expression.sql(dialect=self.dialect)

    def pretty(self) -> str:
        return self.expression.sql(dialect=self.dialect, pretty=True)

    @property
    def kpis(self) -> list[str]:
        return [o.kpi for o in self.outputs]


def plan_request(project: Project, names: list[str], parts: list[CompiledQuery], grain: str,
                 start: date | None, end: date | None) -> list[RequestQuery]:
    """One statement per source for the KPIs ``names`` from their model scans ``parts``.

    Raises :class:`NotOneQuery` when a formula reads KPIs of two sources (it is computed in
    Python then) or a dialect cannot take the statement.
    """
    scan_of: dict[str, tuple[int, int]] = {}  # aggregate KPI -> (part index, column index)
    for i, part in enumerate(parts):
        for j, col in enumerate(part.columns):
            scan_of[col.kpi] = (i, j)
    by_source: dict[str, list[str]] = {}
    for name in names:
        leaves = _leaves(project, name)
        sources = {parts[scan_of[leaf][0]].source for leaf in leaves if leaf in scan_of}
        missing = [leaf for leaf in leaves if leaf not in scan_of]
        if missing:
            raise NotOneQuery(f"KPI '{missing[0]}' has no scan in this request")
        if len(sources) > 1:
            raise NotOneQuery(f"KPI '{name}' combines KPIs of the sources {', '.join(sorted(sources))}")
        by_source.setdefault(sources.pop() if sources else parts[0].source, []).append(name)
    out = []
    for source, kpis in by_source.items():
        indexes = [i for i, p in enumerate(parts) if p.source == source]
        dialect = parts[indexes[0]].dialect
        if dialect not in SUPPORTED:
            raise NotOneQuery(f"dialect {dialect} keeps one query per model")
        out.append(_Builder(project, grain, start, end, dialect, [parts[i] for i in indexes]).build(source, kpis))
    return out


def _leaves(project: Project, name: str) -> list[str]:
    out: dict[str, None] = {}

    def visit(n: str, depth: int) -> None:
        kpi = project.kpis[n]
        if not kpi.is_formula:
            out.setdefault(n, None)
            return
        if depth > 64:
            raise NotOneQuery("formulas nest too deeply")
        for child in parse_formula(kpi.formula).find_all(exp.Column):
            if child.name in project.kpis:
                visit(child.name, depth + 1)

    visit(name, 0)
    return list(out)


def _slot(i: int, j: int) -> str:
    return f"s{i}_{j}"


class _Builder:
    def __init__(self, project: Project, grain: str, start: date | None, end: date | None, dialect: str,
                 parts: list[CompiledQuery]):
        self.project, self.grain, self.start, self.end, self.dialect = project, grain, start, end, dialect
        self.parts = parts
        self.dims = parts[0].dim_aliases
        self.scan_of: dict[str, tuple[int, int]] = {}
        for i, part in enumerate(parts):
            if part.dim_aliases != self.dims:
                raise NotOneQuery("scans disagree on the breakdown")
            for j, col in enumerate(part.columns):
                self.scan_of[col.kpi] = (i, j)
        self.chains: dict[tuple[Offset, ...], str] = {(): "g"}
        self.nodes = 0

    # -- the grouped scans ---------------------------------------------------------------------
    def _slots(self, i: int) -> list[tuple[str, str]]:
        """(column of scan i, slot name) for every value column of scan i (avg: sum and count)."""
        out = []
        for j, col in enumerate(self.parts[i].columns):
            for k, alias in enumerate(col.aliases):
                out.append((alias, _slot(i, j) + (f"_{k}" if len(col.aliases) > 1 else "")))
        if self.parts[i].time_format:
            out.append((BAD_TIME_ALIAS, f"s{i}_bad"))
        return out

    def _grouped(self) -> exp.Select:
        keys = [PERIOD_ALIAS] + self.dims
        all_slots = [(i, self._slots(i)) for i in range(len(self.parts))]
        flags = [f"f{i}" for i in range(len(self.parts))]
        if len(self.parts) == 1:  # one scan: rename, nothing to stack
            cols = [exp.column(k) for k in keys]
            cols += [exp.alias_(exp.column(src), dst) for src, dst in all_slots[0][1]]
            cols.append(exp.alias_(exp.Literal.number(1), flags[0]))
            return exp.select(*cols).from_("q0")
        branches = []
        for i, slots in all_slots:
            cols = [exp.column(k) for k in keys]
            for other, other_slots in all_slots:
                for src, dst in other_slots:
                    value = exp.column(src) if other == i else exp.Null()
                    cols.append(exp.alias_(value, dst))
            cols += [exp.alias_(exp.Literal.number(1) if f == i else exp.Null(), flags[f])
                     for f in range(len(self.parts))]
            branches.append(exp.select(*cols).from_(f"q{i}"))
        if self.dialect in _PAIRWISE_UNION_TYPES:
            branches.insert(0, self._typed_empty_branch(keys, all_slots, flags))
        stacked = branches[0]
        for b in branches[1:]:
            stacked = exp.union(stacked, b, distinct=False)
        maxes = [exp.column(k) for k in keys]
        maxes += [exp.alias_(exp.Max(this=exp.column(dst)), dst) for _, slots in all_slots for _, dst in slots]
        maxes += [exp.alias_(exp.Max(this=exp.column(f)), f) for f in flags]
        return (exp.select(*maxes).from_(exp.Subquery(this=stacked, alias=exp.TableAlias(this=exp.to_identifier("u"))))
                .group_by(*[exp.column(k) for k in keys]))

    def _typed_empty_branch(self, keys, all_slots, flags) -> exp.Select:
        """A first UNION branch with no rows and every slot's real type.

        PostgreSQL resolves UNION column types pair by pair from the left: two NULLs become
        text, and text cannot meet the bigint of the third scan. A branch reading every
        scan's columns (never executed: its WHERE is constant false) types them all first.
        """
        cols = [exp.column(k, table="q0") for k in keys]
        cols += [exp.alias_(exp.column(src, table=f"q{i}"), dst) for i, slots in all_slots for src, dst in slots]
        cols += [exp.alias_(exp.Literal.number(1), f) for f in flags]
        select = exp.select(*cols).from_("q0")
        for i in range(1, len(self.parts)):
            select = select.join(f"q{i}", join_type="cross", copy=False)
        return select.where(exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(0)), copy=False)

    # -- KPI values as SQL ---------------------------------------------------------------------
    def _table(self, chain: tuple[Offset, ...]) -> str:
        if chain not in self.chains:
            self.chains[chain] = f"g{len(self.chains)}"
        return self.chains[chain]

    def _aggregate(self, name: str, chain: tuple[Offset, ...]) -> exp.Expression:
        i, j = self.scan_of[name]
        col = self.parts[i].columns[j]
        table = self._table(chain)
        if col.aggregate == "avg":
            total = exp.column(_slot(i, j) + "_0", table=table)
            count = exp.column(_slot(i, j) + "_1", table=table)
            return exp.Div(this=_double(total, self.dialect), expression=exp.Nullif(this=count, expression=exp.Literal.number(0)))
        ref = exp.column(_slot(i, j), table=table)
        if col.aggregate in ADDITIVE:
            return exp.Coalesce(this=ref, expressions=[exp.Literal.number(0)])
        return ref

    def _value(self, name: str, chain: tuple[Offset, ...], trail: tuple[str, ...] = ()) -> exp.Expression:
        kpi = self.project.kpis[name]
        if not kpi.is_formula:
            return self._aggregate(name, chain)
        if name in trail:
            raise NotOneQuery(f"formula cycle at {name}")
        return self._formula(parse_formula(kpi.formula), chain, trail + (name,))

    def _formula(self, node: exp.Expression, chain, trail) -> exp.Expression:
        self.nodes += 1
        if self.nodes > MAX_FORMULA_NODES:
            raise NotOneQuery("the formulas expand to too large a statement")
        if isinstance(node, exp.Paren):
            return self._formula(node.this, chain, trail)
        if isinstance(node, exp.Column):
            return _double(self._value(node.name, chain, trail), self.dialect)
        if isinstance(node, exp.Bracket):
            offset = parse_offset(node.expressions[0])
            return _double(self._value(node.this.name, chain + (offset,), trail), self.dialect)
        if isinstance(node, exp.Literal):
            return _double(exp.Literal.number(node.this), self.dialect)
        if isinstance(node, exp.Neg):
            return exp.Neg(this=_operand(self._formula(node.this, chain, trail)))
        left = _operand(self._formula(node.this, chain, trail))
        right = _operand(self._formula(node.expression, chain, trail))
        if isinstance(node, exp.Div):
            return exp.Div(this=left, expression=exp.Nullif(this=right, expression=exp.Literal.number(0)))
        return type(node)(this=left, expression=right)

    # -- shifted periods -------------------------------------------------------------------------
    def _shift(self, chain: tuple[Offset, ...], period: exp.Expression) -> exp.Expression:
        for offset in chain:
            period = self._shift_one(offset, period)
        return period

    def _shift_one(self, offset: Offset, p: exp.Expression) -> exp.Expression:
        g = self.grain
        if offset.kind == "periods":
            if g in ("day", "week"):
                return _add_days(p, offset.n * (7 if g == "week" else 1), self.dialect)
            return _add_months(p, offset.n * {"month": 1, "quarter": 3, "year": 12}[g], self.dialect)
        if offset.kind == "interval":
            if offset.unit in ("day", "week"):
                moved = _add_days(p, offset.n * (7 if offset.unit == "week" else 1), self.dialect)
            else:
                moved = _add_months(p, offset.n * {"month": 1, "quarter": 3, "year": 12}[offset.unit], self.dialect,
                                    clamp=True)
            return self._truncate(moved, g)
        # start of a coarser grain, then the request's grain (checked by the offset when values are read)
        offset.shift(date(2024, 1, 1), g)  # raises OffsetError for a finer unit, as the Python path does
        return self._truncate(self._truncate(p, offset.unit), g)

    def _truncate(self, p: exp.Expression, grain: str) -> exp.Expression:
        if grain == "day":
            return p
        return period_start_expr(p, grain, self.dialect, "UTC", "UTC")

    # -- the statement -------------------------------------------------------------------------
    def build(self, source: str, kpis: list[str]) -> RequestQuery:
        outputs, values = [], []
        for n, name in enumerate(kpis):
            kpi = self.project.kpis[name]
            value = self._value(name, ())
            alias = f"v{n}"
            values.append(exp.alias_(value, alias))
            flags = sorted({self.scan_of[leaf][0] for leaf in _leaves(self.project, name)})
            outputs.append(OutputColumn(kpi=name, alias=alias, aggregate=None if kpi.is_formula else kpi.aggregate,
                                        flags=flags))
        keys = [exp.column(k, table="g") for k in [PERIOD_ALIAS] + self.dims]
        flag_cols = [exp.column(f"f{i}", table="g") for i in range(len(self.parts))]
        bad = [(f"s{i}_bad", p.model, p.time_format) for i, p in enumerate(self.parts) if p.time_format]
        select = exp.select(*keys, *values, *flag_cols, *[exp.column(b[0], table="g") for b in bad]).from_(
            exp.Table(this=exp.to_identifier("grouped"), alias=exp.TableAlias(this=exp.to_identifier("g"))))
        for chain, alias in list(self.chains.items())[1:]:
            on = [exp.EQ(this=exp.column(PERIOD_ALIAS, table=alias),
                         expression=self._shift(chain, exp.column(PERIOD_ALIAS, table="g")))]
            on += [exp.NullSafeEQ(this=exp.column(d, table=alias), expression=exp.column(d, table="g"))
                   for d in self.dims]
            select = select.join(exp.Table(this=exp.to_identifier("grouped"),
                                           alias=exp.TableAlias(this=exp.to_identifier(alias))),
                                 on=exp.and_(*on), join_type="left", copy=False)
        in_range = self._range()
        if in_range is not None:
            select = select.where(in_range, copy=False)
        for i, part in enumerate(self.parts):
            for name, body in _hoisted(part.expression, f"q{i}"):
                select = select.with_(name, as_=body, copy=False)
            select = select.with_(f"q{i}", as_=part.expression, copy=False)
        select = select.with_("grouped", as_=self._grouped(), copy=False)
        return RequestQuery(source=source, dialect=self.dialect, grain=self.grain, by=list(self.parts[0].by),
                            expression=select, dim_aliases=list(self.dims), outputs=outputs,
                            flags=[f"f{i}" for i in range(len(self.parts))], bad_times=bad,
                            models=[p.model for p in self.parts],
                            joins=list(dict.fromkeys(j for p in self.parts for j in p.joins)))

    def _range(self) -> exp.Expression | None:
        """Only the requested periods (the scans may be wider for offsets); a NULL period is kept, as it
        carries the sample of a text time that did not parse."""
        if self.grain not in GRAINS or (self.start is None and self.end is None):
            return None  # all time, or a custom calendar's grain (no offsets there: nothing was widened)
        period = exp.column(PERIOD_ALIAS, table="g")
        bounds = []
        if self.start is not None:
            bounds.append(exp.GTE(this=period.copy(), expression=_date_literal(truncate(self.start, self.grain),
                                                                               self.dialect)))
        if self.end is not None:
            bounds.append(exp.LT(this=period.copy(), expression=_date_literal(self.end, self.dialect)))
        return exp.or_(exp.and_(*bounds), exp.Is(this=period.copy(), expression=exp.Null()))


def _hoisted(query: exp.Expression, prefix: str) -> list[tuple[str, exp.Expression]]:
    """Take a scan's own CTEs (window and semi-additive scans have some) out, renamed for this scan.

    Two scans may name theirs alike, and engines differ on nested WITH: Spark rejects the same
    name twice in one statement. The scan's tree is changed in place (it was built for this plan).
    """
    with_ = query.args.get("with_")
    if not with_:
        return []
    names = {cte.alias: f"{prefix}{cte.alias}" for cte in with_.expressions}
    for table in query.find_all(exp.Table):
        if not table.args.get("db") and table.name in names:
            table.set("this", exp.to_identifier(names[table.name]))
    out = [(names[cte.alias], cte.this) for cte in with_.expressions]
    query.set("with_", None)
    return out


def _operand(e: exp.Expression) -> exp.Expression:
    # sqlglot renders the tree as built, without adding parentheses for precedence.
    return exp.Paren(this=e) if isinstance(e, (exp.Binary, exp.Neg)) else e


def _double(e: exp.Expression, dialect: str) -> exp.Expression:
    return exp.cast(e, "double")


def _date_literal(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat())
    return text if dialect == "sqlite" else exp.cast(text, "date")


def _as_date(e: exp.Expression, dialect: str) -> exp.Expression:
    # SQLite keeps dates as ISO text (CAST AS DATE would make a number); elsewhere date + interval
    # may be a timestamp, and the join compares it with a DATE.
    return e if dialect == "sqlite" else exp.cast(e, "date")


def _add_days(p: exp.Expression, n: int, dialect: str) -> exp.Expression:
    if n == 0:
        return p
    return _as_date(exp.DateAdd(this=p, expression=exp.Literal.number(n), unit=exp.var("DAY")), dialect)


def _add_months(p: exp.Expression, n: int, dialect: str, clamp: bool = False) -> exp.Expression:
    if n == 0:
        return p
    moved = _as_date(exp.DateAdd(this=p, expression=exp.Literal.number(n), unit=exp.var("MONTH")), dialect)
    if dialect == "sqlite" and clamp:
        # SQLite rolls 31 March - 1 month over to 2 March; every other engine (and Python) clamps to
        # the month's last day: take the earlier of the two.
        last = exp.Anonymous(this="DATE", expressions=[
            p, exp.Literal.string("start of month"), exp.Literal.string(f"{n + 1:+d} months"),
            exp.Literal.string("-1 day")])
        return exp.Anonymous(this="MIN", expressions=[moved, last])
    return moved

