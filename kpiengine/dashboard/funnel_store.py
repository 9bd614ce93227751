"""Funnel figures computed at ``kpi check`` time and stored with history, so a first page view reads them.

The funnel panel is the dashboard's largest warehouse cost (the per-entity relation of
every step, by period and breakdown). ``kpi check`` runs on a schedule before anyone opens
the page; it stores the funnel of the page's default grain for each breakdown a run
recorded (and the total), in the history file's ``dashboard_funnels`` table. A request
uses a stored funnel only when its key matches exactly: the spec version, the funnel's
own parameters (window, view, grain, breakdown, range, no filter) and the data watermark
of every model the funnel reads, asked live from the warehouse (one ``max(time)`` query
per source), so new data means a new computation. Anything else is computed as before.
The dashboard itself only reads the table (read-only connection, never created there).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date

from ..analysis.funnels import FunnelResult, FunnelRow, StepFigures
from ..spec.model import Project
from .history_feed import history_file

TABLE = """CREATE TABLE IF NOT EXISTS dashboard_funnels (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    stored_at TEXT NOT NULL
)"""


def data_stamp(engine, funnel) -> list | None:
    """How far each model the funnel reads reaches, asked live; None when a watermark cannot be read."""
    models = sorted({s.model for s in funnel.steps})
    marks = engine.watermarks(models)  # cached per engine: asked once per request
    out = []
    for m in models:
        mark = marks.get(m)
        if mark is None or mark.error or mark.reach is None:
            return None
        out.append([m, mark.reach.isoformat()])
    return out


def funnel_key(project: Project, funnel, grain: str, segment: list[str], by: str | None, start, end, view: str,
               where: str | None, stamp: list, part: str = "counts") -> str:
    """The key of one stored result: ``part`` is "counts" or "times <period>" (the time-to-convert of a period)."""
    text = json.dumps([project.version, funnel.name, funnel.window_seconds, grain, segment, by,
                       start.isoformat() if start else None, end.isoformat() if end else None, view, where, stamp,
                       part], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def result_json(result: FunnelResult) -> list:
    return [[r.period_start.isoformat(), r.dimensions,
             [[s.entities, s.median_seconds] for s in r.steps]] for r in result.rows]


def _result(funnel, view: str, grain: str, by: list[str], rows: list) -> FunnelResult:
    """The stored rows as a FunnelResult, the step figures worked out as ``assemble`` does."""
    out = []
    for period, dims, steps in rows:
        top = steps[0][0] if steps else 0
        figures, prev = [], None
        for k, (st, (n, med)) in enumerate(zip(funnel.steps, steps), start=1):
            figures.append(StepFigures(st.name, st.label, st.product, n,
                                       None if k == 1 or not prev else n / prev,
                                       None if not top else n / top,
                                       None if k == 1 or prev is None else prev - n, med))
            prev = n
        out.append(FunnelRow(date.fromisoformat(period), dims, figures))
    return FunnelResult(funnel, view, grain, list(by), out, "")


def read_body(project: Project, key: str):
    """The JSON stored under ``key``, or None; read-only, never creates anything."""
    path = history_file(project)
    if not path:
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT body FROM dashboard_funnels WHERE key = ?", (key,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:  # no table yet (no kpi check since), a locked file: compute instead
        return None
    return None if row is None else json.loads(row[0])


def read_pair(project: Project, key: str, funnel, view: str, grain: str, segment: list[str], by: str | None):
    """(total, split or None) stored under ``key``, or None."""
    body = read_body(project, key)
    if body is None:
        return None
    total = _result(funnel, view, grain, segment, body["total"])
    split = _result(funnel, view, grain, segment + [by], body["split"]) if by else None
    return total, split
