"""Gather everything the dashboard shows for one request, degrading panel by panel.

Each source of data (history or warehouse values, alert state, funnels, the
root-cause analysis) is optional: when one is missing or fails, its panel is
empty and ``inputs.notes[panel]`` says why and what to do, while the other
panels still render.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..errors import KpiEngineError
from ..sources import connection_scope
from ..spec.gcpause import paused_gc
from ..spec.model import Project
from ..run.watermarks import last_complete_period
from ..spec.periodmath import python_period_start
from ..sql.periods import shift_period
from .alert_feed import as_of, load_alerts
from .data import chosen_periods, main_view_kpis
from .funnel_feed import load_funnels
from .health_feed import model_health
from .history_feed import ValueLoader, latest_run, same_value, supporting, where_capable
from .inputs import DashboardInputs
from .options import DashboardOptions
from .why_feed import explain


def source_text(origins: list[str], run: dict | None) -> str:
    used = set(origins) - {"none"}
    if not used:
        return "no data"
    parts = []
    if used & {"history", "mixed"} and run:
        parts.append(f"history run #{run['id']} ({(run['finished_at'] or '')[:16].replace('T', ' ')} UTC)")
    if used & {"warehouse", "mixed"}:
        parts.append("computed live from the warehouse")
    return " + ".join(parts)


def status_stamp(project: Project) -> str:
    """Changes when a new run is stored or the spec changes: the live page reloads on a new stamp."""
    run = latest_run(project)
    mtimes = []
    for f in project.files:
        try:
            mtimes.append(os.path.getmtime(f))
        except OSError:
            continue
    return f"{run['id'] if run else 0}:{project.version}:{max(mtimes, default=0):.0f}"


# Breakdown values (and their trend lines) are loaded for the latest periods only: by rep and
# day the whole history is 60 x 180 values per KPI, and nobody reads a 60-line chart of it.
BREAKDOWN_PERIODS = 26


def breakdown_start(options: DashboardOptions, current, previous):
    """First period of the breakdown values: enough for the sparklines, the trends and the comparison."""
    if current is None:
        return options.start
    first = shift_period(current, options.grain, -(max(options.spark_periods, BREAKDOWN_PERIODS) - 1))
    if previous is not None:
        first = min(first, previous)
    return max(first, options.start) if options.start else first


def guessed_start(options: DashboardOptions, loader):
    """The breakdown's first period before the totals are in, or False when it cannot be guessed.

    The shown period is the one asked for, else the last one every model's data covers (the rule
    the totals' completeness follows, see run.watermarks); guessed from the watermarks, the
    breakdown loads next to the totals (two warehouse statements at once) instead of after them.
    An earlier guess only loads a few more periods; a later one is caught and loaded again.
    """
    try:
        if options.period:
            anchor = python_period_start(options.period, options.grain)
        else:
            marks = [w for w in loader.watermarks().values() if not w.error]
            if not marks:
                return False
            anchor = last_complete_period(options.grain, [w.covers for w in marks], marks[0].now)
        return breakdown_start(options, anchor, options.compare)
    except (KpiEngineError, ValueError, KeyError):  # a custom calendar's grain: no guess, load after the totals
        return False


def early_enough(guess, need) -> bool:
    """Whether a breakdown loaded from ``guess`` holds every period from ``need`` (None: from the first)."""
    return guess is None or (need is not None and guess <= need)


def segment_note(project: Project, kpis: list[str], loaded, segment: dict) -> str | None:
    if not segment:
        return None
    can = set(supporting(project, kpis, list(segment)))
    left_out = [project.kpis[k].label for k in kpis if k not in can or k in (loaded.missing or [])]
    if not left_out:
        return None
    where = ", ".join(f"{d} = {v}" for d, v in segment.items())
    return f"{len(left_out)} KPI(s) cannot be filtered to {where} and are left out: {', '.join(left_out[:6])}" + \
        ("…" if len(left_out) > 6 else "")


def where_note(project: Project, kpis: list[str], where: str | None) -> str | None:
    if not where:
        return None
    can = set(where_capable(project, kpis, where))
    left_out = [project.kpis[k].label for k in kpis if k not in can]
    if not left_out:
        return None
    return (f"{len(left_out)} KPI(s) cannot be computed where {where} and are left out: {', '.join(left_out[:6])}"
            + ("…" if len(left_out) > 6 else ""))


def in_alert_segment(snapshot, segment: dict):
    """Alerts of the filtered segment only, the segment's dimensions taken off (as the values are)."""
    if not segment:
        return snapshot
    kept = []
    for record in snapshot.active:
        dims = record.dimensions
        if all(d in dims and same_value(dims[d], v) for d, v in segment.items()):
            kept.append(replace(record, dimensions={d: v for d, v in dims.items() if d not in segment}))
    return replace(snapshot, active=kept)


