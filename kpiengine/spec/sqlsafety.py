"""Is this user-written SQL a safe row-level expression, or a single read-only SELECT?

Filters, dimension, column, time and entity expressions come from spec files
that people edit by hand, and they run with the warehouse credentials of
whoever runs ``kpi``. A deny-list of dangerous functions can never be complete
(PostgreSQL alone has ``lo_from_bytea``, ``query_to_xml``, ``set_config``...),
so an expression is parsed with sqlglot and every node of its tree must be on
an **allow-list**: columns, literals, comparisons, boolean logic, arithmetic,
CASE, CAST, IN, BETWEEN, LIKE, IS NULL and the pure scalar functions of
:data:`ALLOWED_FUNCTIONS`. Anything else (an unlisted function, a subquery, a
table function, a file reader, a set operation) is a located validation error.

A model's ``sql:`` is a whole SELECT and cannot be allow-listed node by node;
it is a separate trust level (``project.allow_model_sql: true``), still checked
to be one read-only SELECT here, and run inside a read-only transaction by
every source (the second line of defence, see docs/spec.md).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging

import sqlglot
from sqlglot import exp

from ..errors import KpiEngineError
from .limits import MAX_EXPRESSION_CHARS, MAX_TREE_DEPTH, text_limit_problem, tree_depth
from .sqltree import copy_tree

# sqlglot logs a warning for SQL it only half understands ("falling back to parsing as a Command"): the
# checks below report that statement as a located error, so the warning would only repeat it unlocated.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

#: Node types an expression may be built from (functions are listed apart below).
ALLOWED_NODES: tuple[type, ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
    exp.And, exp.Or, exp.Not, exp.Xor,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is,
    exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape, exp.SimilarTo, exp.Glob, exp.RegexpLike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam, exp.Interval, exp.Var,
    exp.Collate, exp.AtTimeZone,
)

#: Pure scalar functions by family: (the names a spec writes, the sqlglot node they parse to).
ALLOWED_FUNCTIONS: dict[str, tuple[tuple[str, type], ...]] = {
    "null handling": (
        ("COALESCE, IFNULL, NVL", exp.Coalesce), ("NULLIF", exp.Nullif), ("IF, IIF", exp.If),
        ("GREATEST", exp.Greatest), ("LEAST", exp.Least),
    ),
    "text": (
        ("LOWER", exp.Lower), ("UPPER", exp.Upper), ("INITCAP", exp.Initcap),
        ("TRIM, LTRIM, RTRIM", exp.Trim), ("LENGTH, CHAR_LENGTH", exp.Length),
        ("SUBSTRING, SUBSTR", exp.Substring), ("LEFT", exp.Left), ("RIGHT", exp.Right),
        ("LPAD, RPAD", exp.Pad), ("REPLACE", exp.Replace), ("REVERSE", exp.Reverse),
        ("CONCAT", exp.Concat), ("CONCAT_WS", exp.ConcatWs), ("STRPOS, POSITION", exp.StrPosition),
        ("SPLIT_PART", exp.SplitPart), ("STARTS_WITH", exp.StartsWith), ("ENDS_WITH", exp.EndsWith),
        ("CONTAINS", exp.Contains), ("REGEXP_EXTRACT", exp.RegexpExtract),
        ("REGEXP_REPLACE", exp.RegexpReplace), ("REGEXP_MATCHES, REGEXP, RLIKE, ~", exp.RegexpLike),
        ("MD5", exp.MD5),
    ),
    "numbers": (
        ("ABS", exp.Abs), ("ROUND", exp.Round), ("FLOOR", exp.Floor), ("CEIL, CEILING", exp.Ceil),
        ("TRUNC", exp.Trunc), ("SQRT", exp.Sqrt), ("POWER, POW", exp.Pow), ("LN", exp.Ln),
        ("LOG, LOG10", exp.Log), ("EXP", exp.Exp), ("SIGN", exp.Sign), ("MOD", exp.Mod),
    ),
    "dates and times": (
        ("DATE_TRUNC", exp.TimestampTrunc), ("DATE_TRUNC (MySQL, SQLite)", exp.DateTrunc),
        ("EXTRACT", exp.Extract), ("YEAR", exp.Year), ("QUARTER", exp.Quarter), ("MONTH", exp.Month),
        ("WEEK", exp.Week), ("DAY", exp.Day), ("DAYOFWEEK", exp.DayOfWeek), ("DAYOFYEAR", exp.DayOfYear),
        ("DATE", exp.Date), ("DATETIME", exp.Datetime), ("MAKE_DATE", exp.DateFromParts),
        ("DATE_ADD", exp.DateAdd), ("DATE_SUB", exp.DateSub), ("DATEDIFF, DATE_DIFF", exp.DateDiff),
        ("STRFTIME, DATE_FORMAT", exp.TimeToStr), ("TO_CHAR", exp.ToChar), ("STRPTIME", exp.StrToTime),
        ("STR_TO_DATE", exp.StrToDate), ("TO_TIMESTAMP", exp.UnixToTime), ("EPOCH", exp.TimeToUnix),
        ("(implicit date conversions)", exp.TsOrDsToTimestamp), ("(implicit date conversions) ", exp.TsOrDsToDate),
    ),
}

#: Pure functions sqlglot does not model as their own node (written as-is to the warehouse).
ALLOWED_PLAIN_FUNCTIONS = frozenset({"date_part", "datepart", "to_date", "date_format", "strftime", "octet_length",
                                     "regexp_matches", "julianday", "unixepoch"})

_FUNCTION_NODES = frozenset(cls for family in ALLOWED_FUNCTIONS.values() for _, cls in family)
_ALLOWED = frozenset(ALLOWED_NODES) | _FUNCTION_NODES

_QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except)

# Statement and clause types that write, define or administer: never allowed in a model's SELECT either.
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

# In a trusted model SELECT: functions with side effects or that reach outside the database.
# The read-only transaction refuses writes whatever this list misses; this gives an early, located message.
_FORBIDDEN_FUNCTIONS = {
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
    "pg_terminate_backend", "pg_cancel_backend", "lo_import", "lo_export", "lo_from_bytea", "lo_create",
    "lo_put", "lo_unlink", "dblink", "dblink_exec", "query_to_xml", "query_to_xml_and_xmlschema",
    "table_to_xml", "cursor_to_xml", "set_config", "load_file", "sleep", "benchmark", "sys_exec", "sys_eval",
    "xp_cmdshell", "load_extension", "writefile", "readfile", "system", "shell", "nextval", "setval",
    "read_text", "read_blob", "glob", "getenv",
}

HINT = ("filters and dimensions are row-level expressions: columns, literals, comparisons, AND/OR/NOT, "
        "+ - * / %, CASE, CAST, IN, BETWEEN, LIKE, IS NULL and the functions listed in docs/spec.md "
        "(\"Allowed in expressions\"); anything else belongs in a model's `sql:` "
        "(needs `project: {allow_model_sql: true}`)")


# A spec of thousands of KPIs repeats its filters, and the compiler parses each checked filter again:
# one parse per (text, dialect), shared. The trees are read-only here; parse_expression hands out copies.
@functools.lru_cache(maxsize=16384)
def _parse(text: str, dialect: str) -> tuple[tuple[exp.Expression | None, ...], str | None]:
    try:
        statements = tuple(sqlglot.parse(text, read=dialect))
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        return (), str(first.get("description", exc)).strip()
    except sqlglot.errors.TokenError as exc:
        return (), f"{exc} (is a quote unbalanced?)"
    except RecursionError:
        return (), "it nests too deeply to parse"
    for tree in statements:
        if tree is not None:
            _drop_positions(tree)
    return statements, None


_POSITIONS = frozenset(getattr(exp, "POSITION_META_KEYS", ("line", "col", "start", "end")))


def _drop_positions(tree: exp.Expression) -> None:
    """Forget where in the text each token was: nothing here reads it, and the compiler copies a
    filter's tree for every KPI using it, where deep-copying those per-token dicts cost more than
    the nodes themselves. Other metadata (which the generator may read) is kept."""
    for node in tree.walk():
        meta = node._meta
        if meta and _POSITIONS.issuperset(meta):
            node._meta = None
        elif meta:
            for key in _POSITIONS & meta.keys():
                del meta[key]


def function_name(node: exp.Expression) -> str:
    """The name a person wrote for a function node (``lo_from_bytea``, ``lower``)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    try:
        return node.sql_name().lower()
    except Exception:  # noqa: BLE001 - a node without a SQL name: use its class
        return type(node).__name__.lower()


