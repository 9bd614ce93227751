"""``kpi validate --connect``: does every column every expression uses exist, on every kind of model?

Table models are looked up in the catalog; file (CSV/Parquet) and ``sql:``
models are asked for their columns with a ``LIMIT 0`` query through the same
source that will run them. Each column a model's time, entity and dimensions
and its KPIs' columns and filters use is checked, and a missing one is
reported at the line of the expression that uses it (a double-quoted
``"paid"`` is a column in SQL: the hint says to write ``'paid'``). A missing
file and a ``time_format`` that does not match the data are reported at their
own lines, with a sample of the text that did not parse. A primary or unique
entity that a join can reach is checked to be unique in the data (one query
per such model), since the joins trust it not to repeat a fact row.
"""
from __future__ import annotations

import dataclasses
import os

from sqlglot import exp

from ..errors import SourceError, SpecIssue
from ..spec.calendars import calendars
from ..spec.sqlsafety import parse_expression
from ..spec.yamlsrc import LDict, field_loc
from ..sql.compiler import model_file_path, model_relation, model_time_expr
from .engine import Engine


def _columns_used(text: str | None, dialect: str) -> dict[str, bool]:
    """Column names (lower case) an expression reads -> whether it was written in double quotes."""
    if not text:
        return {}
    used: dict[str, bool] = {}
    for col in parse_expression(str(text), dialect).find_all(exp.Column):
        ident = col.this if isinstance(col.this, exp.Identifier) else None
        used[col.name.lower()] = used.get(col.name.lower(), False) or bool(ident and ident.quoted)
    return used


def _expressions(project, model):
    """(what, text, location) of every expression that reads the model's columns."""
    dims_raw = model.raw.get("dimensions") if isinstance(model.raw, LDict) else None
    out = [("time", model.time, field_loc(model, "time")), ("entity", model.entity, field_loc(model, "entity"))]
    out += [(f"dimension {name}", text, dims_raw.loc_of(name) if isinstance(dims_raw, LDict) else model.location)
            for name, text in model.dimensions.items()]
    for kpi in project.kpis.values():
        if kpi.model == model.name and kpi.raw is not None:
            out += [(f"KPI {kpi.name} {field}", getattr(kpi, field), field_loc(kpi, field))
                    for field in ("column", "filter")]
    raw = project.section("calendars", {})
    for cal in calendars(project).values():  # a calendar's day and period columns live on its model
        if cal.model == model.name:
            node = raw.get(cal.name) if isinstance(raw, LDict) else None
            periods = node.get("periods") if isinstance(node, LDict) else None
            out.append((f"calendar {cal.name} date", cal.date, node.loc_of("date") if node else cal.location))
            out += [(f"calendar {cal.name} grain {grain}", column,
                     periods.loc_of(grain) if isinstance(periods, LDict) else cal.location)
                    for grain, column in cal.periods.items()]
    return [(what, text, loc) for what, text, loc in out if text]


def _model_columns(source, project, model, dialect: str) -> tuple[set[str] | None, SpecIssue | None]:
    if model.table:
        columns = source.table_columns(str(model.table))
        if columns is None:
            return None, SpecIssue(f"model '{model.name}': table '{model.table}' not found in source "
                                   f"'{model.source}'", field_loc(model, "table"),
                                   hint="check the table name and schema, and the source's database", code="connect")
        return {c.lower() for c in columns}, None
    if model.file and not os.path.exists(model_file_path(project, model)):
        return None, SpecIssue(f"model '{model.name}': file {model.file!r} does not exist",
                               field_loc(model, "file"), code="connect",
                               hint=f"relative paths are read from the spec folder ({project.folder})")
    # Without time_format: the CSV reader would be told the (maybe misspelt) time column's type.
    plain = dataclasses.replace(model, time_format=None)
    query = exp.select(exp.Star()).from_(model_relation(project, plain, dialect)).limit(0)
    try:
        result = source.execute(query.sql(dialect=dialect))
    except SourceError as exc:
        return None, SpecIssue(f"model '{model.name}': cannot read it: {exc.detail.splitlines()[0]}",
                               field_loc(model, "file" if model.file else "sql"), hint=exc.hint, code="connect")
    return {c.lower() for c in result.columns}, None


def _missing_column(model, what: str, column: str, quoted: bool, have: set[str], loc) -> SpecIssue:
    if quoted:
        hint = (f"in SQL, \"{column}\" in double quotes is a column name; write '{column}' in single quotes "
                "for text")
    else:
        from ..spec.suggest import did_you_mean  # lazy: only needed for a mistake

        hint = (did_you_mean(column, have) or "") + f" columns: {', '.join(sorted(have))}"
    return SpecIssue(f"model '{model.name}' {what}: column '{column}' does not exist in "
                     f"'{model.table or model.file or 'its sql'}'", loc, hint=hint.strip(), code="connect")


