"""Period boundaries in SQL: day, week, month, quarter and year starts for every dialect.

Engines disagree on where a week starts (BigQuery's WEEK is Sunday-based,
Snowflake's DATE_TRUNC('week') follows the WEEK_START session parameter, SQL
Server follows @@DATEFIRST, SQLite and MySQL have no DATE_TRUNC at all). Each
dialect gets a template known to give the Monday of the week and a DATE value;
templates are parsed by sqlglot in that dialect and the time expression is
substituted as a syntax-tree node, never pasted as text.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..spec.model import GRAINS
from ..spec.periodmath import (  # noqa: F401 - the period arithmetic is pure Python, named here too
    PeriodError,
    next_period,
    previous_period,
    python_period_start,
)
from ..spec.periodmath import step_period as shift_period  # noqa: F401 - the name callers use

_T = "__kpi_time__"

# Dialects whose DATE_TRUNC('week', ...) is ISO (Monday-based) and which truncate the usual units.
_DATE_TRUNC_DIALECTS = {"duckdb", "postgres", "redshift", "spark", "spark2", "databricks", "trino", "presto",
                        "athena", "materialize", "risingwave", "dremio"}

_TEMPLATES: dict[str, dict[str, str]] = {
    "sqlite": {
        "day": f"DATE({_T})",
        "week": f"DATE({_T}, '-6 days', 'weekday 1')",
        "month": f"DATE({_T}, 'start of month')",
        "quarter": f"DATE({_T}, 'start of month', "
                   f"'-' || ((CAST(STRFTIME('%m', {_T}) AS INTEGER) - 1) % 3) || ' months')",
        "year": f"DATE({_T}, 'start of year')",
    },
    "mysql": {
        "day": f"DATE({_T})",
        "week": f"DATE_SUB(DATE({_T}), INTERVAL WEEKDAY({_T}) DAY)",
        "month": f"DATE_SUB(DATE({_T}), INTERVAL (DAYOFMONTH({_T}) - 1) DAY)",
        "quarter": f"MAKEDATE(YEAR({_T}), 1) + INTERVAL (QUARTER({_T}) - 1) QUARTER",
        "year": f"MAKEDATE(YEAR({_T}), 1)",
    },
    "tsql": {
        "day": f"CAST({_T} AS DATE)",
        # Monday whatever SET DATEFIRST says.
        "week": f"DATEADD(day, -((DATEPART(weekday, {_T}) + @@DATEFIRST - 2) % 7), CAST({_T} AS DATE))",
        "month": f"DATEFROMPARTS(YEAR({_T}), MONTH({_T}), 1)",
        "quarter": f"DATEFROMPARTS(YEAR({_T}), (DATEPART(quarter, {_T}) - 1) * 3 + 1, 1)",
        "year": f"DATEFROMPARTS(YEAR({_T}), 1, 1)",
    },
    "snowflake": {
        "day": f"CAST({_T} AS DATE)",
        # DATE_TRUNC('week') depends on the WEEK_START session parameter: compute Monday explicitly.
        "week": f"DATEADD(day, 1 - DAYOFWEEKISO({_T}), CAST({_T} AS DATE))",
        "month": f"CAST(DATE_TRUNC('month', {_T}) AS DATE)",
        "quarter": f"CAST(DATE_TRUNC('quarter', {_T}) AS DATE)",
        "year": f"CAST(DATE_TRUNC('year', {_T}) AS DATE)",
    },
    "bigquery": {
        "day": f"CAST({_T} AS DATE)",
        # WEEK is Sunday-based in BigQuery; ISOWEEK starts on Monday.
        "week": f"DATE_TRUNC(CAST({_T} AS DATE), ISOWEEK)",
        "month": f"DATE_TRUNC(CAST({_T} AS DATE), MONTH)",
        "quarter": f"DATE_TRUNC(CAST({_T} AS DATE), QUARTER)",
        "year": f"DATE_TRUNC(CAST({_T} AS DATE), YEAR)",
    },
    "clickhouse": {
        "day": f"toDate({_T})",
        "week": f"toMonday({_T})",
        "month": f"toStartOfMonth({_T})",
        "quarter": f"toStartOfQuarter({_T})",
        "year": f"toStartOfYear({_T})",
    },
}

# Dialects on which kpiengine cannot convert to a project time zone in SQL (no IANA zone support
# without extra server set-up); a project with a non-UTC timezone gets a clear error there.
TIMEZONE_UNSUPPORTED = {"sqlite", "mysql", "tsql"}


def _substitute(tree: exp.Expression, time_expr: exp.Expression) -> exp.Expression:
    return tree.transform(
        lambda n: time_expr.copy() if isinstance(n, exp.Column) and n.name == _T else n, copy=True)


def _generic(time_expr: exp.Expression, grain: str) -> exp.Expression:
    if grain == "week":
        # Monday = date - (ISO day of week - 1) days: correct whatever the engine's week convention.
        as_date = exp.cast(time_expr.copy(), "date")
        offset = exp.Sub(this=exp.Literal.number(1), expression=exp.DayOfWeekIso(this=time_expr.copy()))
        return exp.DateAdd(this=as_date, expression=offset, unit=exp.var("DAY"))
    trunc = exp.TimestampTrunc(this=time_expr.copy(), unit=exp.var(grain.upper()))
    return exp.cast(trunc, "date")


_DATE = exp.DataType.build("date")


def as_date(e: exp.Expression, dialect: str) -> exp.Expression:
    """``e`` as a DATE: date + interval is a timestamp on some engines, compared or joined with dates.
    SQLite keeps dates as ISO text (CAST AS DATE would make a number), so there it stays as it is."""
    return e if dialect == "sqlite" else exp.Cast(this=e, to=_DATE.copy())


def add_days(e: exp.Expression, n: int, dialect: str) -> exp.Expression:
    """The date ``n`` days after ``e`` (before, for a negative ``n``), as a DATE."""
    if n == 0:
        return e
    return as_date(exp.DateAdd(this=e, expression=exp.Literal.number(n), unit=exp.var("DAY")), dialect)


def period_start_expr(time_expr: exp.Expression, grain: str, dialect: str, timezone: str = "UTC",
                      from_zone: str = "UTC") -> exp.Expression:
    """A DATE expression: the first day of ``grain`` containing ``time_expr`` (weeks start Monday)."""
    if grain not in GRAINS:
        raise PeriodError(f"unknown period '{grain}': expected one of {', '.join(GRAINS)}")
    time_expr = localize(time_expr, dialect, timezone, from_zone)
    if dialect in _TEMPLATES:
        template = sqlglot.parse_one(_TEMPLATES[dialect][grain], read=dialect)
        return _substitute(template, time_expr)
    if dialect in _DATE_TRUNC_DIALECTS:
        trunc = exp.TimestampTrunc(this=time_expr, unit=exp.var(grain.upper()))
        return exp.cast(trunc, "date")
    return _generic(time_expr, grain)


def _is_utc(zone: str) -> bool:
    return zone.upper() in ("UTC", "ETC/UTC", "Z", "GMT")


def localize(time_expr: exp.Expression, dialect: str, timezone: str, from_zone: str = "UTC") -> exp.Expression:
    """Convert a naive timestamp in ``from_zone`` to wall-clock time in the project time zone (where a day starts).

    ``from_zone`` is the model's ``time_zone`` (UTC unless declared); "" means the
    time is local wall-clock time already (``local_date: true``). Nothing is
    converted when both zones are the same, which is why a local-time export on a
    project in that zone works on SQLite and MySQL too.
    """
    timezone = timezone or "UTC"
    if from_zone == "" or from_zone == timezone or (_is_utc(timezone) and _is_utc(from_zone)):
        return time_expr
    if dialect in TIMEZONE_UNSUPPORTED:
        zone = timezone if _is_utc(from_zone) else from_zone
        raise PeriodError(
            f"time zone '{zone}' cannot be applied on {dialect}: it has no built-in IANA time zones. "
            "Store times in the project time zone and declare it on the model (`time_zone:` equal to "
            "`project.timezone`, or `local_date: true`), or use an engine with time zone support "
            "(duckdb, postgres, snowflake, bigquery, spark, trino)")
    if dialect in ("spark", "spark2", "databricks"):
        if not _is_utc(from_zone):
            time_expr = exp.Anonymous(this="TO_UTC_TIMESTAMP", expressions=[time_expr, exp.Literal.string(from_zone)])
        return exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[time_expr, exp.Literal.string(timezone)])
    if dialect in ("duckdb", "postgres", "redshift"):
        # timestamp AT TIME ZONE source -> timestamptz; AT TIME ZONE tz -> local wall-clock timestamp.
        instant = exp.AtTimeZone(this=exp.cast(time_expr, "timestamp"), zone=exp.Literal.string(from_zone))
        return exp.AtTimeZone(this=instant, zone=exp.Literal.string(timezone))
    return exp.ConvertTimezone(source_tz=exp.Literal.string(from_zone), target_tz=exp.Literal.string(timezone),
                               timestamp=time_expr)


def text_to_timestamp(column: exp.Expression, fmt: str, dialect: str) -> exp.Expression:
    """Parse a date written as text (``%d-%m-%Y``) into a timestamp; NULL where it does not match.

    SQLite has no strptime: the text is split at the format's separators (so
    ``5-1-2026`` reads like ``05-01-2026``) and rebuilt in ISO order, and
    DATETIME() turns an impossible result into NULL. SQL Server gets the text
    rearranged by fixed positions.
    """
    if dialect == "sqlite":
        return _sqlite_split_parse(column, fmt)
    if dialect == "tsql":
        return exp.cast(_rearrange_fixed_width(column, fmt), "datetime2")
    # Cast to text first: a CSV reader may already have typed the column as a DATE.
    return exp.StrToTime(this=exp.cast(column, "text"), format=exp.Literal.string(fmt))


_DIRECTIVES = ("%Y", "%m", "%d", "%H", "%M", "%S")


def _format_fields(fmt: str) -> tuple[list[str], list[str]]:
    """Directives and the single-character separators between them: '%d-%m-%Y' -> [d, m, Y], ['-', '-']."""
    fields, seps, i = [], [], 0
    while i < len(fmt):
        token = fmt[i:i + 2]
        if token in _DIRECTIVES:
            fields.append(token)
            i += 2
            if i < len(fmt):
                if fmt[i] == "%" or (i + 1 < len(fmt) and fmt[i + 1] != "%"):
                    raise PeriodError(f"time_format {fmt!r}: on SQLite, directives must be separated by "
                                      "exactly one character, e.g. %d-%m-%Y %H:%M")
                if fmt[i].isdigit():
                    raise PeriodError(f"time_format {fmt!r}: on SQLite, a separator cannot be a digit")
                seps.append(fmt[i])
                i += 1
        else:
            raise PeriodError(f"time_format {fmt!r}: directive {token!r} is not supported on SQLite; "
                              f"use {' '.join(_DIRECTIVES)}")
    if not all(k in fields for k in ("%Y", "%m", "%d")):
        raise PeriodError(f"time_format {fmt!r} must contain %Y, %m and %d")
    return fields, seps


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _sqlite_split_parse(column: exp.Expression, fmt: str) -> exp.Expression:
    """The text split into its fields in SQL that grows linearly with the format's fields.

    Splitting by nested SUBSTR/INSTR repeats the rest of the text in every
    later field, which doubles the SQL per field (18 KB for ``%d-%m-%Y %H:%M``).
    Here the text is checked once (only digits and the format's separators, in
    its order, none doubled), turned into a JSON array by replacing each
    separator with ``","``, and each field is read from it by position.
    """
    fields, seps = _format_fields(fmt)
    text = exp.Trim(this=column.copy())
    # What is left of the text without its digits must be exactly the separators, in order.
    no_digits: exp.Expression = text.copy()
    for digit in "0123456789":
        no_digits = _fn("REPLACE", no_digits, exp.Literal.string(digit), exp.Literal.string(""))
    shape_ok = exp.EQ(this=no_digits, expression=exp.Literal.string("".join(seps)))
    pieces: exp.Expression = text.copy()
    for sep in dict.fromkeys(seps):
        pieces = _fn("REPLACE", pieces, exp.Literal.string(sep), exp.Literal.string('","'))
    array = exp.DPipe(this=exp.DPipe(this=exp.Literal.string('["'), expression=pieces),
                      expression=exp.Literal.string('"]'))
    # A separator at either end or two in a row leave an empty field: '""' in the array.
    no_empty = exp.EQ(this=_fn("INSTR", array.copy(), exp.Literal.string('""')), expression=exp.Literal.number(0))
    values = {directive: exp.cast(_fn("JSON_EXTRACT", array.copy(), exp.Literal.string(f"$[{i}]")), "integer")
              for i, directive in enumerate(fields)}
    zero = exp.Literal.number(0)
    iso = _fn("PRINTF", exp.Literal.string("%04d-%02d-%02d %02d:%02d:%02d"),
              values["%Y"], values["%m"], values["%d"], values.get("%H", zero), values.get("%M", zero),
              values.get("%S", zero))
    # DATETIME() gives NULL for an impossible date; comparing back rejects ones SQLite would roll over (Feb 30).
    checked = _fn("DATETIME", _fn("JULIANDAY", iso))
    parsed = exp.Case(ifs=[exp.If(this=exp.EQ(this=checked.copy(), expression=iso.copy()), true=checked)])
    # CASE evaluates its branch only when the shape is right: JSON_EXTRACT never sees malformed text.
    return exp.Case(ifs=[exp.If(this=exp.and_(shape_ok, no_empty), true=parsed)])


_WIDTH = {"%Y": 4, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2}


def _rearrange_fixed_width(column: exp.Expression, fmt: str) -> exp.Expression:
    pos, i, parts = 1, 0, {}
    while i < len(fmt):
        token = fmt[i:i + 2]
        if token in _WIDTH:
            parts[token] = (pos, _WIDTH[token])
            pos += _WIDTH[token]
            i += 2
        elif fmt[i] == "%":
            raise PeriodError(f"time_format {fmt!r}: directive {token} is not supported on this engine; "
                              "use fixed-width %Y %m %d %H %M %S")
        else:
            pos += 1
            i += 1
    if not all(k in parts for k in ("%Y", "%m", "%d")):
        raise PeriodError(f"time_format {fmt!r} must contain %Y, %m and %d")

    def piece(token: str, default: str) -> exp.Expression:
        if token not in parts:
            return exp.Literal.string(default)
        start, width = parts[token]
        return exp.Substring(this=column.copy(), start=exp.Literal.number(start), length=exp.Literal.number(width))

    seq = [piece("%Y", ""), exp.Literal.string("-"), piece("%m", ""), exp.Literal.string("-"), piece("%d", ""),
           exp.Literal.string(" "), piece("%H", "00"), exp.Literal.string(":"), piece("%M", "00"),
           exp.Literal.string(":"), piece("%S", "00")]
    out = seq[0]
    for nxt in seq[1:]:
        out = exp.DPipe(this=out, expression=nxt)
    return out