def _problem(node: exp.Expression, what: str) -> str:
    """Why ``node`` may not appear in a row-level expression, in the words of the person who wrote it."""
    if isinstance(node, (exp.Subquery, exp.Exists, *_QUERY_TYPES)):
        return f"subqueries are not allowed in a {what}: put joins and lookups in a model's `sql:`"
    if isinstance(node, exp.AggFunc):
        return (f"aggregate functions are not allowed in a {what}: it is applied to each row "
                f"({function_name(node)}(); the KPI's `aggregate:` does the aggregation)")
    if isinstance(node, exp.Window):
        return f"window functions are not allowed in a {what}"
    if isinstance(node, exp.Func):
        return f"function {function_name(node)}() is not allowed in a {what}: it is not on the allow-list"
    if isinstance(node, (exp.Placeholder, exp.Parameter, exp.SessionParameter)):
        return f"parameters and session variables are not allowed in a {what}: write the value itself"
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star) or isinstance(node, exp.Star):
        return f"* is not allowed in a {what}: name the columns"
    if isinstance(node, exp.Dot):
        return f"qualified names ({node.sql()[:40]}) are not allowed in a {what}: use the model's column names"
    return f"{type(node).__name__.upper()} ({node.sql()[:40]}) is not allowed in a {what}"


