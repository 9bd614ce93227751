"""Incremental runs: compute again only the periods that changed since the last run of the same request.

Before computing, each model the request reads is asked how many rows it has
on each day (:mod:`kpiengine.sql.fingerprint`, the time column only; one
statement for the models of a source). The
counts stored with the last run of the same request (same spec version,
KPIs, grain, breakdown and range) end at the model's watermark, its last day
with rows then. First only the rows after the model's latest time at that
count are counted (the same statement read it, as text the warehouse wrote):
a filter on the bare time column, with which the warehouse skips every block
of older rows by its min/max statistics whatever the order of rows inside
the blocks, and which finds new rows on the watermark's own day too (counting
from that day read every block of a table whose rows are not in time order,
because each held some of it). When the rows up to that time no longer add
up to the stored counts, the watermark's day is counted, and failing that
every day. The same statement's latest times are the run's watermarks, so it
asks no watermark query. Compared, the counts give the
earliest day that gained rows (a new day, late rows in an old period) or lost
some (deletes). The request is computed again from the start of that day's
period, ``lookback`` periods earlier still, to the end of the range; every
value before comes from the last run (the request's values, kept in history
as one text per period, :mod:`kpiengine.run.keptvalues`). The run is stored
with the new counts; only the values it recomputed are written to
``kpi_values`` and to the kept periods, where the others already are, so
history reads the same as if it had been stored whole (see
:meth:`~kpiengine.run.history.HistoryStore.record_incremental`). One history
connection serves the whole run (``HistoryStore.session``).

Exactness: periods are recomputed whole, so count-distinct, averages and
percentiles of a recomputed period are exact (no partial state is merged),
and a period before the restart point has exactly the rows it had when it was
computed. What the counts cannot see is a row changed in place (same day,
same number of rows), or rows moved between days before the watermark with
their total unchanged: ``lookback`` recomputes that many extra periods for
such late corrections, and ``kpi run`` without ``--incremental`` recomputes
everything. A KPI whose value depends on earlier periods (a window or an
offset) is computed in full: the narrowed range would cut its history.
"""
from __future__ import annotations

import hashlib
import json
import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any, Iterable

from ..errors import KpiEngineError
from ..results import KpiValue
from ..sources import connection_scope
from ..spec.gcpause import paused_gc
from ..spec.leaves import leaf_models
from ..spec.periodmath import python_period_start
from ..spec.periodmath import step_period as shift_period
from ..sql.sincetemplate import After, fill_template
from .engine import Engine, ResultSet
from .history import HistoryStore
from .normalize import normalize_date
from .watermarks import Watermark, from_latest_times, mark_complete

#: attributes of a KPI that make its value depend on earlier periods (windows, offsets)
_HISTORY_DEPENDENT = ("window", "offset", "offsets")
#: the spec cache's kind for day-counts templates (kpiengine.sql.sincetemplate)
_TEMPLATES = "daycounts"
#: ... and for the KPIs a request means (Engine.resolve_kpis)
_RESOLVED = "incremental-kpis"
#: where each step of :func:`current_day_rows` counts days from: this many days after the model's
#: watermark day, or every day (None); a first step after the model's latest time replaces the first
_SINCE_STEPS = (1, 0, None)
_PERIOD = attrgetter("period_start")


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


def day_rows(engine: Engine, source_name: str, wanted: dict[str, date | After | None]
             ) -> dict[str, tuple[dict[str, int], int, str | None]]:
    """{model: ({day (ISO): rows} counted, rows with a time not counted, latest time as the warehouse
    writes it)} of the ``wanted`` models of one source ({model: since day, latest time or None for
    every day}), in one statement."""
    names = sorted(wanted)
    sql = _day_counts_sql(engine, source_name, names, [wanted[m] for m in names])
    source = engine.open_source(source_name)
    try:
        source.connect()
        result = source.execute(sql, timeout=engine.timeout)
    finally:
        source.close()
    days: dict[str, dict[str, int]] = {m: {} for m in names}
    totals = dict.fromkeys(names, 0)
    reaches: dict[str, str | None] = dict.fromkeys(names)
    for model, day, n, reach in result.rows:
        if day is None:
            # the total row (every row with a time, and the latest time), or rows without a time (0)
            totals[model] += int(n)
            if reach is not None:
                reaches[model] = str(reach)
        else:
            days[model][normalize_date(day).isoformat()] = int(n)
    return {m: (days[m], totals[m] - sum(days[m].values()) if wanted[m] is not None else 0, reaches[m])
            for m in names}


