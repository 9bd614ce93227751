"""Funnel step counts for the dashboard, computed on the warehouse by kpiengine.funnels.

Funnels are not stored in history, so they are always computed live; the
report computes them once when it is written. A funnel that cannot be
computed (source down, module missing) leaves an explained, empty panel.

The panel counts the way the funnel's own KPIs count (the spec's ``view:``,
cohort by default) unless the viewer picks the other view, and it can be
recomputed with another conversion window (``funnel_window=30d``). With a
segment filter the funnel is run by the segment's dimensions and cut to the
segment. Besides the engine's counts and medians, this module measures the
time-to-convert distribution of the shown period (:mod:`.funnel_times`).
"""
from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from ..analysis.funnels import assemble, parse_funnels
from ..errors import KpiEngineError
from ..spec.entities import where_dimensions
from ..spec.model import Project
from ..sql.funnel_sql import compile_funnel
from .data import chosen_periods
from .funnel_store import data_stamp, funnel_key, read_body, read_pair
from .funnel_times import time_to_convert
from .history_feed import same_value
from .inputs import DashboardInputs, FunnelData
from .maturity import maturing_funnel_cohort
from .options import NULL_TEXT, DashboardOptions

ATTRIBUTION = {
    "event": "event view: each stage counted in the period it happened",
    "cohort": "cohort view: each stage counted in the period the entity entered",
}


def _entry_dimensions(project: Project, funnel) -> list[str]:
    model = project.models.get(funnel.steps[0].model)
    return list(model.dimensions) if model else []


def run_funnel_spec(engine, funnel, grain: str, by: list[str], start: date | None, end: date | None, view: str,
                    where: str | None = None):
    """kpiengine.funnels.run_funnel for a funnel spec that may differ from the spec file (another window)."""
    query = compile_funnel(engine.project, funnel, grain, by, start, end, view, engine.dialect_of(funnel.source),
                           where=where)
    result = engine.run_sql(funnel.source, query.sql())
    return assemble(funnel, view, grain, by, query.long_rows(result.rows), query.sql())


def run_funnel_pair(engine, funnel, grain: str, segment: list[str], by: str, start: date | None,
                    end: date | None, view: str, where: str | None = None):
    """(the funnel by ``segment``, the funnel by ``segment`` and ``by``), from one query where the engine can.

    Both need the same per-entity relation; GROUPING SETS aggregates it once for both instead
    of building it twice. Engines without a median aggregate run the two queries.
    """
    query = compile_funnel(engine.project, funnel, grain, segment + [by], start, end, view,
                           engine.dialect_of(funnel.source), where=where, rollup=True)
    if not query.rollup:
        return (run_funnel_spec(engine, funnel, grain, segment, start, end, view, where),
                run_funnel_spec(engine, funnel, grain, segment + [by], start, end, view, where))
    result = engine.run_sql(funnel.source, query.sql())
    totals, split = query.split_rows(result.rows)
    return (assemble(funnel, view, grain, segment, totals, query.sql()),
            assemble(funnel, view, grain, segment + [by], split, query.sql()))


def _value_text(value) -> str:
    return NULL_TEXT if value is None else (str(value) or "(blank)")


