"""From per-model aggregates to the rows a request shows: formulas, offsets, the range, gap filling.

The engine reads every model query into ``aggregates[kpi][(period, dims...)]``. This
module turns them into KPI values:

* a formula is evaluated at every key where any of its aggregate inputs has a row; an input
  missing there is its aggregate over no rows (0 for counts and sums, null otherwise),
  decided by the input's ``aggregate:`` alone, so a period's value never depends on the
  requested range;
* an input at an offset (``revenue[-1]``) is looked up at the shifted period, which the
  compiler scanned in the same query (:mod:`kpiengine.sql.windows`);
* only periods in the requested range are shown (the scan may be wider);
* ``fill: zero|null`` adds the periods of a generated spine with no rows.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from ..errors import SpecError, SpecIssue
from ..results import KpiValue
from ..spec.formula import evaluate, input_key, inputs, parse_formula
from ..spec.model import Project
from ..spec.offsets import OffsetError, shift_period, truncate
from ..sql.compiler import required_aggregates
from .normalize import sort_key

ADDITIVE = {"count", "count_distinct", "sum"}
FILLS = ("zero", "null")
MAX_SPINE = 100_000  # periods x dimension values a fill may add


def missing_value(project: Project, name: str) -> Any:
    """The value of an aggregate KPI for a key its model has no row for: its aggregate over no rows."""
    return 0 if project.kpis[name].aggregate in ADDITIVE else None


def assemble(project: Project, names: list[str], grain: str, by: list[str], aggregates: dict[str, dict],
             model_keys: dict[str, set[tuple]], start: date | None, end: date | None,
             fill: dict[str, str | None] | None = None) -> list[KpiValue]:
    memo: dict[tuple[str, tuple], Any] = {}
    refs: dict[str, list] = {}  # formula -> its (input, offset) pairs, read once

    def value(name: str, key: tuple) -> Any:
        found = memo.get((name, key), memo)
        if found is not memo:
            return found
        kpi = project.kpis[name]
        if not kpi.is_formula:
            data = aggregates.get(name, {})
            out = data[key] if key in data else missing_value(project, name)
        else:
            tree = parse_formula(kpi.formula)
            if name not in refs:
                refs[name] = inputs(tree)
            values = {}
            for ref, offset in refs[name]:
                at = key if offset is None else (_shift(offset, key[0], grain),) + key[1:]
                values[input_key(ref, offset)] = value(ref, at)
            out = evaluate(tree, values)
        memo[(name, key)] = out
        return out

    first = truncate(start, grain) if start is not None and grain != "all" else start
    rows: list[KpiValue] = []
    for name in names:
        kpi = project.kpis[name]
        keys: set[tuple] = set()
        # A formula has a value wherever one of its aggregate inputs has a row (all KPIs of one
        # model query share its rows; a window aggregate has the rows of its window query).
        for leaf in required_aggregates(project, [name]):
            keys |= set(aggregates.get(leaf, {}))
        if grain != "all":
            keys = {k for k in keys if (first is None or k[0] >= first) and (end is None or k[0] < end)}
        how = (fill or {}).get(name)
        added = spine(keys, len(by), grain, first, end) if how in FILLS else set()
        # A window aggregate at a period without rows may still have rows in its window, which this
        # request did not read: its filled periods are null, never a made-up 0.
        null_fill = how == "null" or any(project.kpis[leaf].window for leaf in required_aggregates(project, [name]))
        for key in sorted(keys | added, key=sort_key):
            v = None if (key in added and null_fill) else value(name, key)
            if isinstance(v, float) and v.is_integer() and kpi.aggregate in ADDITIVE:
                v = int(v)
            rows.append(KpiValue(kpi=name, grain=grain, period_start=key[0],
                                 dimensions=dict(zip(by, key[1:])), value=v))
    return rows


def _shift(offset, period: date, grain: str) -> date:
    try:
        return offset.shift(period, grain)
    except OffsetError as exc:
        raise SpecError([SpecIssue(str(exc), hint=exc.hint, code="offset")]) from None


def spine(keys: set[tuple], ndims: int, grain: str, first: date | None, end: date | None) -> set[tuple]:
    """Keys a fill adds: every period from the range's start (or the first with data) to its end (or
    the last with data), for every combination of dimension values the KPI has in the range."""
    if grain == "all" or (not keys and (first is None or end is None)):
        return set()
    lo = first if first is not None else min(k[0] for k in keys)
    hi = end if end is not None else shift_period(max(k[0] for k in keys), grain, 1)
    combos = {k[1:] for k in keys} or ({()} if ndims == 0 else set())
    periods = []
    p = truncate(lo, grain)
    while p < hi:
        periods.append(p)
        p = shift_period(p, grain, 1)
        if len(periods) * len(combos) > MAX_SPINE:
            raise SpecError([SpecIssue(f"filling gaps would add more than {MAX_SPINE} rows",
                                       hint="request a shorter range or a coarser grain", code="fill")])
    return {(p,) + c for p in periods for c in combos} - keys


def fill_of(project: Project, names: list[str], request_fill: str | None) -> dict[str, str | None]:
    """How each KPI's gaps are filled: the request's ``--fill`` if given, else the KPI's ``fill:``."""
    if request_fill is not None and request_fill not in FILLS:
        raise SpecError([SpecIssue(f"unknown fill '{request_fill}'", hint="use zero or null", code="fill")])
    return {n: request_fill or getattr(project.kpis[n], "fill", None) for n in names}
