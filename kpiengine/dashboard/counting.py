"""Which way each number counts, so one page never shows two "Won" for a week without saying why.

A funnel's KPIs (``sales_funnel_won``) count by cohort: the leads that entered
in a week and were won within the window. A plain KPI on the same model and
filter as a funnel step (``deals_won``: deals of ``closed_deals`` with
``stage = 'won'``) counts by event: every deal won in the week, whenever its
lead came in. Both are right and they differ (134 against 440 in the demo's
last week). This module finds those "event twins" of each funnel step, so the
tiles say "counted by event" or "counted by cohort" and the funnel panel
names the tile next to its own count, in words.
"""
from __future__ import annotations

import re

from ..analysis.funnels import parse_funnels
from ..spec.model import Project
from .formatting import format_value

COUNTING_TEXT = {
    "cohort": "counted by cohort: in the period the entity entered the funnel",
    "event": "counted by event: in the period it happened",
}
_COUNTS = ("count", "count_distinct")


def _same_filter(a: str | None, b: str | None) -> bool:
    """Two filters that read the same once spaces and letter case are set aside."""
    def norm(text):
        return re.sub(r"\s+", " ", (text or "").strip()).lower()
    return norm(a) == norm(b)


def event_twins(project: Project, windows: dict) -> dict[str, dict]:
    """KPI -> {funnel, step, step_label}: plain counting KPIs measuring what a funnel step measures, by event."""
    if not project.section("funnels"):
        return {}
    try:
        specs, _ = parse_funnels(project)
    except Exception:  # noqa: BLE001 - an invalid funnel is reported by its panel; here it has no twins
        return {}
    out: dict[str, dict] = {}
    for name, spec in project.kpis.items():
        if spec.is_formula or name in windows or spec.aggregate not in _COUNTS or spec.status == "retired":
            continue
        for funnel in specs.values():
            # the entry step counts the same by cohort and by event (an entity enters once): no twin there
            step = next((s for s in funnel.steps[1:] if s.model == spec.model and _same_filter(s.filter, spec.filter)),
                        None)
            if step is not None:
                out[name] = {"funnel": funnel.name, "step": step.name, "step_label": step.label or step.name}
                break
    return out


def twins_of(inputs) -> dict[str, dict]:
    """:func:`event_twins` of the inputs' project, worked out once per request."""
    if not hasattr(inputs, "_twins"):
        inputs._twins = event_twins(inputs.project, inputs.funnel_windows)
    return inputs._twins


def tile_counting(inputs, kpi: str) -> dict:
    """The tile's counting fields: ``counting`` (cohort, event or None), its funnel and the words for it."""
    funnel = inputs.funnel_windows.get(kpi)
    if funnel:
        return {"counting": "cohort", "funnel": funnel[0], "counting_text": COUNTING_TEXT["cohort"]}
    twin = twins_of(inputs).get(kpi)
    if twin:
        return {"counting": "event", "funnel": twin["funnel"], "counting_text": COUNTING_TEXT["event"]}
    return {"counting": None, "funnel": None, "counting_text": None}


def step_twins(inputs, funnel: str, period) -> dict[str, list[dict]]:
    """Funnel step -> the tiles that count the same stage by event, with their value in ``period``.

    In cohort view they count another way; in event view the panel still counts
    only the entities that entered the funnel within its window, once each, so
    the two numbers can differ too, and the page says why in both cases.
    """
    if period is None:
        return {}
    out: dict[str, list[dict]] = {}
    for kpi, twin in twins_of(inputs).items():
        if twin["funnel"] != funnel or not inputs.totals.has(kpi):
            continue
        spec = inputs.project.kpis[kpi]
        value = inputs.totals.get(kpi, period)
        out.setdefault(twin["step"], []).append({
            "kpi": kpi, "label": spec.label, "value": value, "counting": "event",
            "display": format_value(value, spec.unit, spec.format)})
    return out
