"""Is this user-written SQL a single read-only expression or SELECT?

Filters, dimension expressions and model SELECTs come from spec files that
people edit by hand. They are parsed with sqlglot (never matched with regexes)
and rejected unless they are exactly one read-only expression or query, so a
filter can never end its clause, add a statement, or change data.
"""
from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

# Statement and clause types that write, define or administer: never allowed anywhere in the tree.
_FORBIDDEN_NODES = tuple(
    t for t in (
        getattr(exp, name, None) for name in (
            "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "TruncateTable",
            "Command", "Grant", "Revoke", "Transaction", "Commit", "Rollback", "Use", "Set", "Pragma",
            "Copy", "LoadData", "Into", "Lock", "Cache", "Uncache", "Refresh", "Attach", "Detach", "Install",
            "Export", "Analyze", "Kill", "Describe", "Show",
        )
    ) if isinstance(t, type)
)

# Functions with side effects or that reach outside the database: denied even inside a SELECT.
_FORBIDDEN_FUNCTIONS = {
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
    "pg_terminate_backend", "pg_cancel_backend", "lo_import", "lo_export", "dblink", "dblink_exec",
    "set_config", "load_file", "sleep", "benchmark", "sys_exec", "sys_eval", "xp_cmdshell",
    "load_extension", "writefile", "readfile", "system", "shell", "nextval", "setval",
}

_QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except)


# A spec of thousands of KPIs repeats its filters, and the compiler parses each checked filter again:
# one parse per (text, dialect), shared. The trees are read-only here; parse_expression hands out copies.
@functools.lru_cache(maxsize=16384)
def _parse(text: str, dialect: str) -> tuple[tuple[exp.Expression | None, ...], str | None]:
    try:
        return tuple(sqlglot.parse(text, read=dialect)), None
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        return (), first.get("description", str(exc)).strip()
    except sqlglot.errors.TokenError as exc:
        return (), str(exc)


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return (node.sql_name() if hasattr(node, "sql_name") else type(node).__name__).lower()


def _tree_problems(tree: exp.Expression) -> list[str]:
    problems = []
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            problems.append(f"{type(node).__name__.upper()} is not allowed: specs may only read data")
        elif isinstance(node, exp.Func) and _function_name(node) in _FORBIDDEN_FUNCTIONS:
            problems.append(f"function {_function_name(node)}() is not allowed in a spec")
    return problems


def check_expression(text: str, dialect: str = "duckdb", *, what: str = "filter") -> list[str]:
    """Problems with a row-level expression (filter, dimension, column); empty when safe."""
    return list(_expression_problems(str(text), dialect, what)) if isinstance(text, str) else \
        [f"{what} is empty"]


@functools.lru_cache(maxsize=16384)
def _expression_problems(text: str, dialect: str, what: str) -> tuple[str, ...]:
    return tuple(_check_expression(text, dialect, what))


def _check_expression(text: str, dialect: str, what: str) -> list[str]:
    if not text.strip():
        return [f"{what} is empty"]
    statements, error = _parse(text, dialect)
    if error:
        return [f"cannot parse {what} {text!r}: {error}"]
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        return [f"{what} must be a single expression, found {len(statements)} statements (';' is not allowed)"]
    tree = statements[0]
    if isinstance(tree, exp.Block):
        return [f"{what} must be a single expression (';' is not allowed)"]
    if isinstance(tree, _QUERY_TYPES) or not isinstance(tree, (exp.Condition, exp.Column, exp.Literal, exp.Func,
                                                                  exp.Case, exp.Cast, exp.Paren, exp.Binary,
                                                                  exp.Unary, exp.Predicate)):
        return [f"{what} must be an expression over the model's columns, not a {type(tree).__name__.upper()} statement"]
    problems = _tree_problems(tree)
    if any(isinstance(n, _QUERY_TYPES) for n in tree.walk()):
        problems.append(f"subqueries are not allowed in a {what}: put joins and lookups in a model's `sql:`")
    if any(isinstance(n, exp.AggFunc) for n in tree.walk()):
        problems.append(f"aggregate functions are not allowed in a {what}: it is applied to each row")
    return problems


def check_select(text: str, dialect: str = "duckdb") -> list[str]:
    """Problems with a model's SQL: must be exactly one read-only SELECT."""
    if not isinstance(text, str) or not text.strip():
        return ["sql is empty"]
    statements, error = _parse(text, dialect)
    if error:
        return [f"cannot parse sql: {error}"]
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        return [f"sql must be a single SELECT, found {len(statements)} statements (';' is not allowed)"]
    tree = statements[0]
    if not isinstance(tree, _QUERY_TYPES):
        return [f"sql must be a read-only SELECT, not {type(tree).__name__.upper()}"]
    problems = _tree_problems(tree)
    if tree.args.get("into") is not None:
        problems.append("SELECT ... INTO writes a table and is not allowed")
    if tree.args.get("locks"):
        problems.append("locking clauses (FOR UPDATE) are not allowed")
    return problems


def parse_expression(text: str, dialect: str = "duckdb") -> exp.Expression:
    """Parse an expression already checked by :func:`check_expression`.

    Returns a fresh tree the caller may insert into a query: parsing is cached
    (a spec's filters are compiled again for every grain and breakdown), and a
    copy of a parsed tree is much cheaper than parsing it again.
    """
    return _parse_cached(text, dialect).copy()


def _parse_cached(text: str, dialect: str) -> exp.Expression:
    statements, _error = _parse(text, dialect)
    if len(statements) == 1 and statements[0] is not None:
        return statements[0]
    return sqlglot.parse_one(text, read=dialect)  # not a checked expression: raise sqlglot's own error
