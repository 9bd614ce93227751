"""Run the ``checks:`` of each model on its last complete day: one query per model, plus rows per day for volume.

A check measures one number (the share of NULLs, duplicate keys, rows out of
range, required values missing, the day's rows against the median of the days
before); alerting judges it like any rule (:mod:`kpiengine.alerting.model_rules`).
The judged day is the last day the model's data covers completely (its
watermark), so a day still loading is never taken for a day with missing rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median
from typing import Any

from ..sql.checks_sql import checks_query
from ..sql.fingerprint import day_counts_query
from .normalize import normalize_date, normalize_number
from .watermarks import last_complete_period


@dataclass
class CheckMeasure:
    model: str
    check: Any  # spec.sections.checks.DataCheck
    day: date | None
    value: float | None  # None: nothing to judge (no rows that day, no history)
    note: str = ""
    error: str | None = None


def project_checks(project) -> dict[str, list]:
    return {m: cs for m, cs in (project.parsed.get("checks") or {}).items() if m in project.models}


def judged_day(engine, model: str) -> date | None:
    mark = engine.watermarks([model]).get(model)
    if mark is None or mark.error or mark.covers is None:
        return None
    return last_complete_period("day", [mark.covers], mark.now)


def run_checks(engine, models: list[str] | None = None) -> list[CheckMeasure]:
    """Every check of every model (or of ``models``), measured on the model's last complete day."""
    project = engine.project
    out: list[CheckMeasure] = []
    for model, checks in project_checks(project).items():
        if models is not None and model not in models:
            continue
        day = judged_day(engine, model)
        if day is None:
            out += [CheckMeasure(model, c, None, None, error="the model's watermark is unknown (no rows?)")
                    for c in checks]
            continue
        try:
            out += _measure_model(engine, model, checks, day)
        except Exception as exc:  # a failing check query is an error outcome of its rules, never a crash
            out += [CheckMeasure(model, c, day, None, error=str(exc)[:300]) for c in checks]
    return out


def _measure_model(engine, model: str, checks: list, day: date) -> list[CheckMeasure]:
    project = engine.project
    spec = project.models[model]
    dialect = engine.dialect_of(spec.source)
    query = checks_query(project, spec, checks, day, dialect)
    volume = [c for c in checks if c.type == "volume"]
    source = engine.open_source(spec.source)
    try:
        source.connect()
        row = source.execute(query.sql, timeout=engine.timeout).rows[0]
        counts: dict[date, int] = {}
        if volume:
            since = day - timedelta(days=max(c.days for c in volume))
            for d, n in source.execute(day_counts_query(project, spec, dialect, since), timeout=engine.timeout).rows:
                if d is not None:
                    counts[normalize_date(d)] = int(n)
    finally:
        source.close()
    measured = dict(zip(query.columns, (normalize_number(v) for v in row)))
    rows = int(measured.get("rows") or 0)
    out = []
    for c in checks:
        if c.type == "volume":
            out.append(_volume(model, c, day, counts))
            continue
        raw = measured.get(c.name)
        if c.type == "nulls":
            value = None if not rows else float(raw or 0) / rows
            note = f"{int(raw or 0)} of {rows} rows have no {c.column}"
        elif c.type == "required":
            value = float(len(set(map(str, c.values))) - int(raw or 0))
            note = f"{int(value)} of {len(c.values)} required {c.dimension} value(s) missing"
        elif c.type == "unique":
            value = float(raw or 0)
            note = f"{int(value)} duplicate {c.column} value(s)"
        else:
            value = float(raw or 0)
            note = f"{int(value)} of {rows} rows have {c.column} out of range"
        judged = rows or c.type in ("unique", "required")  # no rows: nothing null or out of range
        out.append(CheckMeasure(model, c, day, value if judged else None, note))
    return out


def _volume(model: str, c, day: date, counts: dict[date, int]) -> CheckMeasure:
    if not counts:
        return CheckMeasure(model, c, day, None, "no rows in the window")
    first = min(counts)
    history = [counts.get(day - timedelta(days=k), 0) for k in range(1, c.days + 1)
               if day - timedelta(days=k) >= first]
    if len(history) < 3 or not median(history):
        return CheckMeasure(model, c, day, None, f"{len(history)} day(s) of history: at least 3 needed")
    usual = median(history)
    n = counts.get(day, 0)
    return CheckMeasure(model, c, day, n / usual, f"{n} rows against a median of {usual:g} over {len(history)} days")