def _time_format_issue(source, project, model, dialect: str) -> SpecIssue | None:
    """A time_format that does not match the data: the first text value it cannot parse."""
    raw = parse_expression(model.time, dialect)
    parsed = model_time_expr(project, model, dialect)
    probe = exp.select(exp.alias_(raw, "raw_time")).from_(model_relation(project, model, dialect)) \
        .where(exp.and_(exp.Not(this=exp.Is(this=raw.copy(), expression=exp.Null())),
                        exp.Is(this=parsed, expression=exp.Null()))).limit(1)
    loc = field_loc(model, "time_format")
    try:
        rows = source.execute(probe.sql(dialect=dialect)).rows
    except SourceError as exc:
        return SpecIssue(f"model '{model.name}': time_format {model.time_format!r} does not read the `{model.time}` "
                         f"column: {exc.detail.splitlines()[0]}", loc, code="connect",
                         hint="write the format of the text as it is in the data, e.g. %d-%m-%Y for 31-01-2026")
    if rows:
        return SpecIssue(f"model '{model.name}': time_format {model.time_format!r} does not match "
                         f"{str(rows[0][0])!r} in `{model.time}`", loc, code="connect",
                         hint="write the format of the text as it is in the data, e.g. %Y-%m-%d for 2026-01-31")
    return None


def _referenced_keys(project, relied_on=()) -> list[tuple]:
    """(model, entity) pairs whose uniqueness the numbers rely on: a primary or unique key some other
    model holds as foreign (joins), and those of ``relied_on`` (the funnels' entry keys, see
    analysis.funnels.entry_keys: an entity's first entry is its one row)."""
    foreign = {e.name for m in project.models.values() for e in m.entities.values() if e.type == "foreign"}
    out = [(m, e) for m in project.models.values() for e in m.entities.values()
           if e.is_unique and e.name in foreign]
    for model, entity in relied_on:
        if all(e is not entity for _, e in out):
            out.append((model, entity))
    return out


def _duplicate_key_issue(source, project, model, entity, dialect: str) -> SpecIssue | None:
    """A declared primary/unique key that repeats in the data (joins would count facts twice): one query."""
    keys = [parse_expression(k, dialect) for k in entity.key]
    present = exp.and_(*[exp.Not(this=exp.Is(this=k.copy(), expression=exp.Null())) for k in keys])
    count = exp.Count(this=exp.Star())
    probe = (exp.select(*[exp.alias_(k.copy(), f"k{i}") for i, k in enumerate(keys)], exp.alias_(count, "n"))
             .from_(model_relation(project, model, dialect)).where(present)
             .group_by(*[k.copy() for k in keys]).having(exp.GT(this=count.copy(), expression=exp.Literal.number(1)))
             .order_by(exp.Ordered(this=count.copy(), desc=True)).limit(1))
    try:
        rows = source.execute(probe.sql(dialect=dialect)).rows
    except SourceError as exc:
        return SpecIssue(f"model '{model.name}': cannot check that entity '{entity.name}' is unique: "
                         f"{exc.detail.splitlines()[0]}", entity.location, hint=exc.hint, code="connect")
    if not rows:
        return None
    *values, n = rows[0]
    shown = ", ".join(f"{k} = {v!r}" for k, v in zip(entity.key, values))
    return SpecIssue(f"model '{model.name}': entity '{entity.name}' is declared {entity.type}, but {shown} is on "
                     f"{n} rows: a join through '{entity.name}' (or a funnel entering by it) would count "
                     f"each matching fact {n} times",
                     entity.location, code="connect",
                     hint="remove the duplicates (or read the model through a `sql:` that keeps one row per key), "
                          f"or declare '{entity.name}' foreign here if the model is not one row per "
                          f"{entity.name}")


def check_connections(project, registry=None, relied_on=()) -> list[SpecIssue]:
    """Every model against its data; ``relied_on``: more (model, entity) keys to check for duplicates."""
    engine = Engine(project, registry)
    issues: list[SpecIssue] = []
    keys = _referenced_keys(project, relied_on)
    by_source: dict[str, list] = {}
    for model in project.models.values():
        if model.raw is not None:  # generated models (a funnel's) are checked through the models they read
            by_source.setdefault(model.source, []).append(model)
    for source_name, models in by_source.items():
        source = engine.open_source(source_name)
        try:
            dialect = source.dialect_for()
            source.connect()
            for model in models:
                have, problem = _model_columns(source, project, model, dialect)
                if problem:
                    issues.append(problem)
                    continue
                found_here = len(issues)
                for what, text, loc in _expressions(project, model):
                    for column, quoted in sorted(_columns_used(text, dialect).items()):
                        if column not in have:
                            issues.append(_missing_column(model, what, column, quoted, have, loc))
                if model.time_format and len(issues) == found_here:
                    problem = _time_format_issue(source, project, model, dialect)
                    if problem:
                        issues.append(problem)
                for owner, entity in (keys if len(issues) == found_here else []):
                    if owner is model:  # a key joins rely on: one row per value, or facts are counted twice
                        problem = _duplicate_key_issue(source, project, model, entity, dialect)
                        if problem:
                            issues.append(problem)
        except SourceError as exc:
            issues.append(SpecIssue(exc.detail, project.sources[source_name].location, hint=exc.hint,
                                    code="connect"))
        finally:
            source.close()
    return issues
