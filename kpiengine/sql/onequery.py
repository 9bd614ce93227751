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

import sqlglot
from sqlglot import exp

from ..spec.formula import parse_formula, parse_offset
from ..spec.model import GRAINS, Project
from ..spec.offsets import Offset, truncate
from .compiler import BAD_TIME_ALIAS, PERIOD_ALIAS, CompiledQuery, required_aggregates
from .distinct_split import DistinctScan, split_distincts
from .periods import add_days, as_date, period_start_expr

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
    text: str  # the statement in the source's dialect
    dim_aliases: list[str]
    outputs: list[OutputColumn] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    bad_times: list[tuple[str, str, str]] = field(default_factory=list)  # (alias, model, time_format)
    models: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)

    @property
    def sql(self) -> str:
        return self.text

    def pretty(self) -> str:
        """Laid out for people (``kpi compile``): the statement read back by sqlglot and indented."""
        try:
            return sqlglot.parse_one(self.text, read=self.dialect).sql(dialect=self.dialect, pretty=True)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError):
            return self.text

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
    leaves_of = {name: required_aggregates(project, [name]) for name in names}
    for name in names:
        leaves = leaves_of[name]
        sources = {parts[scan_of[leaf][0]].source for leaf in leaves if leaf in scan_of}
        missing = [leaf for leaf in leaves if leaf not in scan_of]
        if missing:
            raise NotOneQuery(f"KPI '{missing[0]}' has no scan in this request")
        if len(sources) > 1:
            raise NotOneQuery(f"KPI '{name}' combines KPIs of the sources {', '.join(sorted(sources))}")
        by_source.setdefault(sources.pop() if sources else parts[0].source, []).append(name)
    # Every check before any build: building changes the scans in place (hoisted CTEs, split distincts),
    # and a request that falls back to the per-model path runs those scans as they were.
    for source in by_source:
        dialect = next(p.dialect for p in parts if p.source == source)
        if dialect not in SUPPORTED:
            raise NotOneQuery(f"dialect {dialect} keeps one query per model")
    out = []
    for source, kpis in by_source.items():
        mine = [p for p in parts if p.source == source]
        out.append(_Builder(project, grain, start, end, mine[0].dialect, mine, leaves_of).build(source, kpis))
    return out


def _col(name: str, table: str | None = None) -> exp.Column:
    # Built directly: exp.column/exp.alias_ re-check and re-parse names, thousands of times for a large
    # spec; every name here is generated ([a-z0-9_]), so it needs no quoting.
    return exp.Column(this=exp.Identifier(this=name, quoted=False),
                      table=exp.Identifier(this=table, quoted=False) if table else None)


def _slot(i: int, j: int) -> str:
    return f"s{i}_{j}"