def _day_counts_sql(engine: Engine, source_name: str, names: list[str], sinces: list[date | After | None]) -> str:
    """The day-counts statement of a source's models, from a template the spec cache keeps: building it
    imports sqlglot and the compiler, which a run from a cached spec and plan otherwise never does."""
    project = engine.project
    dialect = engine.dialect_of(source_name)
    key = repr((dialect, [(m, _kind(since)) for m, since in zip(names, sinces)]))
    cache = getattr(project, "cache", None)
    template = cache.get(_TEMPLATES, key) if cache is not None else None
    if template is None:
        from ..sql.fingerprint import (  # lazy: sqlglot, see above
            day_counts_by_model,
            day_counts_template,
        )

        wanted = [(project.models[m], since) for m, since in zip(names, sinces)]
        template = day_counts_template(project, wanted, dialect) if cache is not None else None
        if template is None:
            return day_counts_by_model(project, wanted, dialect)
        cache.put(_TEMPLATES, key, template)
    return fill_template(template, sinces)


def _kind(since: date | After | None) -> str | None:
    return None if since is None else "after" if isinstance(since, After) else "day"


def current_day_rows(engine: Engine, models: Iterable[str], before: dict[str, dict[str, int]],
                     reaches: dict[str, str | None] | None = None
                     ) -> tuple[dict[str, dict[str, int]], dict[str, str | None]]:
    """Each model's rows per day now, and its latest time, one statement per source and step.

    First only the rows after the model's latest time when it was last counted (``reaches``) are
    counted, on the bare time column: on a table that grows at the end, every block of older rows
    ends at or before that time, so the warehouse skips them by their min/max statistics, whatever
    the order of rows inside them, and new rows on the watermark's own day (its last day with rows)
    are found as well. Without a latest time, the days after the watermark's day are counted. Where
    the rows before no longer add up to the stored counts (late rows, deletes), the watermark's day
    is counted too, and failing that every day (:data:`_SINCE_STEPS`)."""
    project = engine.project
    reaches = reaches or {}
    steps: dict[str, list] = {}
    for model in models:
        if not before.get(model):
            steps[model] = [None]
        elif _usable(reaches.get(model)):
            steps[model] = [After(reaches[model])] + list(_SINCE_STEPS[1:])
        else:
            steps[model] = list(_SINCE_STEPS)
    now: dict[str, dict[str, int]] = {}
    latest: dict[str, str | None] = {}
    todo = {model: 0 for model in steps}
    while todo:
        by_source: dict[str, dict[str, date | After | None]] = {}
        for model, step in sorted(todo.items()):
            how = steps[model][step]
            since = how if how is None or isinstance(how, After) else \
                date.fromisoformat(max(before[model])) + timedelta(days=how)
            by_source.setdefault(project.models[model].source, {})[model] = since
        again: dict[str, int] = {}
        for source_name, wanted in by_source.items():
            for model, (recent, earlier, reach) in day_rows(engine, source_name, wanted).items():
                since = wanted[model]
                old = before.get(model, {})
                if since is None:
                    now[model], latest[model] = recent, reach
                elif isinstance(since, After):
                    if earlier == sum(old.values()):  # nothing changed up to the latest time: add the new rows
                        now[model], latest[model] = _added(old, recent), reach
                    else:
                        again[model] = todo[model] + 1
                else:
                    cut = since.isoformat()
                    if earlier == sum(n for day, n in old.items() if day < cut):
                        now[model] = {**{d: n for d, n in old.items() if d < cut}, **recent}
                        latest[model] = reach
                    else:  # rows changed before the since day: count from further back to find where
                        again[model] = todo[model] + 1
        todo = again
    return now, latest


def _usable(reach: str | None) -> bool:
    """A latest time to count after: one the day-counts template can hold as it is (no quote, no marker)."""
    return bool(reach) and not any(c in reach for c in "'\\@")


def _added(old: dict[str, int], recent: dict[str, int]) -> dict[str, int]:
    out = dict(old)
    for day, n in recent.items():
        out[day] = out.get(day, 0) + n
    return out


def earliest_change(before: dict[str, dict[str, int]], now: dict[str, dict[str, int]]) -> tuple[date | None, int]:
    """(first day whose rows differ in any model, how many days differ)."""
    changed: set[str] = set()
    for model in set(before) | set(now):
        old, new = before.get(model, {}), now.get(model, {})
        if old != new:  # the (day, rows) pairs in one and not the other, compared as sets: a year of days in C
            changed.update(day for day, _ in old.items() ^ new.items())
    return (date.fromisoformat(min(changed)) if changed else None), len(changed)


def depends_on_earlier_periods(project, kpis: Iterable[str]) -> bool:
    """True when a KPI, or one its formula reads, has a window or reads an earlier period (``kpi[-1]``)."""
    if not any(_reads_earlier_periods(k) for k in project.kpis.values()):
        return False  # none in the spec: no formula to parse (sqlglot, which a cached run does not import)
    from ..spec.formula import parse_formula, references  # lazy: as above

    seen: set[str] = set()
    stack = list(kpis)
    while stack:
        name = stack.pop()
        kpi = project.kpis.get(name)
        if kpi is None or name in seen:
            continue
        seen.add(name)
        if _reads_earlier_periods(kpi):
            return True
        if kpi.is_formula:
            stack += references(parse_formula(kpi.formula))
    return False


