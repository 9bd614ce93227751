"""Why a KPI changed from the previous period to the current one, via kpiengine.rootcause.

Uses the values the dashboard already loaded (totals and the breakdown) for
the formula inputs' contributions (LMDI, exactly additive) and, with a
breakdown, each dimension value's contribution, split into rate and mix effects
for ratio KPIs. When the KPI declares two or more dimensions and the warehouse
may be queried, the combination search (kpiengine.analysis) adds the segments,
conjunctions of those dimensions' values, that explain the move. The focus KPI
is the one asked for, else the KPI of the biggest bad move on the attention list.
"""
from __future__ import annotations

from ..analysis import rootcause
from ..analysis.explain_change import explain as explain_change
from ..errors import KpiEngineError
from ..spec.dimensions import available_dimensions
from ..spec.formula import reads_other_periods
from ..spec.model import Project
from .data import ADDITIVE, attention_view, chosen_periods, period_label, ratio_parts
from .formatting import change, format_short, format_value, tone
from .inputs import DashboardInputs
from .options import DashboardOptions, segment_text


def focus_kpi(inputs: DashboardInputs) -> str | None:
    """The KPI asked for; else the worst mover that can be explained best.

    With a breakdown, a ratio (a / b) or an additive KPI can be split by
    dimension value as well as by formula input, so it is preferred.
    """
    if inputs.options.kpi:
        return inputs.options.kpi
    items = [i["kpi"] for i in attention_view(inputs, limit=50)["items"]]
    project = inputs.project
    if inputs.breakdown:
        for kpi in items:
            spec = project.kpis[kpi]
            if ratio_parts(spec) or (not spec.is_formula and spec.aggregate in ADDITIVE):
                return kpi
    return next((k for k in items if project.kpis[k].is_formula), items[0] if items else None)


def contribution_text(value: float, unit: str) -> str:
    """A signed contribution; one that rounds to nothing is written without a sign, never "-0.0 pp"."""
    if unit == "percent":
        text = f"{value * 100:+.1f} pp"
        return "0.0 pp" if text in ("+0.0 pp", "-0.0 pp") else text
    short = format_short(abs(value), unit)
    if not any(c in "123456789" for c in short):
        return short
    return ("+" if value >= 0 else "-") + short


def _tone(value: float, direction: str) -> str:
    if abs(value) < 1e-12:
        return "flat"
    return "good" if (value > 0) == (direction != "lower") else "bad"