class _Builder:
    """The statement for one source. The model scans are sqlglot trees rendered for the dialect; the
    wrapper around them is written as text: it names only generated identifiers, and for thousands
    of KPIs building and rendering it as trees took longer than loading the spec."""

    def __init__(self, project: Project, grain: str, start: date | None, end: date | None, dialect: str,
                 parts: list[CompiledQuery], leaves_of: dict[str, list[str]]):
        self.leaves_of = leaves_of  # KPI -> the aggregate KPIs it reads
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
        self.splits: list[list[DistinctScan]] = [[] for _ in parts]  # filled by build()
        self.nodes = 0
        self.double = _DOUBLE.sql(dialect=dialect)  # DOUBLE, DOUBLE PRECISION, FLOAT64, REAL, FLOAT

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

    def _members(self) -> list[tuple[str, list[tuple[str, str]], int]]:
        """What is stacked: (CTE, its (column, slot) pairs, its presence flag): the model scans,
        without the columns split out into scans of their own (sql.distinct_split)."""
        members = []
        for i in range(len(self.parts)):
            split = {scan.alias for scan in self.splits[i]}
            members.append((f"q{i}", [(src, dst) for src, dst in self._slots(i) if src not in split], i))
        return members

    def _split_scans(self) -> list[tuple[str, str, str]]:
        """(CTE, column, slot) of each split distinct: LEFT JOINed to the stacked scans, not stacked.

        Its keys are a subset of its model scan's (the same rows, keys and range, a stricter WHERE),
        so the join adds no key and a key without a passing row reads NULL, then 0; the flag stays
        the model scan's. Stacked, each would widen every branch by every slot: thousands of KPIs
        made the statement grow as splits x slots (5,000 KPIs: 19 s to compile)."""
        out = []
        for i in range(len(self.parts)):
            slots = dict(self._slots(i))
            out += [(f"q{i}d{k}", scan.alias, slots[scan.alias]) for k, scan in enumerate(self.splits[i])]
        return out

    def _grouped(self) -> str:
        keys = ", ".join([PERIOD_ALIAS] + self.dims)
        members = self._members()
        flags = [f"f{i}" for i in range(len(self.parts))]
        if len(members) == 1:  # one scan: rename, nothing to stack
            cols = [f"{src} AS {dst}" for src, dst in members[0][1]] + [f"1 AS {flags[0]}"]
            stacked = f"SELECT {keys}, {', '.join(cols)} FROM q0"
        else:
            branches = []
            if self.dialect in _PAIRWISE_UNION_TYPES:
                branches.append(self._typed_empty_branch(members, flags))
            for name, own, flag in members:
                mine = {dst: src for src, dst in own}
                cols = [f"{mine[dst]} AS {dst}" if dst in mine else f"NULL AS {dst}"
                        for _, slots, _ in members for _, dst in slots]
                cols += [f"{1 if f == flag else 'NULL'} AS {flags[f]}" for f in range(len(self.parts))]
                branches.append(f"SELECT {keys}, {', '.join(cols)} FROM {name}")
            maxes = [f"MAX({dst}) AS {dst}" for _, slots, _ in members for _, dst in slots]
            maxes += [f"MAX({f}) AS {f}" for f in flags]
            stacked = f"SELECT {keys}, {', '.join(maxes)} FROM ({' UNION ALL '.join(branches)}) AS u GROUP BY {keys}"
        splits = self._split_scans()
        if not splits:
            return stacked
        names = [PERIOD_ALIAS] + self.dims + [dst for _, slots, _ in members for _, dst in slots] + flags
        cols = [f"b.{c}" for c in names] + [f"{cte}.{src} AS {dst}" for cte, src, dst in splits]
        joins = ""
        for cte, _, _ in splits:
            on = [f"{cte}.{PERIOD_ALIAS} = b.{PERIOD_ALIAS}"]
            on += [exp.NullSafeEQ(this=_col(dim, table=cte), expression=_col(dim, table="b")).sql(dialect=self.dialect)
                   for dim in self.dims]
            joins += f" LEFT JOIN {cte} ON {' AND '.join(on)}"
        return f"SELECT {', '.join(cols)} FROM ({stacked}) AS b{joins}"

    def _typed_empty_branch(self, members, flags) -> str:
        """A first UNION branch with no rows and every slot's real type.

        PostgreSQL resolves UNION column types pair by pair from the left: two NULLs become
        text, and text cannot meet the bigint of the third scan. A branch reading every
        scan's columns (never executed: its WHERE is constant false) types them all first.
        """
        cols = [f"q0.{k}" for k in [PERIOD_ALIAS] + self.dims]
        cols += [f"{name}.{src} AS {dst}" for name, slots, _ in members for src, dst in slots]
        cols += [f"1 AS {f}" for f in flags]
        joins = "".join(f" CROSS JOIN {name}" for name, _, _ in members[1:])
        return f"SELECT {', '.join(cols)} FROM q0{joins} WHERE 1 = 0"

    # -- KPI values as SQL ---------------------------------------------------------------------
    def _table(self, chain: tuple[Offset, ...]) -> str:
        if chain not in self.chains:
            self.chains[chain] = f"g{len(self.chains)}"
        return self.chains[chain]

    def _cast(self, text: str) -> str:
        return f"CAST({text} AS {self.double})"

    def _aggregate(self, name: str, chain: tuple[Offset, ...]) -> str:
        i, j = self.scan_of[name]
        col = self.parts[i].columns[j]
        table = self._table(chain)
        if col.aggregate == "avg":
            return f"{self._cast(f'{table}.{_slot(i, j)}_0')} / NULLIF({table}.{_slot(i, j)}_1, 0)"
        if col.aggregate in ADDITIVE:
            return f"COALESCE({table}.{_slot(i, j)}, 0)"
        return f"{table}.{_slot(i, j)}"

    def _value(self, name: str, chain: tuple[Offset, ...], trail: tuple[str, ...] = ()) -> str:
        kpi = self.project.kpis[name]
        if not kpi.is_formula:
            return self._aggregate(name, chain)
        if name in trail:
            raise NotOneQuery(f"formula cycle at {name}")
        return self._formula(parse_formula(kpi.formula), chain, trail + (name,))[0]

    def _formula(self, node: exp.Expression, chain, trail) -> tuple[str, bool]:
        """(SQL, whether it is an operation that needs parentheses as an operand)."""
        self.nodes += 1
        if self.nodes > MAX_FORMULA_NODES:
            raise NotOneQuery("the formulas expand to too large a statement")
        if isinstance(node, exp.Paren):
            return self._formula(node.this, chain, trail)
        if isinstance(node, exp.Column):
            return self._cast(self._value(node.name, chain, trail)), False
        if isinstance(node, exp.Bracket):
            offset = parse_offset(node.expressions[0])
            return self._cast(self._value(node.this.name, chain + (offset,), trail)), False
        if isinstance(node, exp.Literal):
            return self._cast(exp.Literal.number(node.this).sql(dialect=self.dialect)), False
        if isinstance(node, exp.Neg):
            return f"-{_operand(*self._formula(node.this, chain, trail))}", True
        left = _operand(*self._formula(node.this, chain, trail))
        right = _operand(*self._formula(node.expression, chain, trail))
        if isinstance(node, exp.Div):
            return f"{left} / NULLIF({right}, 0)", True
        return f"{left} {_OPERATORS[type(node)]} {right}", True

    # -- shifted periods -------------------------------------------------------------------------
    def _shift(self, chain: tuple[Offset, ...], period: exp.Expression) -> exp.Expression:
        for offset in chain:
            period = self._shift_one(offset, period)
        return period

    def _shift_one(self, offset: Offset, p: exp.Expression) -> exp.Expression:
        g = self.grain
        if offset.kind == "periods":
            if g in ("day", "week"):
                return add_days(p, offset.n * (7 if g == "week" else 1), self.dialect)
            return _add_months(p, offset.n * {"month": 1, "quarter": 3, "year": 12}[g], self.dialect)
        if offset.kind == "interval":
            if offset.unit in ("day", "week"):
                moved = add_days(p, offset.n * (7 if offset.unit == "week" else 1), self.dialect)
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
        d = self.dialect
        outputs, values = [], []
        for n, name in enumerate(kpis):
            kpi = self.project.kpis[name]
            alias = f"v{n}"
            values.append(f"{self._value(name, ())} AS {alias}")
            flags = sorted({self.scan_of[leaf][0] for leaf in self.leaves_of[name]})
            outputs.append(OutputColumn(kpi=name, alias=alias, aggregate=None if kpi.is_formula else kpi.aggregate,
                                        flags=flags))
        keys = [f"g.{k}" for k in [PERIOD_ALIAS] + self.dims]
        flag_cols = [f"g.f{i}" for i in range(len(self.parts))]
        bad = [(f"s{i}_bad", p.model, p.time_format) for i, p in enumerate(self.parts) if p.time_format]
        select = f"SELECT {', '.join(keys + values + flag_cols + [f'g.{b[0]}' for b in bad])} FROM grouped AS g"
        for chain, alias in list(self.chains.items())[1:]:
            shifted = self._shift(chain, _col(PERIOD_ALIAS, table="g")).sql(dialect=d)
            on = [f"{alias}.{PERIOD_ALIAS} = {shifted}"]
            on += [exp.NullSafeEQ(this=_col(dim, table=alias), expression=_col(dim, table="g")).sql(dialect=d)
                   for dim in self.dims]
            select += f" LEFT JOIN grouped AS {alias} ON {' AND '.join(on)}"
        in_range = self._range()
        if in_range is not None:
            select += f" WHERE {in_range.sql(dialect=d)}"
        ctes = []
        scans = {f"q{i}" for i in range(len(self.parts))}
        for i, part in enumerate(self.parts):
            # copy=False: the scans were built for this statement; sqlglot would deep-copy each to render it
            ctes += [(name, body.sql(dialect=d, copy=False)) for name, body in _hoisted(part.expression, f"q{i}")]
            self.splits[i] = split_distincts(part, [PERIOD_ALIAS] + self.dims, d)
            ctes.append((f"q{i}", part.expression.sql(dialect=d, copy=False)))
            for k, scan in enumerate(self.splits[i]):
                scans.add(f"q{i}d{k}")
                ctes.append((f"q{i}d{k}", scan.expression.sql(dialect=d, copy=False)))
        ctes.append(("grouped", self._grouped()))
        # PostgreSQL materialises a CTE read twice (the typed first branch reads every scan), which keeps
        # its scans out of the planner's reach (measured 13.4 s against 11.5 s at 10M rows).
        # Only the scans: a window scan's own CTEs and `grouped` are read twice on purpose.
        inline = " NOT MATERIALIZED" if d == "postgres" else ""
        text = "WITH " + ", ".join(f"{name} AS{inline if name in scans else ''} ({body})"
                                   for name, body in ctes) + " " + select
        return RequestQuery(source=source, dialect=d, grain=self.grain, by=list(self.parts[0].by), text=text,
                            dim_aliases=list(self.dims), outputs=outputs,
                            flags=[f"f{i}" for i in range(len(self.parts))], bad_times=bad,
                            models=[p.model for p in self.parts],
                            joins=list(dict.fromkeys(j for p in self.parts for j in p.joins)))

    def _range(self) -> exp.Expression | None:
        """Only the requested periods (the scans may be wider for offsets); a NULL period is kept, as it
        carries the sample of a text time that did not parse."""
        if self.grain not in GRAINS or (self.start is None and self.end is None):
            return None  # all time, or a custom calendar's grain (no offsets there: nothing was widened)
        period = _col(PERIOD_ALIAS, table="g")
        bounds = []
        if self.start is not None:
            bounds.append(exp.GTE(this=period.copy(), expression=_date_literal(truncate(self.start, self.grain),
                                                                               self.dialect)))
        if self.end is not None:
            bounds.append(exp.LT(this=period.copy(), expression=_date_literal(self.end, self.dialect)))
        return exp.or_(exp.and_(*bounds), exp.Is(this=period.copy(), expression=exp.Null()))


