"""Reading a one-statement request back: rows of (period, dimensions, KPI values, presence flags) to KPI values.

The statement (:mod:`kpiengine.sql.onequery`) already computed every formula; what is
left for Python is what a driver cannot say: which KPI has a value at a key (one of the
scans holding its inputs had a row there, the same rule as the per-model path), the
same Python value whatever engine returned it, and the gaps ``fill:`` asks for.

Rows come out per KPI in request order and, within a KPI, in key order, as
:func:`kpiengine.run.assemble.assemble` gives them: the keys are sorted once for all
KPIs of a statement, not once per KPI.
"""
from __future__ import annotations

import math
from datetime import date
from typing import Any

from ..errors import KpiEngineError
from ..results import KpiValue
from ..spec.model import REQUEST_GRAINS, Project
from ..spec.periodmath import truncate
from .gaps import ADDITIVE, FILLS, fills_null, missing_value, spine
from .normalize import normalize_date, normalize_number, normalize_value, sort_key


def read_request(project: Project, q, rows, start: date | None, end: date | None,
                 fill: dict[str, str | None]) -> dict[str, list[KpiValue]]:
    """KPI values of one statement, per KPI; raises KpiEngineError for a text time that did not parse."""
    ndims = len(q.dim_aliases)
    nvalues = len(q.outputs)
    first_flag = 1 + ndims + nvalues
    nflags = len(q.flags)
    keyed = []
    for row in rows:
        if row[0] is None:
            raise KpiEngineError(_unreadable(q, row, first_flag + nflags))
        key = (normalize_date(row[0]),) + tuple(normalize_value(v) for v in row[1:1 + ndims])
        keyed.append((key, row))
    keyed.sort(key=lambda kr: sort_key(kr[0]))
    grain, by = q.grain, q.by
    out: dict[str, list[KpiValue]] = {}
    for n, col in enumerate(q.outputs):
        pos = 1 + ndims + n
        flags = [first_flag + f for f in col.flags]
        additive = col.aggregate in ADDITIVE
        values = []
        for key, row in keyed:
            if not any(row[f] for f in flags):
                continue
            v = normalize_number(row[pos])
            if isinstance(v, float):
                if not math.isfinite(v):
                    v = None
                elif additive and v.is_integer():
                    v = int(v)
            elif v is None and additive:
                v = 0
            values.append(KpiValue(kpi=col.kpi, grain=grain, period_start=key[0],
                                   dimensions=dict(zip(by, key[1:])), value=v))
        how = fill.get(col.kpi)
        if how in FILLS:
            values = _filled(project, col.kpi, values, how, grain, by, start, end)
        out[col.kpi] = values
    return out


def _filled(project: Project, name: str, values: list[KpiValue], how: str, grain: str, by: list[str],
            start: date | None, end: date | None) -> list[KpiValue]:
    """The KPI's rows with the periods of the spine that had none (the request has no offsets then)."""
    keys = {(v.period_start,) + tuple(v.dimensions[d] for d in by) for v in values}
    first = truncate(start, grain) if start is not None and grain != "all" else start
    added = spine(keys, len(by), grain, first, end)
    if not added:
        return values
    blank = None if fills_null(project, name, how) else blank_value(project, name)
    rows = values + [KpiValue(kpi=name, grain=grain, period_start=k[0], dimensions=dict(zip(by, k[1:])),
                              value=blank) for k in added]
    rows.sort(key=lambda v: sort_key((v.period_start,) + tuple(v.dimensions[d] for d in by)))
    return rows


def blank_value(project: Project, name: str) -> Any:
    """A KPI's value at a key where none of its inputs has a row (formulas over 0s and nulls)."""
    kpi = project.kpis[name]
    if not kpi.is_formula:
        return missing_value(project, name)
    from ..spec.formula import (  # lazy: only gap filling evaluates a formula in Python
        evaluate,
        input_key,
        inputs,
        parse_formula,
    )

    tree = parse_formula(kpi.formula)
    vals = {input_key(ref, offset): blank_value(project, ref) for ref, offset in inputs(tree)}
    return evaluate(tree, vals)


def _unreadable(q, row, first_bad: int) -> str:
    for k, (_alias, model, fmt) in enumerate(q.bad_times):
        if row[first_bad + k] is not None:
            return unreadable_message(model, q.grain, fmt, row[first_bad + k])
    return unreadable_message(", ".join(q.models), q.grain)


def unreadable_message(model: str, grain: str, time_format: str | None = None, sample: Any = None) -> str:
    """Why a row has no period: its text time does not parse, or a custom calendar lacks its day."""
    if time_format and sample is not None:
        return (f"model '{model}': time value {sample!r} does not match time_format {time_format!r}; "
                "fix the data or the model's time_format (rows are never dropped silently)")
    if grain not in REQUEST_GRAINS:  # a custom calendar's grain: the row's day is not in the calendar
        return (f"model '{model}': some rows fall on days the calendar of grain '{grain}' does not have; "
                "extend the calendar table to every day the data covers (rows are never dropped silently)")
    return (f"model '{model}': the engine returned no period for some rows; check the model's time "
            "column (it must be a date or timestamp)")
