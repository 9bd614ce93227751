"""Which values are not final yet: the dashboard ranks and colours only numbers that will not move.

Two kinds of value can still change after they are shown:

* a value its source marks ``complete = False`` (a period that has not ended,
  when the engine says so): read from the value itself;
* a funnel cohort KPI (``sales_funnel_won`` counts the leads that entered in
  a week and were won *within the funnel's window*): until the window has
  passed for every lead of the period, later wins still add to it.
  :func:`maturing_funnel_cohort` is the narrow rule for that: the period's end
  plus the window lies after the data's last event. The data's last event is at
  least the start of the latest period with data, which is what is used, so the
  rule errs towards "maturing".

A number that is not final is shown with its state, never ranked under
"Needs attention" and never coloured as good or bad news.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlglot import exp

from ..analysis.funnels import funnel_model_name, parse_funnels
from ..spec.formula import parse_formula
from ..spec.model import Project
from ..sql.periods import next_period


def formula_inputs(formula: str) -> set[str]:
    """The KPI names a formula reads."""
    try:
        return {c.name for c in parse_formula(formula).find_all(exp.Column)}
    except Exception:  # an invalid formula is reported by `kpi validate`; here it has no inputs
        return set()


def funnel_windows(project: Project) -> dict[str, tuple[str, float | None]]:
    """KPI name -> (funnel name, window seconds) for every KPI counted by funnel cohort."""
    if not project.section("funnels"):
        return {}
    specs, _ = parse_funnels(project)
    by_model = {funnel_model_name(f): (f.name, f.window_seconds) for f in specs.values()}
    out = {name: by_model[spec.model] for name, spec in project.kpis.items()
           if not spec.is_formula and spec.model in by_model}
    changed = True
    while changed:  # formulas over funnel KPIs (rates, from-top shares) mature with them
        changed = False
        for name, spec in project.kpis.items():
            if name in out or not spec.is_formula:
                continue
            inputs = [out[i] for i in formula_inputs(spec.formula) if i in out]
            if inputs:
                out[name] = max(inputs, key=lambda fw: fw[1] or float("inf"))
                changed = True
    return out


def maturing_funnel_cohort(window_seconds: float | None, period: date, grain: str, last_data: date) -> bool:
    """A funnel cohort of ``period`` is maturing while its end plus the window lies after the data's last event."""
    end = next_period(period, grain)
    if window_seconds is None:  # no window: entities may convert any time later; only the open period is young
        return end > last_data
    return end + timedelta(seconds=window_seconds) > last_data


def value_state(windows: dict, table, kpi: str, period: date | None, key, grain: str,
                last_data: date | None) -> str | None:
    """None for a final value, else why it is not final: ``partial`` (the source says so) or ``maturing``."""
    if period is None or table is None:
        return None
    if getattr(table, "maturing", None) and table.maturing(kpi, period, key):
        return "maturing"  # marked by the engine from the funnel's window and the data's watermark
    if not table.complete(kpi, period, key):
        return "partial"
    if kpi in windows and last_data is not None and maturing_funnel_cohort(windows[kpi][1], period, grain, last_data):
        return "maturing"
    return None


STATE_TEXT = {
    "partial": "partial period: the value can still change",
    "maturing": "maturing cohort: entities of this period can still convert within the funnel's window",
}