_OPERATORS = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}


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


def _operand(text: str, compound: bool) -> str:
    return f"({text})" if compound else text


_DOUBLE = exp.DataType.build("double")
_DATE = exp.DataType.build("date")


def _double(e: exp.Expression, dialect: str) -> exp.Expression:
    # Built once: exp.cast parses the type name on every call (thousands of KPIs, several casts each).
    return exp.Cast(this=e, to=_DOUBLE.copy())


def _date_literal(d: date, dialect: str) -> exp.Expression:
    text = exp.Literal.string(d.isoformat())
    return text if dialect == "sqlite" else exp.Cast(this=text, to=_DATE.copy())


def _add_months(p: exp.Expression, n: int, dialect: str, clamp: bool = False) -> exp.Expression:
    if n == 0:
        return p
    moved = as_date(exp.DateAdd(this=p, expression=exp.Literal.number(n), unit=exp.var("MONTH")), dialect)
    if dialect == "sqlite" and clamp:
        # SQLite rolls 31 March - 1 month over to 2 March; every other engine (and Python) clamps to
        # the month's last day: take the earlier of the two.
        last = exp.Anonymous(this="DATE", expressions=[
            p, exp.Literal.string("start of month"), exp.Literal.string(f"{n + 1:+d} months"),
            exp.Literal.string("-1 day")])
        return exp.Anonymous(this="MIN", expressions=[moved, last])
    return moved