def _reads_earlier_periods(kpi) -> bool:
    """The KPI itself has a window or an offset: kpi[-1], kpi[-1 year], kpi[start_of_month]."""
    return any(getattr(kpi, attr, None) for attr in _HISTORY_DEPENDENT) or bool(kpi.is_formula and "[" in kpi.formula)


def compute_incremental(engine: Engine, store: HistoryStore, kpis: Iterable[str] | None, grain: str,
                        by: Iterable[str], start: date | None, end: date | None, *, lookback: int = 0
                        ) -> tuple[ResultSet, str, dict[str, dict[str, int]], IncrementalReport]:
    """Compute a request from the last run's values and the periods that changed since.

    Returns (result with every value of the request, signature, new day counts, report); the caller
    stores them with :meth:`HistoryStore.record_incremental`.
    """
    if lookback < 0:
        raise KpiEngineError("--lookback must be 0 or more periods")
    # The day counts and the narrowed request share each database; thousands of kept values are built
    # and all stay alive, which the cyclic collector would walk again and again for nothing (spec.gcpause).
    with connection_scope(), paused_gc():
        return _compute_incremental(engine, store, kpis, grain, by, start, end, lookback)


def _compute_incremental(engine, store, kpis, grain, by, start, end, lookback):
    t0 = time.perf_counter()
    by = list(by)
    names = _resolved(engine, kpis, by)
    project = engine.project
    models = set().union(*(leaf_models(project, n) for n in names))
    # The warehouse opens in a thread of its own first (DuckDB builds its catalog, 10-14 ms): history
    # is opened, and its state and every kept value are read, in that time. The values from the restart
    # on are dropped once it is known, which costs less than reading them after the day counts.
    engine.open_ahead(project.models[m].source for m in models)
    sig = signature(project, names, grain, by, start, end)
    state = store.incremental_state(sig)
    windowed = depends_on_earlier_periods(project, names)
    kept_all = None if state is None or windowed else store.incremental_values(sig, state[0])
    ahead = None if kept_all is None else _marked_ahead(project, kept_all, state[2], models, engine.now, start, end)
    now, reaches = current_day_rows(engine, models, state[1] if state else {}, state[2] if state else {})
    engine.know_watermarks(from_latest_times(project, reaches, engine.now))  # the same MAX: not asked again

    def full(reason: str) -> tuple[ResultSet, str, dict, IncrementalReport]:
        rs = engine.compute(names, grain, by, start, end)
        rs.timings["total_s"] = time.perf_counter() - t0
        rs.incremental_reaches = reaches
        return rs, sig, now, IncrementalReport(None, reason)

    if state is None:
        return full("no earlier run of this request")
    if windowed:
        return full("a KPI depends on earlier periods (window or offset)")
    last_run, before = state[0], state[1]
    first_day, n_changed = earliest_change(before, now)
    if first_day is None:
        restart = None
        fresh: list[KpiValue] = []
    else:
        restart = shift_period(python_period_start(first_day, grain), grain, -lookback)
        if start is not None and restart <= start:
            return full(f"rows changed on {first_day}, before the range starts")
        # The narrowed range as the per-model queries, formulas in Python: for a few periods, DuckDB's
        # fixed costs of the one statement's stacking GROUP BY and of binding and optimising its formula
        # expressions (about 1.6 ms) outweigh two more round trips (1.5-1.7 ms of a 42-47 ms run at 10M rows).
        # The values are the same either way (tests/core/test_incremental.py compares with a full run).
        fresh = engine.compute(names, grain, by, restart, end, one_query=False).rows
    marks = engine.watermarks(models)  # from the day counts' latest times, or asked now
    kept = None if kept_all is None else _before(kept_all, restart)
    if kept is not None:  # in the order of the last run's result: each KPI's kept periods, then its fresh ones
        rows = _concatenated(names, kept, fresh)
    else:  # history written by an older kpiengine: the last run's stored values
        kept = [_as_computed(project, r) for r in store.run_values(last_run, before=restart)]
        rows = _in_request_order(names, kept + fresh)
    if ahead is not None and _still_complete(ahead[0], marks, models):
        # only the kept values still open with the last run's reach can have changed
        still_open = ahead[1] if restart is None else [r for r in ahead[1] if r.period_start < restart]
        mark_complete(project, still_open + fresh, marks, start=start, end=end)
    else:
        mark_complete(project, rows, marks, start=start, end=end)  # kept values too: their periods may still be open
    rs = ResultSet(grain=grain, by=by, start=start, end=end, kpis=names, rows=rows, spec_version=project.version,
                   timings={"total_s": time.perf_counter() - t0}, watermarks=marks)
    rs.incremental_base = (last_run, restart)  # history stores only what was recomputed (record_incremental)
    rs.incremental_days_from = first_day  # and only the day counts from the first day that changed
    rs.incremental_fresh = fresh  # the rows of those periods, without picking them out of every row again
    rs.incremental_reaches = reaches  # each model's latest time with the counts: the next run counts after it
    reason = "nothing changed" if restart is None else f"{n_changed} day(s) changed, the first on {first_day}"
    return rs, sig, now, IncrementalReport(restart, reason, n_changed)


