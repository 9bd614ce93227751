"""``kpi check`` computes the dashboard's default funnels and stores them with history (see funnel_store).

Written by the check, never by the dashboard; the table holds the figures of the latest
data only, keyed as ``funnel_store.funnel_key`` says.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from ..analysis.funnels import parse_funnels
from ..errors import KpiEngineError
from ..run.history import HistoryStore
from ..spec.model import Project
from .funnel_feed import run_funnel_pair, run_funnel_spec
from .data import chosen_periods, main_view_kpis
from .funnel_store import TABLE, data_stamp, funnel_key, result_json
from .funnel_times import time_to_convert
from .history_feed import ValueLoader
from .inputs import DashboardInputs
from .options import default_breakdown, parse_options


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_period(project: Project, grain: str):
    """The period the page opens on (the last complete one), from the values as the page loads them."""
    loader = ValueLoader(project)
    options = parse_options(project, {"grain": grain})
    totals = loader.load(main_view_kpis(project), grain, [], None, None)
    return chosen_periods(DashboardInputs(project=project, options=options, totals=totals.table))[0]


def store_funnels(project: Project, engine, grain: str = "week") -> int:
    """Compute and store the page's default funnels (every breakdown a run recorded at ``grain``); returns how many."""
    if not project.section("funnels"):
        return 0
    specs, issues = parse_funnels(project)
    if issues:
        return 0
    store = HistoryStore.for_project(project)
    recorded = {r["by_dims"] for r in store.runs(limit=200) if r["grain"] == grain and r["status"] == "ok"}
    dims = [json.loads(b)[0] for b in recorded if len(json.loads(b)) == 1]
    wanted = list(dict.fromkeys([None, default_breakdown(project), *sorted(dims)]))
    shown = default_period(project, grain)
    rows = []
    for name, spec in specs.items():
        entry = project.models.get(spec.steps[0].model)
        stamp = data_stamp(engine, spec)
        if entry is None or stamp is None:
            continue
        for by in wanted:
            if by is not None and by not in entry.dimensions:
                continue
            try:
                if by is None:
                    total, split = run_funnel_spec(engine, spec, grain, [], None, None, spec.view), None
                else:
                    total, split = run_funnel_pair(engine, spec, grain, [], by, None, None, spec.view)
            except KpiEngineError:
                continue
            key = funnel_key(project, spec, grain, [], by, None, None, spec.view, None, stamp)
            body = {"total": result_json(total), "split": result_json(split) if split else None}
            rows.append((key, json.dumps(body, default=str), _now()))
        if shown is not None:  # the time-to-convert of the period the page opens on
            try:
                times = time_to_convert(engine, spec, grain, shown, spec.view, {})
            except KpiEngineError:
                continue
            key = funnel_key(project, spec, grain, [], None, None, None, spec.view, None, stamp,
                             part=f"times {shown.isoformat()}")
            rows.append((key, json.dumps(times), _now()))
    if not rows:
        return 0
    con = store.connect()
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute(TABLE)
        con.execute("DELETE FROM dashboard_funnels")  # only the latest data's figures are ever asked for
        con.executemany("INSERT OR REPLACE INTO dashboard_funnels (key, body, stored_at) VALUES (?,?,?)", rows)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return len(rows)