def explain(project: Project, options: DashboardOptions, inputs: DashboardInputs,
            loader=None) -> tuple[dict | None, str | None]:
    kpi = focus_kpi(inputs)
    if kpi is None:
        return None, "no KPI moved the wrong way: nothing to explain (pick one with kpi=NAME)"
    spec = project.kpis[kpi]
    current, previous = chosen_periods(inputs)
    if current is None or previous is None:
        return None, "explaining a change needs two periods with data"
    totals = inputs.totals
    v0, v1 = totals.get(kpi, previous), totals.get(kpi, current)
    if v0 is None or v1 is None:
        return None, f"{spec.label} has no value in {period_label(previous if v0 is None else current, options.grain)}"
    contributions = []
    notes = []
    if spec.formula and reads_other_periods(spec.formula):
        return None, f"{spec.label} compares periods (it reads an input at an offset): see its inputs' changes"
    if spec.formula:
        def expand(name: str) -> str | None:
            other = project.kpis.get(name)
            return other.formula if other is not None else None

        tree = rootcause.formula_tree(spec.formula, expand)
        names = rootcause.leaves(tree)
        driver = rootcause.decompose_formula(tree, {n: totals.get(n, previous) for n in names},
                                             {n: totals.get(n, current) for n in names})
        if driver.method == "undefined":
            notes.append(driver.note)
        for child in driver.children:
            if child.contribution is None:
                continue
            child_spec = project.kpis.get(child.name)
            label = child_spec.label if child_spec else child.name
            unit = child_spec.unit if child_spec else "number"
            own = change(child.after, child.before, unit)
            contributions.append({"name": label, "kind": "driver", "kpi": child.name, "value": child.contribution,
                                  "display": contribution_text(child.contribution, spec.unit),
                                  # the input's own move, read through its own direction: more visits is good news
                                  # even when it lowers conversion (the contribution says that part)
                                  "tone": tone(own, child_spec.direction if child_spec else "higher", unit),
                                  "effect_tone": _tone(child.contribution, spec.direction),
                                  "move": own["text"],
                                  "detail": f"{format_value(child.before, unit)} → {format_value(child.after, unit)}"})
    split = None
    by = options.by
    table = inputs.breakdown
    if by and table:
        parts = ratio_parts(spec)
        if parts and table.has(parts[0]) and table.has(parts[1]):
            num, den = parts

            def per(name, period):
                return {k[0][1:]: table.get(name, period, k) for k in table.keys(name) if k}

            split = rootcause.split_ratio([by], per(num, previous), per(den, previous), per(num, current), per(den, current))
        elif not spec.formula and spec.aggregate in ADDITIVE and table.has(kpi):
            split = rootcause.split_additive([by], {k[0][1:]: table.get(kpi, previous, k) for k in table.keys(kpi) if k},
                                             {k[0][1:]: table.get(kpi, current, k) for k in table.keys(kpi) if k})
        if split is not None:
            split = rootcause.group_other(split, min_share=0.03, max_segments=8)
            if split.note:
                notes.append(split.note)
            for seg in split.segments:
                effect = rootcause.describe_effect(seg) if split.kind == "ratio" else ""
                contributions.append({"name": f"{by} {seg.label}", "kind": "segment", "value": seg.contribution,
                                      "display": contribution_text(seg.contribution, spec.unit),
                                      "tone": _tone(seg.contribution, spec.direction), "effect": effect,
                                      "share": split.share(seg), "other": seg.status == "grouped"})
    root_cause, note = _root_cause(project, options, kpi, previous, current, loader)
    if note:
        notes.append(note)
    if not contributions:
        return None, (notes[0] if notes else f"{spec.label} is neither a formula nor additive by a breakdown: "
                      "choose a breakdown (by=region) or a formula KPI to see drivers")
    summary = f"{spec.label} went from {format_value(v0, spec.unit)} to {format_value(v1, spec.unit)} " \
              f"({contribution_text(v1 - v0, spec.unit)})."
    # the segment search writes region=east; the lists on the page say "region east"
    named = [{"name": e["label"].replace("=", " "), "value": e["contribution"], "effect": e["effect"]}
             for e in (root_cause or {}).get("elements", [])]
    summary += segment_summary(named or [c for c in contributions if c["kind"] == "segment" and not c["other"]],
                               v1 - v0, spec.unit)
    return {"kpi": kpi, "label": spec.label, "unit": spec.unit, "by": by,
            "from": previous.isoformat(), "to": current.isoformat(),
            "from_label": period_label(previous, options.grain), "to_label": period_label(current, options.grain),
            "from_display": format_value(v0, spec.unit, spec.format), "to_display": format_value(v1, spec.unit, spec.format),
            "change_text": contribution_text(v1 - v0, spec.unit), "summary": summary,
            "contributions": contributions, "notes": notes, "groups": _groups(contributions, spec, by),
            "root_cause": root_cause, "method": _method(spec, by, split, root_cause)}, None


def _groups(contributions: list[dict], spec, by: str | None) -> list[dict]:
    """The two decompositions, each labelled: both add up to the change on their own, never together."""
    groups = []
    drivers = [c for c in contributions if c["kind"] == "driver"]
    segments = [c for c in contributions if c["kind"] == "segment"]
    if drivers:
        groups.append({"kind": "driver", "title": f"By formula input ({spec.formula})",
                       "note": "each input's share of the change (LMDI); colour: the input's own move",
                       "items": drivers})
    if segments:
        groups.append({"kind": "segment", "title": f"By {by}",
                       "note": "each value's share of the change" + (" (rate and mix effects)" if any(
                           c.get("effect") for c in segments) else "") + "; colour: good or bad for the KPI",
                       "items": segments})
    return groups