def grouped_by(table, kpi: str, name_dim: str, group_dim: str) -> bool:
    """True when each ``name_dim`` value has one ``group_dim`` value (a rep's region), so it can colour the bubble."""
    seen: dict = {}
    for key in table.keys(kpi):
        dims = dict(key)
        if name_dim in dims and seen.setdefault(dims[name_dim], dims.get(group_dim)) != dims.get(group_dim):
            return False
    return True


# Embedded engines whose database a request keeps open while it runs (see held_databases).
EMBEDDED = ("duckdb",)


@contextlib.contextmanager
def held_databases(project: Project, loader):
    """Keep each embedded database the spec reads open for the length of one request.

    Opening a DuckDB file costs 50-90 ms and starts with a cold buffer cache; a request
    runs six to ten queries from three threads, each through its own source. While one
    connection is open, the others attach to the same database instance in about a
    millisecond and read its warm pages. Held in this thread's connection scope, so the
    engine's queries here share it; closed when the request ends, as a server must.
    Network sources are left alone: they gain nothing and a down one must not wait here.
    """
    with connection_scope():
        held = []
        names = {m.source for m in project.models.values()}
        for name in sorted(n for n in names if n in project.sources and project.sources[n].type in EMBEDDED):
            try:
                source = loader.engine().open_source(name)
                source.connect()  # the scope's database; the source holds a cursor of it
                held.append(source)
            except KpiEngineError:
                pass  # the panels that need it say why, as before
        try:
            yield
        finally:
            for source in held:
                source.close()


# What a request gathers (``part`` of /api/dashboard): everything; the page's first screen, with
# "why it changed" and the funnels left for a second request (they sit below the fold and cost the
# most warehouse time when no stored run covers the address: root-cause queries, funnel relations);
# or that rest alone (values lent by the first request through ``shared``).
PARTS = ("all", "first", "rest")


def collect(project: Project, options: DashboardOptions, *, allow_engine: bool = True,
            registry=None, shared=None, part: str = "all") -> DashboardInputs:
    """The inputs of one page. ``shared`` (a SharedResults of ``kpi serve``) lends what another address computed.

    ``part`` is one of PARTS: with "first" neither "why" nor the funnels are computed (``inputs.pending``
    names them); with "rest" only they are, and what they read (values, alerts), not the team's bubbles.
    """
    if part not in PARTS:
        raise ValueError(f"part {part!r} is not one of {PARTS}")
    loader = ValueLoader(project, allow_engine=allow_engine, registry=registry, where=options.where, shared=shared)
    # A request builds some 100,000 small objects that live until it ends (by rep: 56,000 values);
    # the cyclic collector walked them again and again, a quarter of the request's CPU.
    with paused_gc():
        if not allow_engine:
            return _collect(project, options, loader, part)
        with held_databases(project, loader):
            return _collect(project, options, loader, part)


def _collect(project: Project, options: DashboardOptions, loader, part: str = "all") -> DashboardInputs:
    pool = ThreadPoolExecutor(max_workers=2)  # the early breakdown, the funnels
    try:
        return _gather(project, options, loader, part, pool)
    finally:  # also when a load fails: no thread outlives the request, none waits for work nobody reads
        pool.shutdown(cancel_futures=True)