def allow_list_problems(tree: exp.Expression, what: str) -> list[str]:
    """Every node of ``tree`` that is not on the allow-list, once each (in reading order)."""
    problems: list[str] = []
    for node in tree.walk():
        kind = type(node)
        if kind is exp.Identifier and not node.quoted and str(node.this)[:1] in "$@?:":
            problem = f"parameters and session variables are not allowed in a {what}: write the value itself"
            if problem not in problems:
                problems.append(problem)
            continue
        if kind in _ALLOWED or (kind is exp.Anonymous and function_name(node) in ALLOWED_PLAIN_FUNCTIONS):
            continue
        problem = _problem(node, what)
        if problem not in problems:
            problems.append(problem)
    return problems


#: The dialect user SQL is written in (``project.sql_dialect``) while a project is checked or compiled;
#: None: each caller's dialect (the source's). Set by :func:`reading`, read by every parse here, so
#: the checks, the compiler and the funnels all parse a spec's text the same way.
_READ_DIALECT: contextvars.ContextVar[str | None] = contextvars.ContextVar("kpiengine_sql_dialect", default=None)


@contextlib.contextmanager
def reading(dialect: str | None):
    """Parse user SQL in ``dialect`` inside the block (the compiler renders it in each source's own)."""
    token = _READ_DIALECT.set(dialect)
    try:
        yield
    finally:
        _READ_DIALECT.reset(token)


def read_dialect(dialect: str) -> str:
    """The dialect to parse user SQL in: the project's (inside :func:`reading`), else ``dialect``."""
    return _READ_DIALECT.get() or dialect


def check_expression(text: str, dialect: str = "duckdb", *, what: str = "filter") -> list[str]:
    """Problems with a row-level expression (filter, dimension, column); empty when safe."""
    if not isinstance(text, str) or not text.strip():
        return [f"{what} is empty"]
    read = read_dialect(dialect)
    problems = list(_expression_problems(str(text), read, what))
    if not problems and read != dialect:
        # Defence in depth: text the warehouse's own dialect reads as something off the allow-list (MySQL's
        # @@version, which DuckDB's parser takes for a harmless column) is refused, though the tree sent would
        # be the harmless one: whoever wrote it meant the dangerous one. Text that only the project's dialect
        # can parse (MySQL backticks on a DuckDB source) stays fine.
        problems = [p for p in _expression_problems(str(text), dialect, what) if not p.startswith("cannot parse")]
    return problems


@functools.lru_cache(maxsize=16384)  # a spec is validated again for every command: check each expression once
def _expression_problems(text: str, dialect: str, what: str) -> tuple[str, ...]:
    return tuple(_find_expression_problems(text, dialect, what))


def _find_expression_problems(text: str, dialect: str, what: str) -> list[str]:
    too_big = text_limit_problem(text, what, MAX_EXPRESSION_CHARS)
    if too_big:
        return [too_big]
    statements, error = _parse(text, dialect)
    if error:
        return [f"cannot parse {what} {_short(text)}: {error}"]
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        return [f"{what} must be a single expression, found {len(statements)} statements (';' is not allowed)"]
    tree = statements[0]
    if isinstance(tree, exp.Block):
        return [f"{what} must be a single expression (';' is not allowed)"]
    if isinstance(tree, _FORBIDDEN_NODES) or (isinstance(tree, _QUERY_TYPES) and not isinstance(tree, exp.Subquery)):
        return [f"{what} must be an expression over the model's columns, not a {type(tree).__name__.upper()} "
                "statement"]
    if tree_depth(tree) > MAX_TREE_DEPTH:
        return [f"{what} nests more than {MAX_TREE_DEPTH} operations deep: split it"]
    return allow_list_problems(tree, what)


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _tree_problems(tree: exp.Expression) -> list[str]:
    problems = []
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            problems.append(f"{type(node).__name__.upper()} is not allowed: specs may only read data")
        elif isinstance(node, exp.Func) and function_name(node) in _FORBIDDEN_FUNCTIONS:
            problems.append(f"function {function_name(node)}() is not allowed in a spec")
    return problems


