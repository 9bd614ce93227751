"""Gather everything the dashboard shows for one request, degrading panel by panel.

Each source of data (history or warehouse values, alert state, funnels, the
root-cause analysis) is optional: when one is missing or fails, its panel is
empty and ``inputs.notes[panel]`` says why and what to do, while the other
panels still render.
"""
from __future__ import annotations

import os

from ..spec.model import Project
from .alert_feed import load_alerts
from .data import chosen_periods
from .funnel_feed import load_funnels
from .history_feed import ValueLoader, latest_run
from .inputs import DashboardInputs
from .options import DashboardOptions
from .why_feed import explain


def active_kpis(project: Project) -> list[str]:
    return [k for k, s in project.kpis.items() if s.status != "retired"]


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


def collect(project: Project, options: DashboardOptions, *, allow_engine: bool = True,
            registry=None) -> DashboardInputs:
    loader = ValueLoader(project, allow_engine=allow_engine, registry=registry)
    kpis = active_kpis(project)
    notes: dict[str, str] = {}
    totals = loader.load(kpis, options.grain, [], options.start, options.end)
    if totals.error:
        notes["values"] = totals.error
    elif not totals.table:
        notes["values"] = ("no KPI values yet: run `kpi run` (or `kpi demo`), or check the date range"
                           if allow_engine else "no stored run at this grain: run `kpi run`")
    origins = [totals.origin]
    inputs = DashboardInputs(project=project, options=options, totals=totals.table, notes=notes)

    if options.by:
        breakdown = loader.load(kpis, options.grain, [options.by], options.start, options.end)
        inputs.breakdown = breakdown.table
        origins.append(breakdown.origin)
        if breakdown.error:
            notes["breakdown"] = breakdown.error

    bubble = [k for k in (options.bubble_x, options.bubble_y, options.bubble_size) if k]
    if bubble and options.bubble_by:
        current, _ = chosen_periods(inputs)
        team = loader.load(bubble, options.grain, [options.bubble_by], current, None)
        inputs.team = team.table
        origins.append(team.origin)
        if team.error:
            notes["team"] = team.error
        elif team.missing == bubble:
            notes["team"] = f"{', '.join(bubble)} cannot be broken down by {options.bubble_by}"

    alerts, note = load_alerts(project, options.grain)
    inputs.alerts = alerts
    if note:
        notes["alerts"] = note

    inputs.funnels, note = load_funnels(project, options, inputs, loader)
    if note:
        notes["funnel"] = note

    inputs.why, note = explain(project, options, inputs, loader)
    if note:
        notes["why"] = note

    run = latest_run(project)
    inputs.source = {"origins": origins, "run": run, "text": source_text(origins, run),
                     "stamp": status_stamp(project)}
    return inputs

