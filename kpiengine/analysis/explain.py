"""``kpi explain KPI``: how a KPI is built, from its process node down to models, filters and SQL."""
from __future__ import annotations

import json

from ..spec.dimensions import available_dimensions
from ..spec.formula import parse_formula, references


def _leaf_line(project, name: str) -> str:
    kpi = project.kpis[name]
    model = project.models.get(kpi.model)
    what = kpi.aggregate if kpi.aggregate == "count" and not kpi.column else f"{kpi.aggregate}({kpi.column})"
    if kpi.aggregate in ("percentile", "percentile_disc"):
        what = f"{'discrete ' if kpi.aggregate == 'percentile_disc' else ''}percentile {kpi.percentile} of {kpi.column}"
    if kpi.window:
        what += f" over window {kpi.window}"
    where = f" where {kpi.filter}" if kpi.filter else ""
    origin = ""
    if model is not None:
        origin = (f"table {model.table}" if model.table else "sql" if model.sql else f"file {model.file}")
        origin = f" [{origin}, source {model.source}]"
    return f"{name} ({kpi.label}) = {what} over model {kpi.model}{origin}{where}"


def formula_tree(project, name: str, prefix: str = "", seen: frozenset = frozenset()) -> list[str]:
    kpi = project.kpis[name]
    lines = []
    refs = references(parse_formula(kpi.formula)) if kpi.is_formula else []
    for i, ref in enumerate(refs):
        last = i == len(refs) - 1
        branch = "└─ " if last else "├─ "
        child = project.kpis[ref]
        if child.is_formula and ref not in seen:
            lines.append(f"{prefix}{branch}{ref} ({child.label}) = {child.formula}")
            lines += formula_tree(project, ref, prefix + ("   " if last else "│  "), seen | {name})
        else:
            lines.append(f"{prefix}{branch}{_leaf_line(project, ref)}")
    return lines


def describe_kpi(engine, name: str, *, grain: str = "week", by=(), dialect: str | None = None,
                 fmt: str = "table") -> str:
    project = engine.project
    kpi = project.kpis[name]
    path = project.kpi_path(name)
    queries = engine.compile([name], grain, list(by), dialect=dialect)
    dims = sorted(available_dimensions(project, name))
    if fmt == "json":
        return json.dumps({
            "kpi": name, "label": kpi.label, "description": kpi.description, "owner": kpi.owner,
            "unit": kpi.unit, "direction": kpi.direction, "process_path": path, "formula": kpi.formula,
            "aggregate": None if kpi.is_formula else {"model": kpi.model, "aggregate": kpi.aggregate,
                                                      "column": kpi.column, "filter": kpi.filter},
            "inputs": references(parse_formula(kpi.formula)) if kpi.is_formula else [],
            "dimensions": dims, "playbook": kpi.playbook, "status": kpi.status,
            "sql": [{"model": q.model, "source": q.source, "dialect": q.dialect, "sql": q.sql,
                     "joins": list(q.joins)} for q in queries],
        }, ensure_ascii=False, indent=2)
    better = "higher is better" if kpi.direction == "higher" else "lower is better"
    out = [f"{name} — {kpi.label}  ({kpi.unit}, {better})"]
    if path:
        out.append(f"process: {' > '.join(path)}")
    if kpi.owner:
        out.append(f"owner: {kpi.owner}")
    if kpi.description:
        out.append(f"description: {kpi.description.strip()}")
    out.append("")
    if kpi.is_formula:
        out.append(f"formula: {name} = {kpi.formula}")
        out += ["  " + line for line in formula_tree(project, name)]
    else:
        out.append("aggregate: " + _leaf_line(project, name))
    out.append("")
    out.append(f"breakdowns available: {', '.join(dims) or 'none'}")
    if kpi.playbook:
        out.append("playbook:")
        out += ["  " + line for line in kpi.playbook.strip().splitlines()]
    out.append("")
    for q in queries:
        out.append(f"-- SQL for model {q.model} ({q.dialect}, by {grain}"
                   f"{', ' + ', '.join(by) if by else ''}): computes {', '.join(q.kpis)}")
        out += [f"-- join path {line}" for line in q.joins]  # LEFT JOINs through entities (sql/joins.py)
        out.append(q.pretty() + ";")
    return "\n".join(out)
