"""One dialect for user SQL: ``project.sql_dialect``, parsed once, transpiled by sqlglot for every source.

A spec's filters, dimension expressions, entity keys and ``sql:`` models are
written in one dialect (default ``duckdb``) whatever the warehouse, so the same
spec runs unchanged on DuckDB, PostgreSQL, MariaDB, SQLite, Spark, Snowflake,
BigQuery, Trino or SQL Server: :func:`kpiengine.spec.sqlsafety.reading` makes
every parse use it, and the compiler renders each tree in the source's own
dialect.

What sqlglot knows a target cannot express (``split_part`` with a ``,`` on SQL
Server, for instance) is found here, at validation, and reported at the line
of the expression with the source it fails for, rather than as a warehouse
error at run time.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

import sqlglot
import sqlglot.dialects
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from ..errors import SpecIssue
from .located import LDict, field_loc
from .sqlsafety import reading
from .suggest import did_you_mean

# The dialects sqlglot ships, by the names a spec may write: from sqlglot's list of names, since
# ``Dialect.classes`` imports all of them (about 0.2 s a command for the one or two it uses).
DIALECTS = tuple(sorted(sqlglot.dialects.DIALECT_MODULE_NAMES))


def known_dialect(name: str | None) -> str | None:
    """``name`` when sqlglot knows it, else None (each source's own dialect then; validation says why)."""
    if not isinstance(name, str) or not name:
        return None
    if name in DIALECTS:
        return name
    try:  # a dialect a plugin registered with sqlglot
        return name if sqlglot.Dialect.get(name) is not None else None
    except (ValueError, TypeError):
        return None


def transpile_problem(text: str, read: str, target: str, *, statement: bool = False) -> str | None:
    """Why ``text`` (in ``read``) cannot be written in ``target``, or None when it can."""
    if read == target:
        return None
    try:
        tree = sqlglot.parse_one(text, read=read)
        tree.sql(dialect=target, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        return str(exc).strip().splitlines()[0]
    except (ParseError, sqlglot.errors.TokenError, RecursionError, ValueError):
        return None  # the allow-list checks report unparseable text, located, with their own hint
    return None


def dialect_issues(project: Any, dialect_of) -> Iterable[SpecIssue]:
    """An unknown ``sql_dialect``, and every expression some source's dialect cannot express."""
    read = project.sql_dialect
    if known_dialect(read) is None:
        loc = project.project_loc
        if isinstance(project.sections.get("project"), LDict):
            loc = project.sections["project"].loc_of("sql_dialect")
        yield SpecIssue(f"unknown sql_dialect '{read}'", loc,
                        hint=(did_you_mean(read, DIALECTS) or "") + f" one of: {', '.join(DIALECTS)}",
                        code="dialect")
        return
    for model in project.models.values():
        if model.source not in project.sources:
            continue
        target = dialect_of(model.source)
        texts = [("time", model.time or None, field_loc(model, "time"))]
        texts += [(f"dimensions.{k}", v, field_loc(model, "dimensions")) for k, v in model.dimensions.items()]
        texts += [(f"entity {e.name} key", k, e.location) for e in model.entities.values() for k in e.key]
        if model.sql and project.allow_model_sql:
            texts.append(("sql", model.sql, field_loc(model, "sql")))
        yield from _issues(f"model '{model.name}'", texts, read, target, model.source)
    for kpi in project.kpis.values():
        model = project.models.get(kpi.model) if kpi.model else None
        if model is None or model.source not in project.sources:
            continue
        texts = [(f, getattr(kpi, f), field_loc(kpi, f)) for f in ("column", "filter")]
        yield from _issues(f"KPI '{kpi.name}'", texts, read, dialect_of(model.source), model.source)


def _issues(owner: str, texts, read: str, target: str, source: str) -> Iterable[SpecIssue]:
    for what, text, loc in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        problem = transpile_problem(text, read, target)
        if problem:
            yield SpecIssue(f"{owner} {what}: {problem} (written in {read}, source '{source}' runs {target})",
                            loc, hint=f"rewrite it with constructs {target} has, or set project.sql_dialect "
                                      f"to the dialect you write in", code="dialect")


def in_project_dialect(func):
    """Decorate a compile function whose first argument is the Project: its user SQL is parsed in sql_dialect."""
    @functools.wraps(func)
    def wrapped(project, *args, **kwargs):
        with reading(known_dialect(getattr(project, "sql_dialect", None))):
            return func(project, *args, **kwargs)

    return wrapped
