"""Funnel step counts for the dashboard, computed on the warehouse by kpiengine.funnels.

Funnels are not stored in history, so they are always computed live; the
report computes them once when it is written. A funnel that cannot be
computed (source down, module missing) leaves an explained, empty panel.
"""
from __future__ import annotations

from ..analysis.funnels import parse_funnels, run_funnel
from ..errors import KpiEngineError
from ..spec.model import Project
from .inputs import DashboardInputs, FunnelData
from .options import DashboardOptions

ATTRIBUTION = {
    "event": "each stage counted in the period it happened",
    "cohort": "each stage counted in the period the entity entered (recent cohorts are still maturing)",
}


def _entry_dimensions(project: Project, funnel) -> list[str]:
    model = project.models.get(funnel.steps[0].model)
    return list(model.dimensions) if model else []


def load_funnels(project: Project, options: DashboardOptions, inputs: DashboardInputs,
                 loader) -> tuple[list[FunnelData], str | None]:
    if not project.section("funnels"):
        return [], "the spec defines no funnel (see docs/funnels.md)"
    if not loader.allow_engine:
        return [], "funnels are computed on the warehouse, which this view may not query"
    specs, issues = parse_funnels(project)
    if issues:
        return [], f"the funnels are invalid, run `kpi validate`: {issues[0].message}"
    names = [options.funnel] if options.funnel else list(specs)
    out, problems = [], []
    for name in names:
        spec = specs[name]
        data = FunnelData(name=name, label=spec.label or name,
                          steps=[{"id": s.name, "label": s.label or s.name, "tier": s.product} for s in spec.steps],
                          view=options.funnel_view, attribution=ATTRIBUTION[options.funnel_view])
        try:
            total = run_funnel(loader.engine(), name, options.grain, [], options.start, options.end,
                               view=options.funnel_view)
            for row in total.rows:
                key = row.period_start.isoformat()
                data.counts.setdefault(key, {})[""] = [s.entities for s in row.steps]
                data.median_seconds[key] = [s.median_seconds for s in row.steps]
            if options.by and options.by in _entry_dimensions(project, spec):
                data.by = options.by
                split = run_funnel(loader.engine(), name, options.grain, [options.by], options.start,
                                   options.end, view=options.funnel_view)
                for row in split.rows:
                    value = row.dimensions.get(options.by)
                    data.counts.setdefault(row.period_start.isoformat(), {})["∅" if value is None else (str(value) or "(blank)")] = \
                        [s.entities for s in row.steps]
        except KpiEngineError as exc:
            problems.append(f"funnel '{name}': {str(exc).splitlines()[0]}")
            continue
        out.append(data)
    return out, "; ".join(problems) or None
