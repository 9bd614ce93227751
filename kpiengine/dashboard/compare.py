"""Two periods side by side: every KPI's value in each, the change, and whether it is good news.

The tiles compare with the period before; this view compares any two periods
(``compare=`` picks the second), with the segment filter applied, so "east in
October against September" is one table, numbers and deltas in the KPI's unit.
"""
from __future__ import annotations

from .data import chosen_periods, period_label, value_state
from .formatting import change, format_value, tone
from .inputs import DashboardInputs


def compare_view(inputs: DashboardInputs) -> dict:
    current, previous = chosen_periods(inputs)
    if current is None or previous is None:
        return {"empty": True, "reason": "comparing needs two periods with data"}
    grain = inputs.options.grain
    table = inputs.totals
    rows = []
    for kpi, spec in inputs.project.kpis.items():
        if spec.status == "retired" or not table.has(kpi):
            continue
        a, b = table.get(kpi, current), table.get(kpi, previous)
        delta = change(a, b, spec.unit)
        state = value_state(inputs, table, kpi, current) or value_state(inputs, table, kpi, previous)
        rows.append({"kpi": kpi, "label": spec.label, "unit": spec.unit, "process": spec.process,
                     "current": a, "current_display": format_value(a, spec.unit, spec.format),
                     "previous": b, "previous_display": format_value(b, spec.unit, spec.format),
                     "change": delta, "tone": "flat" if state else tone(delta, spec.direction, spec.unit),
                     "state": state})
    return {"current": current.isoformat(), "previous": previous.isoformat(),
            "current_label": period_label(current, grain), "previous_label": period_label(previous, grain),
            "segment": dict(inputs.options.segment), "rows": rows}
