"""What ``kpi init`` proposes for a warehouse: its tables, and for each a model and a first KPI.

The catalog is read through the source plugin's own connection (read-only,
like every query), with the catalog query of the source's dialect. A table
becomes a model when it has a date or timestamp column (a model needs an event
time), or a text column whose sampled values all read as dates in one format
(SQLite and CSV exports keep times as text: the model gets that
``time_format``); text and boolean columns with few distinct values in a
sample become dimensions (an e-mail address or a free-text note is not a breakdown); a
column named ``id`` or ``<table>_id`` is the entity; the first KPI counts the
rows, and a numeric measure (amount, revenue, price...) gets a sum.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import sqlglot
from sqlglot import exp

_CATALOG = {
    "sqlite": "SELECT '' AS s, m.name AS t, p.name AS c, p.type AS ty FROM sqlite_master AS m "
              "JOIN pragma_table_info(m.name) AS p WHERE m.type IN ('table', 'view') "
              "AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
    "postgres": "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ANY (current_schemas(false)) ORDER BY table_schema, table_name, "
                "ordinal_position",
    "mysql": "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
             "WHERE table_schema = DATABASE() ORDER BY table_schema, table_name, ordinal_position",
}
_CATALOG_DEFAULT = ("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
                    "ORDER BY table_schema, table_name, ordinal_position")

_TIME_TYPES = ("timestamp", "datetime", "date")
_TEXT_TYPES = ("char", "text", "string", "enum", "bool", "varchar")
_NUMBER_TYPES = ("int", "numeric", "decimal", "double", "float", "real", "number", "money")
_TIME_NAMES = re.compile(r"(created|ordered|occurred|event|placed|signup|signed|start|date|_at$|^ts$|time)", re.IGNORECASE)
_MEASURE_NAMES = re.compile(r"(amount|revenue|price|total|value|sales|cost|quantity|qty)", re.IGNORECASE)
MAX_DIMENSIONS = 6
SAMPLE_ROWS = 10_000
MAX_DISTINCT = 200
TIME_SAMPLE = 200
# Tried in this order; the first that reads every sampled value wins. Day-first before
# month-first, as most exports outside the US write them; a sample that fits both (all days
# <= 12) is read day-first, which `time_format` in the written spec shows and lets a user change.
_TEXT_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                      "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
                      "%d/%m/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d")


@dataclass
class Column:
    name: str
    type: str

    def kind(self) -> str:
        t = self.type.lower()
        if any(k in t for k in _TIME_TYPES):
            return "time"
        if any(k in t for k in _NUMBER_TYPES):
            return "number"
        if any(k in t for k in _TEXT_TYPES) or not t:
            return "text"
        return "other"


@dataclass
class Table:
    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema and self.schema not in ("main", "public") else self.name


@dataclass
class ModelProposal:
    name: str
    table: str
    time: str
    entity: str | None
    dimensions: list[str]
    measure: str | None
    skipped_dimensions: list[str] = field(default_factory=list)
    time_format: str | None = None  # set when the time column is text


def read_catalog(source) -> list[Table]:
    """Every table and view the source's user sees, with column names and types."""
    dialect = source.dialect_for()
    result = source.execute(_CATALOG.get(dialect, _CATALOG_DEFAULT))
    tables: dict[tuple[str, str], Table] = {}
    for schema, table, column, typ in result.rows:
        key = (str(schema or ""), str(table))
        tables.setdefault(key, Table(*key)).columns.append(Column(str(column), str(typ or "")))
    return list(tables.values())


def _name(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or "model"
    return name if re.match(r"[a-z_]", name) else f"t_{name}"


def _distinct_in_sample(source, table: Table, column: str) -> int | None:
    dialect = source.dialect_for()
    inner = exp.select(exp.column(column, quoted=True)).from_(exp.to_table(table.qualified, dialect=dialect)) \
        .limit(SAMPLE_ROWS)
    query = exp.select(exp.func("COUNT", exp.Distinct(expressions=[exp.column(column, quoted=True)])),
                       exp.func("COUNT", exp.Star())).from_(inner.subquery("sample"))
    try:
        distinct, rows = source.execute(query.sql(dialect=dialect)).rows[0]
    except Exception:  # noqa: BLE001 - a column the sample cannot read is simply not proposed
        return None
    if rows and distinct >= rows and rows > 20:
        return None  # unique in the sample: an identifier or free text
    return int(distinct)


def text_time_format(values: list[str]) -> str | None:
    """The first of the known formats that reads every value, or None (no values, or none fits)."""
    values = [v.strip() for v in values if v is not None and str(v).strip()]
    for fmt in _TEXT_TIME_FORMATS if values else ():
        try:
            for v in values:
                datetime.strptime(v, fmt)
        except ValueError:
            continue
        return fmt
    return None


def _sampled_text(source, table: Table, column: str) -> list[str]:
    dialect = source.dialect_for()
    col = exp.column(column, quoted=True)
    query = exp.select(col).from_(exp.to_table(table.qualified, dialect=dialect)) \
        .where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null()))).limit(TIME_SAMPLE)
    try:
        return [str(r[0]) for r in source.execute(query.sql(dialect=dialect)).rows]
    except Exception:  # noqa: BLE001 - a column the sample cannot read is simply not proposed
        return []


def _text_time(source, table: Table) -> tuple[Column, str] | None:
    """A text column that holds dates, named like a time first, with the format its values are in."""
    texts = [c for c in table.columns if c.kind() == "text"]
    for c in sorted(texts, key=lambda c: (not _TIME_NAMES.search(c.name), table.columns.index(c))):
        fmt = text_time_format(_sampled_text(source, table, c.name))
        if fmt:
            return c, fmt
    return None


def propose_model(source, table: Table) -> ModelProposal | None:
    """A model for ``table``, or None when it has no date or timestamp column, typed or as text."""
    times = [c for c in table.columns if c.kind() == "time"]
    time_format = None
    if times:
        time = sorted(times, key=lambda c: (not _TIME_NAMES.search(c.name), table.columns.index(c)))[0]
    else:
        found = _text_time(source, table)
        if found is None:
            return None
        time, time_format = found
    singular = table.name.lower().rstrip("s")
    ids = [c.name for c in table.columns if c.name.lower() in ("id", f"{singular}_id", f"{table.name.lower()}_id")]
    entity = ids[0] if ids else None
    dims, skipped = [], []
    for c in table.columns:
        if c.kind() != "text" or c.name.lower() == "id" or c.name.lower().endswith("_id") or c is time:
            continue
        if len(dims) >= MAX_DIMENSIONS:
            skipped.append(c.name)
            continue
        distinct = _distinct_in_sample(source, table, c.name)
        (dims if distinct is not None and distinct <= MAX_DISTINCT else skipped).append(c.name)
    numbers = [c.name for c in table.columns if c.kind() == "number" and not c.name.lower().endswith("id")]
    measure = next((n for n in numbers if _MEASURE_NAMES.search(n)), None)
    return ModelProposal(_name(table.name), table.qualified, time.name, entity, dims, measure, skipped, time_format)


def quote_if_needed(column: str, dialect: str) -> str:
    """A column as a spec expression: plain when it is a plain name, quoted otherwise."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) and not sqlglot.tokens.Tokenizer.KEYWORDS.get(column.upper()):
        return column
    return exp.column(column, quoted=True).sql(dialect=dialect)
