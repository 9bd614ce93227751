"""Which periods a request must scan beyond the ones it shows, and the SQL range condition for them.

A formula that reads ``revenue[-1]`` or ``revenue[same_period_last_year]`` needs the
input's value at periods before the requested range. They are read in the same scan
of the model: the query's date range is widened by the periods the offsets reach,
as an OR of ranges (the requested one, unchanged, and each look-back range in
whole periods), so the requested periods keep exactly the value they have without
offsets and a partial first period stays partial.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlglot import exp

from ..spec.formula import inputs, parse_formula
from ..spec.model import ALL_GRAIN, Project
from ..spec.offsets import Offset, OffsetError, shift_period, truncate

ALL_TIME_START = date(1970, 1, 1)  # period_start of an all-time row when the request has no start

MAX_CHAINS = 256  # distinct offset compositions a request may need (guards pathological formulas)


def offset_chains(project: Project, names: list[str]) -> set[tuple[Offset, ...]]:
    """Every composition of offsets through which the KPIs ``names`` read an aggregate (``()``: none)."""
    return set().union(*chains_by_aggregate(project, names).values())


def chains_by_aggregate(project: Project, names: list[str]) -> dict[str, set[tuple[Offset, ...]]]:
    """For each aggregate KPI that ``names`` read, the compositions of offsets they read it through.

    A scan is widened only by the offsets its own KPIs are read at: ``revenue[same_period_last_year]``
    widens the deals scan by a year, not the scans of leads and visits beside it in the request.
    """
    chains: dict[str, set[tuple[Offset, ...]]] = {}
    distinct: set[tuple[Offset, ...]] = set()  # the guard counts compositions, as many KPIs share them

    def visit(name: str, chain: tuple[Offset, ...], depth: int) -> None:
        kpi = project.kpis[name]
        if not kpi.is_formula or depth > 64:
            chains.setdefault(name, set()).add(chain)
            distinct.add(chain)
            return
        for ref, offset in inputs(parse_formula(kpi.formula)):
            if len(distinct) < MAX_CHAINS:
                visit(ref, chain + ((offset,) if offset else ()), depth + 1)

    for n in names:
        visit(n, (), 0)
    return chains


def scan_lookback(chains: dict[str, set[tuple[Offset, ...]]], kpis, grain: str, start: date | None,
                  end: date | None) -> list[tuple[date | None, date | None]]:
    """The look-back ranges of one scan: those of the offsets its KPIs (``kpis``, specs) are read at."""
    mine = set().union(*(chains.get(k.name, set()) for k in kpis))
    return lookback_ranges(mine, grain, start, end)


def apply_chain(chain: tuple[Offset, ...], period: date, grain: str) -> date:
    for offset in chain:
        period = offset.shift(period, grain)
    return period


def lookback_ranges(chains: set[tuple[Offset, ...]], grain: str, start: date | None, end: date | None
                    ) -> list[tuple[date | None, date | None]]:
    """Whole-period ranges ``[lo, hi)`` the offsets read outside ``[start, end)``; empty when none.

    Offsets are non-decreasing in the period, so the periods a chain reads for the requested
    periods lie between the chain applied to the first and to the last requested period.
    """
    if grain == ALL_GRAIN:
        if any(chains):
            raise OffsetError("a formula reads a KPI at another period, which needs a period grain, not 'all'",
                              "request day, week, month, quarter or year")
        return []
    if (start is None and end is None) or not any(chains):  # nothing to widen (no period arithmetic either)
        return []
    first = truncate(start, grain) if start is not None else None
    last = truncate(end - timedelta(days=1), grain) if end is not None else None
    after = shift_period(last, grain, 1) if last is not None else None
    out = []
    for chain in chains:
        if not chain:
            continue
        lo = apply_chain(chain, first, grain) if first is not None else None
        hi = shift_period(apply_chain(chain, last, grain), grain, 1) if last is not None else None
        # Only the parts outside the requested periods: those keep exactly their value without
        # offsets (a partial first or last period stays partial, also where an offset reads it).
        if first is not None and (lo is None or lo < first):
            out.append((lo, first if hi is None else min(hi, first)))
        if after is not None and (hi is None or hi > after):
            out.append((after if lo is None else max(lo, after), hi))
    return sorted(set(out), key=lambda r: (r[0] or date.min, r[1] or date.max))


def widen_condition(requested: list[exp.Expression], local_time: exp.Expression,
                    ranges: list[tuple[date | None, date | None]], literal) -> list[exp.Expression]:
    """The WHERE conjuncts for the requested range OR any look-back range (``literal(date)`` -> SQL)."""
    if not ranges:
        return requested
    alternatives = [exp.and_(*requested)] if requested else []
    for lo, hi in ranges:
        bounds = []
        if lo is not None:
            bounds.append(exp.GTE(this=local_time.copy(), expression=literal(lo)))
        if hi is not None:
            bounds.append(exp.LT(this=local_time.copy(), expression=literal(hi)))
        if not bounds:
            return []  # a look-back over all time: no range at all
        alternatives.append(exp.and_(*bounds))
    return [exp.Paren(this=exp.or_(*alternatives))]


def all_time_period(start: date | None, dialect: str) -> exp.Expression:
    """The constant period of ``grain: all`` rows: the request's start, or 1970-01-01 without one."""
    text = exp.Literal.string((start or ALL_TIME_START).isoformat())
    return text if dialect == "sqlite" else exp.cast(text, "date")