def _resolved(engine: Engine, kpis, by: list[str]) -> list[str]:
    """:meth:`Engine.resolve_kpis`, kept with the spec cache: finding every KPI a breakdown supports
    imports the spec's checks and sqlglot, which a run from a cached spec and plan otherwise never does."""
    kpis = None if kpis is None else list(kpis)  # an iterator is read once, for the key and the engine
    cache = getattr(engine.project, "cache", None)
    key = repr((tuple(kpis) if kpis else None, tuple(by)))
    names = cache.get(_RESOLVED, key) if cache is not None else None
    if names is None:
        names = engine.resolve_kpis(kpis, by)  # raises for an unknown KPI: never kept
        if cache is not None:
            cache.put(_RESOLVED, key, names)
    return list(names)


def _as_computed(project, r: KpiValue) -> KpiValue:
    """A stored value as the engine returns it: counts and sums of whole numbers are ints again."""
    kpi = project.kpis.get(r.kpi)
    value = r.value
    if isinstance(value, float) and value.is_integer() and kpi is not None and not kpi.is_formula \
            and kpi.aggregate in ("count", "count_distinct", "sum"):
        value = int(value)
    return KpiValue(kpi=r.kpi, grain=r.grain, period_start=r.period_start, dimensions=r.dimensions, value=value)


def _marked_ahead(project, kept: dict[str, list[KpiValue]], latest: dict[str, str | None], models: set[str],
                  now: float | None, start: date | None, end: date | None
                  ) -> tuple[dict[str, Watermark], list[KpiValue]] | None:
    """Mark the kept values with watermarks from the last run's latest times, while the warehouse opens:
    (those watermarks, the values they leave open), or None when a model's watermark is not known so
    (a ``freshness:`` model, one without rows then). See :func:`_still_complete`."""
    marks = from_latest_times(project, latest, now)
    if any(m not in marks or marks[m].reach is None for m in models):
        return None
    mark_complete(project, chain.from_iterable(kept.values()), marks, start=start, end=end)
    return marks, [r for values in kept.values() for r in values if not r.complete]


def _still_complete(ahead: dict[str, Watermark], marks: dict[str, Watermark], models: set[str]) -> bool:
    """Whether what was marked complete ahead is complete with the run's own watermarks: every model's data
    reaches as far as it did or further, judged at the same moment or later. A period over for every
    model stays over, and a cohort mature at the earlier reach stays mature; a model whose reach went
    back (rows deleted) or is unknown now has everything marked again."""
    for m in models:
        before, now = ahead.get(m), marks.get(m)
        if before is None or now is None or now.error or now.reach is None or now.now < before.now \
                or now.covers < before.covers:
            return False
    return True


def _before(kept: dict[str, list[KpiValue]], restart: date | None) -> dict[str, list[KpiValue]]:
    """The kept values of periods before ``restart`` (all: None); each KPI's are in period order."""
    if restart is None:
        return kept
    return {name: rows[:bisect_left(rows, restart, key=_PERIOD)] for name, rows in kept.items()}


def _concatenated(names: list[str], kept: dict[str, list[KpiValue]], fresh: list[KpiValue]) -> list[KpiValue]:
    """Each KPI's kept values (periods before the restart, in the last result's order), then its fresh ones
    (in the engine's): the engine's own order of the whole request, without sorting it again."""
    by_kpi: dict[str, list[KpiValue]] = {n: kept.get(n, []) for n in names}
    for name, rows in kept.items():
        by_kpi.setdefault(name, rows)
    for r in fresh:
        by_kpi.setdefault(r.kpi, []).append(r)
    out: list[KpiValue] = []
    for rows in by_kpi.values():
        out += rows
    return out


def _in_request_order(names: list[str], rows: list[KpiValue]) -> list[KpiValue]:
    """KPIs in request order, then periods, then dimension values (NULL last): the engine's order."""
    rank = {n: i for i, n in enumerate(names)}

    def key(r: KpiValue):
        return (rank.get(r.kpi, len(rank)), r.period_start,
                tuple((v is None, str(v)) for v in r.dimensions.values()))

    return sorted(rows, key=key)
