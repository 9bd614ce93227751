"""Custom calendars: fiscal weeks, quarters and years as grains (``--grain fiscal_quarter``).

A company's fiscal quarter does not start on 1 January; a retail 4-4-5 calendar has
no rule a date function knows. As in MetricFlow's custom granularities, the calendar
is data: a model with one row per day, and one column per custom grain holding the
first day of the period that day belongs to::

    calendars:
      fiscal:
        model: fiscal_calendar        # a model (table, sql or file) with one row per day
        date: day                     # the day column (a DATE)
        periods:
          fiscal_quarter: fq_start    # grain name: the column with the first day of its period
          fiscal_year: fy_start

The query of a KPI joins the calendar on the day of each row's local time, below
the aggregation, and groups by the period column (:mod:`kpiengine.sql.timeprep`).
The engine reads the calendar's periods once per request (:func:`remember_periods`),
so the Python side (the first period of ``--from``, completeness, gap filling) steps
through the same periods the warehouse grouped by.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from ..errors import Location, SpecIssue
from .located import LDict
from .model import REQUEST_GRAINS, Project
from .sqlsafety import check_expression
from .suggest import did_you_mean

SECTION = "calendars"


@dataclass
class Calendar:
    name: str
    model: str
    date: str
    periods: dict[str, str] = field(default_factory=dict)  # grain -> column with the period's first day
    location: Location | None = None


def calendars(project: Project) -> dict[str, Calendar]:
    """The project's calendars (malformed entries skipped: :func:`calendar_issues` says why)."""
    parsed = getattr(project, "parsed", None)
    if isinstance(parsed, dict) and SECTION in parsed:
        return parsed[SECTION]
    return parse_calendars(project.section(SECTION, {}))


def parse_calendars(raw: Any) -> dict[str, Calendar]:
    out: dict[str, Calendar] = {}
    if not isinstance(raw, dict):
        return out
    for name, node in raw.items():
        if not isinstance(node, dict) or not isinstance(node.get("model"), str):
            continue
        periods = node.get("periods")
        out[str(name)] = Calendar(
            name=str(name), model=str(node["model"]), date=str(node.get("date") or "date"),
            periods={str(g): str(c) for g, c in periods.items() if isinstance(c, str)}
            if isinstance(periods, dict) else {},
            location=raw.loc_of(name) if isinstance(raw, LDict) else None)
    return out


def calendar_of(project: Project, grain: str) -> tuple[Calendar, str] | None:
    """The calendar holding the custom ``grain`` and its period column, or None for any other grain."""
    if grain in REQUEST_GRAINS:
        return None
    for cal in calendars(project).values():
        if grain in cal.periods:
            return cal, cal.periods[grain]
    return None


def custom_grains(project: Project) -> list[str]:
    return [g for cal in calendars(project).values() for g in cal.periods]


def calendar_issues(project: Project, dialect_of=lambda _source: "duckdb") -> Iterable[SpecIssue]:
    """Unknown models and grains, built-in or repeated grain names, columns the allow-list refuses."""
    raw = project.section(SECTION, {})
    if not isinstance(raw, dict):
        return
    seen: dict[str, str] = {}
    for name, node in raw.items():
        where = f"calendar '{name}'"
        loc = raw.loc_of(name) if isinstance(raw, LDict) else None
        if not isinstance(node, dict):
            yield SpecIssue(f"{where}: a mapping with model, date and periods is expected", loc, code="calendar")
            continue
        at = node.loc_of if isinstance(node, LDict) else (lambda _k, loc=loc: loc)
        model = node.get("model")
        spec = project.models.get(model) if isinstance(model, str) else None
        if spec is None:
            yield SpecIssue(f"{where}: unknown model {model!r}", at("model"), code="calendar",
                            hint=did_you_mean(str(model), project.models) or
                            "declare the calendar table as a model (no `time:` needed)")
        try:
            dialect = dialect_of(spec.source) if spec is not None else "duckdb"
        except Exception:  # an unknown source is reported by the models section
            dialect = "duckdb"
        for problem in check_expression(str(node.get("date") or "date"), dialect, what="date"):
            yield SpecIssue(f"{where}: `date`: {problem}", at("date"), code="calendar",
                            hint="the calendar's day column, e.g. `date: day`")
        periods = node.get("periods")
        if not isinstance(periods, dict) or not periods:
            yield SpecIssue(f"{where}: `periods` must map grain names to columns", at("periods"), code="calendar",
                            hint="e.g. `periods: {fiscal_quarter: fq_start}`: the column holds the period's first day")
            continue
        plocs = periods.loc_of if isinstance(periods, LDict) else (lambda _k, at=at: at("periods"))
        for grain, column in periods.items():
            grain = str(grain)
            if grain in REQUEST_GRAINS:
                yield SpecIssue(f"{where}: grain '{grain}' is a built-in grain", plocs(grain), code="calendar",
                                hint="name the custom period differently, e.g. `fiscal_" + grain + "`")
            elif not grain.isidentifier():
                yield SpecIssue(f"{where}: grain name {grain!r} must be a plain name", plocs(grain), code="calendar")
            elif grain in seen:
                yield SpecIssue(f"{where}: grain '{grain}' is already a grain of calendar '{seen[grain]}'",
                                plocs(grain), code="calendar", hint="each custom grain belongs to one calendar")
            seen.setdefault(grain, str(name))
            if not isinstance(column, str):
                yield SpecIssue(f"{where}: the column of grain '{grain}' must be text (got {column!r})",
                                plocs(grain), code="calendar")
                continue
            for problem in check_expression(column, dialect, what="period column"):
                yield SpecIssue(f"{where}: grain '{grain}': {problem}", plocs(grain), code="calendar")


# -- the periods of each custom grain, as the warehouse holds them -------------------------------
# grain -> (sorted first days, the day after the calendar's last day): filled by the engine from the
# calendar query of a request (sql/calendar_sql.py), read by period arithmetic (spec.offsets, sql.periods).
_PERIODS: dict[str, tuple[list[date], date]] = {}


def remember_periods(grain: str, rows: Iterable[tuple]) -> None:
    """Rows of (period first day, last calendar day of the period) for ``grain``."""
    starts, last = set(), None
    for start, end in rows:
        if start is None:
            continue
        start, end = _as_date(start), _as_date(end)
        starts.add(start)
        last = end if last is None or (end is not None and end > last) else last
    ordered = sorted(starts)
    if ordered:
        _PERIODS[grain] = (ordered, (last or ordered[-1]) + timedelta(days=1))


def known_periods(grain: str) -> list[date] | None:
    found = _PERIODS.get(grain)
    return None if found is None else list(found[0])


def custom_truncate(d: date, grain: str) -> date | None:
    """The first day of the custom period holding ``d``; None when ``grain`` is no custom grain read yet."""
    found = _PERIODS.get(grain)
    if found is None:
        return None
    starts, end = found
    i = bisect_right(starts, d) - 1
    if i < 0 or d >= end:
        raise ValueError(f"{d} is outside the calendar of grain '{grain}' ({starts[0]} to {end - timedelta(days=1)})")
    return starts[i]


def custom_shift(d: date, grain: str, n: int) -> date | None:
    """The custom period ``n`` periods after the one starting at ``d``; past the calendar's end: its end."""
    found = _PERIODS.get(grain)
    if found is None:
        return None
    starts, end = found
    i = bisect_right(starts, d) - 1 + n
    if i < 0:
        raise ValueError(f"the calendar of grain '{grain}' starts at {starts[0]}")
    return starts[i] if i < len(starts) else end


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])
