"""Incremental runs: compute again only the periods that changed since the last run of the same request.

Before computing, each model the request reads is asked how many rows it has
on each day (:mod:`kpiengine.sql.fingerprint`, one column, a fraction of the
KPIs' cost). Compared with the counts stored with the last run of the same
request (same spec version, KPIs, grain, breakdown and range), they give the
earliest day that gained rows (a new day, late rows in an old period) or lost
some (deletes). The request is computed again from the start of that day's
period, ``lookback`` periods earlier still, to the end of the range; every
value before comes from the last run in history. The run is stored whole,
with the new counts, so history and ``kpi history`` see an ordinary run.

Exactness: periods are recomputed whole, so count-distinct, averages and
percentiles of a recomputed period are exact (no partial state is merged),
and a period before the restart point has exactly the rows it had when it was
computed. What the day counts cannot see is a row changed in place (same day,
same number of rows): ``lookback`` recomputes that many extra periods for
such late corrections, and ``kpi run`` without ``--incremental`` recomputes
everything. A KPI whose value depends on earlier periods (a window or an
offset) is computed in full: the narrowed range would cut its history.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from ..errors import KpiEngineError
from ..results import KpiValue
from ..spec.dimensions import leaf_models
from ..spec.formula import parse_formula, references
from ..sql.fingerprint import day_counts_query
from ..sql.periods import python_period_start, shift_period
from .engine import Engine, ResultSet
from .history import HistoryStore
from .normalize import normalize_date

#: attributes of a KPI that make its value depend on earlier periods (windows, offsets)
_HISTORY_DEPENDENT = ("window", "offset", "offsets")


@dataclass
class IncrementalReport:
    """What an incremental run did: ``recomputed_from`` None means everything was computed."""

    recomputed_from: date | None
    reason: str
    changed_days: int = 0


def signature(project, kpis: list[str], grain: str, by: list[str], start: date | None, end: date | None,
              options: dict[str, Any] | None = None) -> str:
    text = json.dumps([project.version, kpis, grain, by, start and start.isoformat(), end and end.isoformat(),
                       sorted((options or {}).items())], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def day_rows(engine: Engine, models: Iterable[str]) -> dict[str, dict[str, int]]:
    """{model: {day (ISO): rows}} in the project time zone, one query per model."""
    out: dict[str, dict[str, int]] = {}
    for name in sorted(models):
        model = engine.project.models[name]
        source = engine.open_source(model.source)
        try:
            source.connect()
            sql = day_counts_query(engine.project, model, engine.dialect_of(model.source))
            result = source.execute(sql, timeout=engine.timeout)
        finally:
            source.close()
        # Rows without a time count towards no period: they cannot change a value.
        out[name] = {normalize_date(day).isoformat(): int(n) for day, n in result.rows if day is not None}
    return out


def earliest_change(before: dict[str, dict[str, int]], now: dict[str, dict[str, int]]) -> tuple[date | None, int]:
    """(first day whose rows differ in any model, how many days differ)."""
    changed = {day for model in set(before) | set(now)
               for day in set(before.get(model, {})) | set(now.get(model, {}))
               if before.get(model, {}).get(day) != now.get(model, {}).get(day)}
    return (date.fromisoformat(min(changed)) if changed else None), len(changed)


def depends_on_earlier_periods(project, kpis: Iterable[str]) -> bool:
    """True when a KPI, or one its formula reads, has a window or reads an earlier period (``kpi[-1]``)."""
    seen: set[str] = set()
    stack = list(kpis)
    while stack:
        name = stack.pop()
        kpi = project.kpis.get(name)
        if kpi is None or name in seen:
            continue
        seen.add(name)
        if any(getattr(kpi, attr, None) for attr in _HISTORY_DEPENDENT):
            return True
        if kpi.is_formula:
            if "[" in kpi.formula:  # an offset: kpi[-1], kpi[-1 year], kpi[start_of_month]
                return True
            stack += references(parse_formula(kpi.formula))
    return False


def compute_incremental(engine: Engine, store: HistoryStore, kpis: Iterable[str] | None, grain: str,
                        by: Iterable[str], start: date | None, end: date | None, *, lookback: int = 0
                        ) -> tuple[ResultSet, str, dict[str, dict[str, int]], IncrementalReport]:
    """Compute a request from the last run's values and the periods that changed since.

    Returns (result with every value of the request, signature, new day counts, report); the caller
    stores them with :meth:`HistoryStore.record_incremental`.
    """
    if lookback < 0:
        raise KpiEngineError("--lookback must be 0 or more periods")
    t0 = time.perf_counter()
    by = list(by)
    names = engine.resolve_kpis(kpis, by)
    project = engine.project
    sig = signature(project, names, grain, by, start, end)
    models = set().union(*(leaf_models(project, n) for n in names))
    now = day_rows(engine, models)
    state = store.incremental_state(sig)

    def full(reason: str) -> tuple[ResultSet, str, dict, IncrementalReport]:
        rs = engine.compute(names, grain, by, start, end)
        rs.timings["total_s"] = time.perf_counter() - t0
        return rs, sig, now, IncrementalReport(None, reason)

    if state is None:
        return full("no earlier run of this request")
    if depends_on_earlier_periods(project, names):
        return full("a KPI depends on earlier periods (window or offset)")
    last_run, before = state
    first_day, n_changed = earliest_change(before, now)
    previous = store.run_values(last_run)
    if first_day is None:
        restart = None
        fresh: list[KpiValue] = []
    else:
        restart = shift_period(python_period_start(first_day, grain), grain, -lookback)
        if start is not None and restart <= start:
            return full(f"rows changed on {first_day}, before the range starts")
        rs_new = engine.compute(names, grain, by, restart, end)
        fresh = rs_new.rows
    kept = [_as_computed(project, r) for r in previous if restart is None or r.period_start < restart]
    rows = _in_request_order(names, kept + fresh)
    rs = ResultSet(grain=grain, by=by, start=start, end=end, kpis=names, rows=rows, spec_version=project.version,
                   timings={"total_s": time.perf_counter() - t0})
    reason = "nothing changed" if restart is None else f"{n_changed} day(s) changed, the first on {first_day}"
    return rs, sig, now, IncrementalReport(restart, reason, n_changed)


def _as_computed(project, r: KpiValue) -> KpiValue:
    """A stored value as the engine returns it: counts and sums of whole numbers are ints again."""
    kpi = project.kpis.get(r.kpi)
    value = r.value
    if isinstance(value, float) and value.is_integer() and kpi is not None and not kpi.is_formula \
            and kpi.aggregate in ("count", "count_distinct", "sum"):
        value = int(value)
    return KpiValue(kpi=r.kpi, grain=r.grain, period_start=r.period_start, dimensions=r.dimensions, value=value)


def _in_request_order(names: list[str], rows: list[KpiValue]) -> list[KpiValue]:
    """KPIs in request order, then periods, then dimension values (NULL last): the engine's order."""
    rank = {n: i for i, n in enumerate(names)}

    def key(r: KpiValue):
        return (rank.get(r.kpi, len(rank)), r.period_start,
                tuple((v is None, str(v)) for v in r.dimensions.values()))

    return sorted(rows, key=key)
