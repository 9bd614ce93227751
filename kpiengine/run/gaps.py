"""Periods without rows, and what a KPI is where its model has none: gap filling and missing inputs.

One rule for both paths of the engine (the one statement and the per-model queries): an
aggregate over no rows is 0 for counts and sums, null otherwise, decided by the KPI's
``aggregate:`` alone so a period's value never depends on the requested range; ``fill:
zero|null`` adds the periods of a generated spine. Pure Python: a run from a cached plan
uses it without importing the compiler.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from ..errors import SpecError, SpecIssue
from ..spec.model import Project
from ..spec.periodmath import shift_period, truncate

ADDITIVE = {"count", "count_distinct", "sum"}
FILLS = ("zero", "null")
MAX_SPINE = 100_000  # periods x dimension values a fill may add


def fills_null(project: Project, name: str, how: str | None) -> bool:
    """Whether the periods a fill adds to KPI ``name`` are null rather than its value over no rows.

    Asked for (``fill: null``), or the KPI reads a window aggregate: a period without rows may
    still have rows in its window, which the request did not read, so it is never a made-up 0.
    """
    if how == "null":
        return True
    from ..sql.compiler import (
        required_aggregates,  # lazy: only gap filling needs the formula tree
    )

    return any(project.kpis[leaf].window for leaf in required_aggregates(project, [name]))


def missing_value(project: Project, name: str) -> Any:
    """The value of an aggregate KPI for a key its model has no row for: its aggregate over no rows."""
    return 0 if project.kpis[name].aggregate in ADDITIVE else None


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