def segment_summary(segments: list[dict], total: float, unit: str) -> str:
    """The sentence about the segment that moved the KPI most, with words for offsetting moves.

    When one segment moved the KPI more than the whole change ("south explains
    254 %"), the others moved it back: say that, with both amounts, instead of a
    share above 100 % that reads like an error.
    """
    named = [c for c in segments if not c.get("other")]
    if not named or not total:
        return ""
    top = max(named, key=lambda c: c["value"] / total)
    share = top["value"] / total
    if share <= 0.3:
        return ""
    effect = f", {top['effect']}" if top.get("effect") else ""
    if share < 1.005:  # a share that reads as over 100 % gets the words below, never "explains 102 %"
        return f" {top['name']} explains {share:.0%} of it{effect}."
    rest = total - top["value"]
    return (f" {top['name']} alone moved it by {contribution_text(top['value'], unit)}{effect}, more than the whole "
            f"change; the other values offset {contribution_text(rest, unit)} of that.")


def _method(spec, by: str | None, split, root_cause: dict | None = None) -> str:
    parts = ["LMDI over the formula inputs"] if spec.formula else []
    if split is not None:
        parts.append(f"rate/mix split by {by}" if split.kind == "ratio" else f"change of each {by}")
    if root_cause:
        parts.append(f"ripple scan over {', '.join(root_cause['dimensions'])}")
    return "; ".join(parts)


def search_dimensions(project: Project, kpi: str) -> list[str]:
    """The KPI's declared dimensions that every model behind it has (the combination search needs two)."""
    have = available_dimensions(project, kpi)
    return [d for d in project.kpis[kpi].dimensions if d in have]


def _root_cause(project: Project, options: DashboardOptions, kpi: str, previous, current,
                loader) -> tuple[dict | None, str | None]:
    """The segments (combinations of the KPI's dimensions) that explain the move, computed in the warehouse.

    JSON: {dimensions, leaves, candidates, threshold, method, elements: [{label,
    dimensions, before, after, contribution, share, display, tone, effect,
    moved}], other: {contribution, share, display, leaves}}. None (and a note)
    when the KPI has fewer than two dimensions or only stored values may be read.
    """
    dims = search_dimensions(project, kpi)
    if len(dims) < 2:
        return None, None
    if options.segment:
        # the scan reads the whole warehouse: under a filter it would explain everyone's change next
        # to the segment's own numbers (east's revenue fell 1.1M while "other" showed +239k)
        return None, ("the segment search over all dimensions runs on the whole warehouse: not shown under a "
                      f"filter ({segment_text(options.segment)}); the split by {options.by or 'a breakdown'} "
                      "above is the segment's own")
    if options.where:
        return None, ("the segment search over all dimensions runs on the whole warehouse: not shown where "
                      f"{options.where}; the split by {options.by or 'a breakdown'} above is the filtered one")
    if loader is None or not loader.allow_engine:
        return None, "segments are searched in the warehouse: not available from stored values alone"
    spec = project.kpis[kpi]
    try:
        ex = explain_change(loader.engine(), kpi, previous, current, dims, grain=options.grain,
                            search="combinations")
    except KpiEngineError as exc:
        return None, f"segment search failed: {exc}"
    rc = ex.best_root_cause()
    if rc is None or not ex.change:
        return None, "; ".join(ex.notes) or None
    loc = rc.localization

    def entry(e) -> dict:
        share = e.contribution / ex.change
        return {"label": e.label, "dimensions": e.dims, "before": e.before, "after": e.after,
                "contribution": e.contribution, "share": share,
                "display": contribution_text(e.contribution, spec.unit),
                "tone": _tone(e.contribution, spec.direction),
                "effect": rootcause.describe_effect(e) if loc.kind == "ratio" else "", "moved": e.channels}

    other = loc.other
    return {"dimensions": loc.dimensions, "through": rc.through, "leaves": loc.leaves,
            "candidates": loc.candidates, "threshold": loc.threshold, "method": "ripple scan",
            "elements": [entry(e) for e in loc.elements],
            "other": {"contribution": other.contribution, "share": other.contribution / ex.change,
                      "display": contribution_text(other.contribution, spec.unit), "leaves": other.leaves}}, None