def load_funnels(project: Project, options: DashboardOptions, inputs: DashboardInputs,
                 loader, shared=None) -> tuple[list[FunnelData], str | None]:
    """The funnels of the page; ``shared`` (kpi serve) lends queries another address ran a moment ago.

    The funnel's total and its time-to-convert do not depend on the breakdown, so switching
    from region to rep runs one query (the split by rep) instead of three.
    """
    if not project.section("funnels"):
        return [], "the spec defines no funnel (see docs/funnels.md)"
    if not loader.allow_engine:
        return [], "funnels are computed on the warehouse, which this view may not query"
    specs, issues = parse_funnels(project)
    if issues:
        return [], f"the funnels are invalid, run `kpi validate`: {issues[0].message}"
    names = [options.funnel] if options.funnel else list(specs)
    segment = options.segment
    current = inputs.totals.periods[-1] if inputs.totals.periods else None
    out, problems = [], []
    for name in names:
        spec = specs[name]
        if options.funnel_window:
            spec = copy.copy(spec)  # a shallow copy keeps what parsing attached (the funnel's source)
            spec.window_seconds = options.funnel_window
        entry = _entry_dimensions(project, spec)
        if any(d not in entry for d in segment):
            problems.append(f"funnel '{name}' cannot be filtered by {', '.join(d for d in segment if d not in entry)}")
            continue
        lacking = [d for d in where_dimensions(options.where, "duckdb") if d not in entry] if options.where else []
        if lacking:  # the entry event carries the entity's values: the filter reads those only
            problems.append(f"funnel '{name}' cannot be filtered where {options.where}: its entry model has no "
                            f"dimension {', '.join(lacking)}")
            continue
        view = options.funnel_view or spec.view
        data = FunnelData(name=name, label=spec.label or name,
                          steps=[{"id": s.name, "label": s.label or s.name, "tier": s.product} for s in spec.steps],
                          view=view, attribution=ATTRIBUTION[view], window_seconds=spec.window_seconds,
                          spec_window_seconds=specs[name].window_seconds, ordered=spec.ordered)
        by = options.by if options.by and options.by in entry and options.by not in segment else None
        try:
            engine = loader.engine()
            # The total with the breakdown (one query, GROUPING SETS) and the time-to-convert run on the
            # warehouse side by side: DuckDB and the drivers release the GIL while they run.
            asked = (project.version, name, spec.window_seconds, options.grain, tuple(segment.items()),
                     options.start, options.end, view, options.where)

            def lent(key, func, *args):
                return (lambda: func(*args)) if shared is None else (lambda: shared.get(key, lambda: func(*args)))

            # `kpi check` stores the default page's funnels (funnel_store): read them when nothing differs
            storable = not segment and not options.where and not options.funnel_window and not options.start \
                and not options.end

            def pair_of(spec=spec, by=by, view=view):
                """(total, split, read from the store)."""
                if storable:
                    stamp = data_stamp(engine, spec)
                    key = stamp and funnel_key(project, spec, options.grain, [], by, None, None, view, None, stamp)
                    hit = read_pair(project, key, spec, view, options.grain, [], by) if key else None
                    if hit is not None:
                        return hit + (True,)
                if by:  # the total and the split from one pass over the entities
                    return run_funnel_pair(engine, spec, options.grain, list(segment), by, options.start,
                                           options.end, view, options.where) + (False,)
                return run_funnel_spec(engine, spec, options.grain, list(segment), options.start, options.end, view,
                                       options.where), None, False

            with ThreadPoolExecutor(max_workers=2) as pool:
                pair = pool.submit(lent(("funnel pair", asked, by), pair_of))
                shown = _shown_period(inputs)

                def times_of(spec=spec, view=view, shown=shown):
                    if storable:
                        stamp = data_stamp(engine, spec)
                        key = stamp and funnel_key(project, spec, options.grain, [], None, None, None, view, None,
                                                   stamp, part=f"times {shown.isoformat()}")
                        hit = read_body(project, key) if key else None
                        if hit is not None:
                            return hit
                    return time_to_convert(engine, spec, options.grain, shown, view, segment, options.where)

                times = pool.submit(lent(("funnel times", asked, shown), times_of)) if shown else None
                total, split, data.precomputed = pair.result()
                for row in _in(total.rows, segment):
                    period = row.period_start.isoformat()
                    data.counts.setdefault(period, {})[""] = [s.entities for s in row.steps]
                    data.median_seconds[period] = [s.median_seconds for s in row.steps]
                for row in _in(split.rows if split else [], segment):
                    data.counts.setdefault(row.period_start.isoformat(), {})[_value_text(row.dimensions.get(by))] = \
                        [s.entities for s in row.steps]
                if times is not None:
                    data.distribution, data.distribution_period = times.result(), shown.isoformat()
            data.by = by
            if view == "cohort" and current is not None:
                data.maturing = {p for p in data.counts
                                 if maturing_funnel_cohort(spec.window_seconds, date.fromisoformat(p),
                                                           options.grain, current)}
        except KpiEngineError as exc:
            problems.append(f"funnel '{name}': {str(exc).splitlines()[0]}")
            continue
        out.append(data)
    return out, "; ".join(problems) or None


def _in(rows, segment: dict):
    return [r for r in rows if all(same_value(r.dimensions.get(d), v) for d, v in segment.items())]


def _shown_period(inputs: DashboardInputs) -> date | None:
    """The period the page shows: the time-to-convert distribution is measured there."""
    return chosen_periods(inputs)[0]