def _gather(project: Project, options: DashboardOptions, loader, part: str, pool: ThreadPoolExecutor
            ) -> DashboardInputs:
    allow_engine = loader.allow_engine
    kpis = main_view_kpis(project)
    notes: dict[str, str] = {}
    segment = options.segment
    if allow_engine:
        loader.engine()  # one engine for every thread, created before they start
    by = options.by if options.by and options.by not in segment else None
    # Unfiltered, the breakdown loads next to the totals from a guessed first period; under a segment
    # it waits for them: the totals' cut tells the segment's typed values (ValueLoader.load).
    guess = guessed_start(options, loader) if by and not segment else False
    early = pool.submit(loader.load, kpis, options.grain, [by], guess, options.end) if guess is not False else None
    totals = loader.load(kpis, options.grain, [], options.start, options.end, segment)
    left_out = [segment_note(project, kpis, totals, segment), where_note(project, kpis, options.where)]
    if any(left_out):
        notes["filter"] = "; ".join(n for n in left_out if n)
    if totals.error:
        notes["values"] = totals.error
    elif not totals.table:
        notes["values"] = ("no KPI values yet: run `kpi run` (or `kpi demo`), or check the date range"
                           if allow_engine else "no stored run at this grain: run `kpi run`")
    origins = [totals.origin]
    inputs = DashboardInputs(project=project, options=options, totals=totals.table, notes=notes)

    current, previous = chosen_periods(inputs)
    later = part in ("all", "rest")  # why and the funnels
    if not later:
        inputs.pending = ["why", "funnels"]
    # Funnels are computed on the warehouse while the values load from history next to them.
    funnels = pool.submit(load_funnels, project, options, inputs, loader, loader.shared) if later else None
    if by:
        need = breakdown_start(options, current, previous)
        breakdown = early.result() if early is not None else None
        if breakdown is None or not early_enough(guess, need):
            breakdown = loader.load(kpis, options.grain, [by], need, options.end, segment)
        inputs.breakdown = breakdown.table
        origins.append(breakdown.origin)
        if breakdown.error:
            notes["breakdown"] = breakdown.error

    bubble = [k for k in (options.bubble_x, options.bubble_y, options.bubble_size) if k]
    if bubble and options.bubble_by and part != "rest":
        team_by = [options.bubble_by] + ([options.by] if options.by and options.by != options.bubble_by
                                         and options.by not in segment else [])
        team = loader.load(bubble, options.grain, team_by, current, None, segment)
        if len(team_by) > 1 and not grouped_by(team.table, bubble[0], *team_by):
            # a rep works in several channels: coloured by channel, each rep would be six bubbles
            notes["team_colour"] = (f"bubbles are not coloured by {team_by[1]}: a {team_by[0]} has several "
                                    f"{team_by[1]} values")
            team = loader.load(bubble, options.grain, team_by[:1], current, None, segment)
        inputs.team = team.table
        origins.append(team.origin)
        if team.error:
            notes["team"] = team.error
        elif team.missing == bubble:
            notes["team"] = f"{', '.join(bubble)} cannot be broken down by {options.bubble_by}"

    alerts, note = load_alerts(project, options.grain)
    inputs.health = model_health(alerts, loader.watermarks())
    inputs.alerts = in_alert_segment(as_of(alerts, current.isoformat() if current else None, grain=options.grain), segment)
    if options.where and inputs.alerts is not None:
        # rules judge the unfiltered numbers: their states would sit next to filtered values as if they were theirs
        inputs.alerts = replace(inputs.alerts, active=[], fired=[], available=False)
        note = (f"alert states are judged on unfiltered values: not shown where {options.where}"
                + (f"; {note}" if note else ""))
    if note:
        notes["alerts"] = note

    # why needs the values and the alerts, not the funnels: it runs while the funnel queries do
    if later:
        inputs.why, note = explain(project, options, inputs, loader)
        if note:
            notes["why"] = note

    if funnels is not None:
        inputs.funnels, note = funnels.result()
        if note:
            notes["funnel"] = note

    run = latest_run(project)
    marks = loader.watermarks()
    inputs.source = {"origins": origins, "run": run, "text": source_text(origins, run),
                     "stamp": status_stamp(project),
                     "watermarks": {str(m): w.to_dict() for m, w in marks.items()},
                     "stale": [w.note() for w in marks.values() if w.stale]}
    return inputs