def check_select(text: str, dialect: str = "duckdb") -> list[str]:
    """Problems with a (trusted) model's SQL: must be exactly one read-only SELECT."""
    if not isinstance(text, str) or not text.strip():
        return ["sql is empty"]
    if len(text) > 20 * MAX_EXPRESSION_CHARS:
        return [f"sql is {len(text):,} characters long; the limit is {20 * MAX_EXPRESSION_CHARS:,}"]
    statements, error = _parse(text, read_dialect(dialect))
    if error:
        return [f"cannot parse sql: {error}"]
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        return [f"sql must be a single SELECT, found {len(statements)} statements (';' is not allowed)"]
    tree = statements[0]
    if not isinstance(tree, _QUERY_TYPES):
        return [f"sql must be a read-only SELECT, not {type(tree).__name__.upper()}"]
    if tree_depth(tree) > MAX_TREE_DEPTH * 4:
        return ["sql nests too deeply: split it into models"]
    problems = _tree_problems(tree)
    if tree.args.get("into") is not None:
        problems.append("SELECT ... INTO writes a table and is not allowed")
    if tree.args.get("locks"):
        problems.append("locking clauses (FOR UPDATE) are not allowed")
    return problems


_FILE_READERS = {"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
                 "read_ndjson"}


def files_read_by(sql: str, dialect: str = "duckdb") -> list[str]:
    """Paths a trusted model SELECT reads with DuckDB's file readers, when written as literals.

    These are files the spec names, so the source allows them; a path computed
    at run time is not named and stays out of reach.
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError):
        return []
    paths: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Func) and function_name(node).replace("_", "") in {
                r.replace("_", "") for r in _FILE_READERS}:
            first = node.this if isinstance(node.this, exp.Expression) else (node.expressions or [None])[0]
            literals = [first] if isinstance(first, exp.Literal) else (
                list(first.expressions) if isinstance(first, exp.Array) else [])
            paths += [lit.this for lit in literals if isinstance(lit, exp.Literal) and lit.is_string]
    return paths


class UnsafeExpression(KpiEngineError):
    """An expression that is not on the allow-list reached the compiler (a project built without validation)."""


def parse_expression(text: str, dialect: str = "duckdb") -> exp.Expression:
    """Parse a row-level expression for the compiler, enforcing the allow-list here too.

    Returns a fresh tree the caller may insert into a query: parsing is cached
    (a spec's filters are compiled again for every grain and breakdown), and a
    copy of a parsed tree is much cheaper than parsing it again.
    """
    return copy_tree(_parse_cached(text, read_dialect(dialect)))


def parse_select(text: str, dialect: str) -> exp.Expression:
    """A model's ``sql:`` as a fresh tree for the compiler, from the same cached parse the validator
    made (every scan of the model, a dozen per dashboard page, copies it instead of parsing it again).
    ``dialect`` is the one to read it in, as given."""
    statements, error = _parse(text, dialect)
    trees = [s for s in statements if s is not None]
    if error or len(trees) != 1:
        return sqlglot.parse_one(text, read=dialect)  # raises the parser's own error, as before
    return copy_tree(trees[0])


def _parse_cached(text: str, dialect: str) -> exp.Expression:
    problems = check_expression(text, dialect, what="expression")
    if problems:
        raise UnsafeExpression("; ".join(problems))
    statements, _error = _parse(text, dialect)  # the checked parse, shared: parse_expression hands out copies
    if len(statements) == 1 and statements[0] is not None:
        return statements[0]
    return sqlglot.parse_one(text, read=dialect)


def allowed_functions_markdown() -> str:
    """The allow-list as the Markdown table of docs/spec.md (a test keeps the page equal to it)."""
    lines = ["| family | functions |", "| --- | --- |"]
    for family, entries in ALLOWED_FUNCTIONS.items():
        names = sorted({name.strip() for spelled, _ in entries for name in spelled.split(", ")
                        if not name.startswith("(")})
        if family == "dates and times":
            names += sorted(n.upper() for n in ALLOWED_PLAIN_FUNCTIONS)
        lines.append(f"| {family} | {', '.join(dict.fromkeys(names))} |")
    return "\n".join(lines)
