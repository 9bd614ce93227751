"""`kpi explain KPI --change FROM TO --by DIM`: why a KPI moved between two periods.

The engine computes the aggregates (the KPI, its formula inputs, per period and
per dimension value); :mod:`kpiengine.rootcause` does the arithmetic. This
module chooses which decomposition applies to a KPI, runs the queries, and
prints the answer as a table, as JSON, or as the one line an alert carries::

    conversion -18% week on week; region east explains 72% of it, all rate effect; deals_won -18%, visits steady
"""
from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

from ..errors import KpiEngineError, SpecError, SpecIssue
from ..formatting import format_value, render_table
from ..run.engine import Engine
from ..spec.dimensions import check_breakdown, known_dimensions
from ..sql.periods import next_period, previous_period, python_period_start
from . import combinations
from .baselines import Baseline
from .leaves import fetch_leaves
from .localize import Localization
from .rootcause import (
    DimensionSplit,
    Driver,
    Node,
    best_split,
    decompose_formula,
    describe_effect,
    evaluate,
    formula_tree,
    group_other,
    leaves,
    split_additive,
    split_pairs,
    split_ratio,
    top_inputs,
)

ADDITIVE_AGGREGATES = ("count", "sum", "count_distinct")
STEADY = 0.02  # an input moving less than 2 % is called "steady"


@dataclass
class SplitView:
    """A dimension split in units of the explained KPI's change (``through`` names the input it goes via)."""

    split: DimensionSplit
    through: str | None = None
    unit: str | None = None  # unit of the segments' own values (the rate's KPI unit for ratio splits)

    def to_dict(self) -> dict:
        return dict(self.split.to_dict(), through=self.through)


@dataclass
class RootCause:
    """The combination search's answer, in units of the explained KPI's change (``through`` an input)."""

    localization: Localization
    through: str | None = None
    unit: str | None = None

    def to_dict(self) -> dict:
        return dict(self.localization.to_dict(), through=self.through, method="ripple scan")


@dataclass
class Explanation:
    kpi: str
    label: str
    unit: str
    grain: str
    from_period: date
    to_period: date
    before: float | None
    after: float | None
    driver: Driver | None = None
    views: list[SplitView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline: Baseline | None = None
    localizations: list[RootCause] = field(default_factory=list)  # the combination search (one, or per input)

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def pct_change(self) -> float | None:
        return self.change / abs(self.before) if self.change is not None and self.before else None

    def best_view(self) -> SplitView | None:
        direct = [v for v in self.views if v.through is None]
        if direct:
            chosen = best_split([v.split for v in direct])
            return next((v for v in direct if v.split is chosen), None)
        ranked = [v for v in self.views if v.split.segments]
        return max(ranked, key=lambda v: abs(v.split.segments[0].contribution), default=None)

    def best_root_cause(self) -> RootCause | None:
        """The combination search to quote: the KPI's own, else the input explaining most of the change."""
        direct = [r for r in self.localizations if r.through is None]
        if direct:
            return direct[0]
        return max(self.localizations, default=None,
                   key=lambda r: sum(abs(e.contribution) for e in r.localization.elements))

    def to_dict(self) -> dict:
        b = self.baseline
        return {"kpi": self.kpi, "label": self.label, "unit": self.unit, "grain": self.grain,
                "from_period": self.from_period.isoformat(), "to_period": self.to_period.isoformat(),
                "baseline": {"kind": b.kind if b else "period", "window": b.window if b and b.expected else None,
                             "text": b.describe(self.grain) if b else str(self.from_period)},
                "before": self.before, "after": self.after, "change": self.change, "pct_change": self.pct_change,
                "summary": summary_text(self),
                "drivers": self.driver.to_dict() if self.driver else None,
                "dimensions": [v.to_dict() for v in self.views],
                "root_cause": [r.to_dict() for r in self.localizations], "notes": self.notes}


# --------------------------------------------------------------------------- periods


def parse_period(text: str | date, grain: str | None = None) -> tuple[date, str | None]:
    """'2026-03-02' (any day: truncated to the grain), '2026-W10', '2026-03', '2026-Q1', '2026' -> (start, grain)."""
    if isinstance(text, date):
        return (python_period_start(text, grain) if grain else text), grain
    s = str(text).strip()
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            return (python_period_start(d, grain) if grain else d), grain
        if "-W" in s.upper():
            y, w = s.upper().split("-W")
            return date.fromisocalendar(int(y), int(w), 1), "week"
        if "-Q" in s.upper():
            y, q = s.upper().split("-Q")
            return date(int(y), 3 * (int(q) - 1) + 1, 1), "quarter"
        if len(s) == 7:
            return date(int(s[:4]), int(s[5:7]), 1), "month"
        if len(s) == 4:
            return date(int(s), 1, 1), "year"
    except ValueError:
        pass
    raise SpecError([SpecIssue(f"cannot read period {s!r}", hint="write 2026-03-02, 2026-W10, 2026-03, 2026-Q1 or 2026",
                               code="period")])


# --------------------------------------------------------------------------- building the explanation


def _tree_for(project, kpi: str) -> tuple[Node, dict[str, Any]]:
    """The formula tree of a KPI, and helper KPIs (an avg becomes sum / count) to add to the project."""
    spec = project.kpis[kpi]
    if spec.is_formula:
        def expand(name: str) -> str | None:
            k = project.kpis.get(name)
            return k.formula if k is not None and k.is_formula else None

        return formula_tree(spec.formula, expand=expand, name=kpi), {}
    if spec.aggregate == "avg":
        return _avg_as_ratio(kpi, name=kpi), {}
    return Node("leaf", name=kpi), {}


def _avg_as_ratio(kpi: str, name: str | None = None) -> Node:
    return Node("product", name=name, terms=[(1, Node("leaf", name=f"{kpi}__sum")),
                                             (-1, Node("leaf", name=f"{kpi}__count"))])


def _avg_helpers(project, names: Sequence[str]) -> dict[str, Any]:
    """sum and count KPIs behind every `avg` KPI in ``names``: an average is split as a ratio."""
    out = {}
    for n in names:
        spec = project.kpis.get(n)
        if spec is not None and not spec.is_formula and spec.aggregate == "avg":
            num, den = copy.copy(spec), copy.copy(spec)
            num.name, num.aggregate = f"{n}__sum", "sum"
            den.name, den.aggregate = f"{n}__count", "count"
            out[num.name], out[den.name] = num, den
    return out


def _additive(node: Node, project, helpers) -> bool:
    """True when the node's value is a sum over dimension values (counts, sums, their sums and multiples)."""
    if node.kind == "const":
        return True
    if node.kind == "leaf":
        spec = helpers.get(node.name) or project.kpis[node.name]
        return not spec.is_formula and spec.aggregate in ADDITIVE_AGGREGATES
    if node.kind == "sum":
        return all(_additive(c, project, helpers) for _, c in node.terms)
    # a product is additive when it is one additive part times constants
    parts = [c for p, c in node.terms if c.kind != "const"]
    return all(p > 0 for p, _ in node.terms) and len(parts) == 1 and _additive(parts[0], project, helpers)


def _ratio_parts(node: Node) -> tuple[Node, Node] | None:
    if node.kind != "product" or not any(p < 0 for p, _ in node.terms):
        return None
    num = Node("product", terms=[(1, c) for p, c in node.terms if p > 0] or [(1, Node("const", value=1.0))])
    den = Node("product", terms=[(1, c) for p, c in node.terms if p < 0])
    return num, den


def _split(node: Node, dims: list[str], seg0: dict, seg1: dict, project, helpers) -> DimensionSplit | None:
    spec = project.kpis.get(node.name) if node.kind == "leaf" else None
    if spec is not None and not spec.is_formula and spec.aggregate == "avg":
        node = _avg_as_ratio(node.name)
    if _additive(node, project, helpers):
        return split_additive(dims, {k: evaluate(node, v) for k, v in seg0.items()},
                              {k: evaluate(node, v) for k, v in seg1.items()})
    parts = _ratio_parts(node)
    if parts and all(_additive(p, project, helpers) for p in parts):
        num, den = parts
        return split_ratio(dims, {k: evaluate(num, v) for k, v in seg0.items()},
                           {k: evaluate(den, v) for k, v in seg0.items()},
                           {k: evaluate(num, v) for k, v in seg1.items()},
                           {k: evaluate(den, v) for k, v in seg1.items()})
    return None


class _Fetcher:
    """Runs the engine once per (breakdown, period) and caches the values.

    ``values(by, "after")`` reads the explained period; ``values(by, "before")``
    the baseline: one period, or for an expected baseline (forecast, average)
    the per-value median or mean over its window, reconciled so the values add
    up to the expected total of each KPI.
    """

    def __init__(self, engine, names: list[str], grain: str, baseline: Baseline, before: list[date], after: date):
        self.engine, self.names, self.grain = engine, names, grain
        self.baseline, self.before, self.after = baseline, before, after
        self.cache: dict[tuple, dict] = {}

    def _period(self, by: Sequence[str], periods: list[date]) -> dict[date, dict[tuple, dict[str, Any]]]:
        key = (tuple(by), tuple(periods))
        if key not in self.cache:
            rs = self.engine.compute(self.names, grain=self.grain, by=list(by), start=min(periods),
                                     end=next_period(max(periods), self.grain))
            out: dict[date, dict[tuple, dict[str, Any]]] = {p: {} for p in periods}
            for r in rs.rows:
                if r.period_start in out:
                    out[r.period_start].setdefault(tuple(r.dimensions.get(d) for d in by), {})[r.kpi] = r.value
            self.cache[key] = out
        return self.cache[key]

    def values(self, by: Sequence[str], which: str) -> dict[tuple, dict[str, Any]]:
        if which == "after":
            return self._period(by, [self.after])[self.after]
        if not self.baseline.expected:
            return self._period(by, self.before[:1])[self.before[0]]
        key = (tuple(by), "expected")
        if key not in self.cache:
            self.cache[key] = self._expected(by)
        return self.cache[key]

    def expected_totals(self) -> dict[str, Any]:
        return self.values([], "before").get((), {})

    def _expected(self, by: Sequence[str]) -> dict[tuple, dict[str, Any]]:
        history = self._period(by, self.before)
        totals = None if not by else self.expected_totals()
        out: dict[tuple, dict[str, Any]] = {}
        for name in self.names:
            spec = self.engine.project.kpis[name]
            additive = not spec.is_formula and spec.aggregate in ADDITIVE_AGGREGATES
            keys = {k for rows in history.values() for k, v in rows.items() if name in v}
            for k in keys:
                series = [history[p].get(k, {}).get(name) for p in self.before]
                series = [0 if v is None and additive else v for v in series]
                known = [float(v) for v in series if v is not None]
                if len(known) >= max(2, len(series) // 2):
                    out.setdefault(k, {})[name] = self.baseline.combine_total(known)
            if totals is not None and additive and totals.get(name) is not None:
                current = sum(v.get(name) or 0.0 for v in out.values())
                if current:
                    for v in out.values():
                        if name in v:
                            v[name] *= totals[name] / current
        return out


SEARCHES = ("auto", "combinations", "dimensions")


def dimension_items(by: Sequence[str]) -> list[list[str]]:
    """``--by`` values: repeated or comma-separated; "region*channel" is a pair searched together."""
    items = []
    for raw in by:
        for part in str(raw).split(","):
            dims = [d.strip() for d in part.replace(" x ", "*").split("*") if d.strip()]
            if dims:
                items.append(dims)
    return items


def _check_dimensions(project, items: list[list[str]]) -> None:
    # Own dimensions, and those reached through entities (rep.team): kpiengine.spec.entities.
    known = {d for m in project.models.values() for d in m.dimensions} | set(known_dimensions(project))
    for dims in items:
        unknown = [d for d in dims if d not in known]
        if unknown:

            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            raise SpecError([SpecIssue(f"unknown dimension '{unknown[0]}'", code="dimension",
                                       hint=f"did you mean '{close[0]}'?" if close else
                                       f"dimensions: {', '.join(sorted(known)) or 'none'}")])


def explain(engine, kpi: str, from_period, to_period, by: Sequence[str] = (), *, grain: str | None = None,
            min_share: float = 0.05, max_segments: int = 10, baseline: Baseline | None = None,
            search: str = "auto", search_params: dict | None = None) -> Explanation:
    """Compute the explanation of the change of ``kpi`` in ``to_period`` against a baseline.

    The baseline is ``from_period`` (a period start), or ``baseline`` (previous,
    last_year, forecast, average; then ``from_period`` may be None). ``by``
    lists dimensions: with two or more (``search="auto"``) the combination
    search names the segments, conjunctions over any number of them, that
    explain the change; with one, or with ``search="dimensions"``, each is
    split on its own and "region*channel" searches a pair.
    """
    if search not in SEARCHES:
        raise KpiEngineError(f"unknown search '{search}': use {', '.join(SEARCHES)}")
    project = engine.project
    name = engine.resolve_kpis([kpi])[0]
    p1, g1 = parse_period(to_period, grain)
    p0, g0 = parse_period(from_period, grain) if from_period is not None else (None, None)
    grain = grain or g0 or g1 or "week"
    p1 = python_period_start(p1, grain)
    if baseline is None or baseline.kind == "period":
        p0 = p0 if p0 is not None else (baseline.period if baseline is not None else None)
        if p0 is None:
            raise KpiEngineError("explaining a change needs the period to compare with, or a baseline")
        baseline = Baseline("period", period=python_period_start(p0, grain))
    before = baseline.periods(p1, grain)
    p0 = min(before)
    tree, helpers = _tree_for(project, name)
    helpers.update(_avg_helpers(project, [name] + leaves(tree)))
    if helpers:
        widened = copy.copy(project)
        widened.kpis = {**project.kpis, **helpers}
        engine = Engine(widened, registry=engine.registry, timeout=getattr(engine, "timeout", None))
    spec = project.kpis[name]
    fetch = _Fetcher(engine, list(dict.fromkeys([name] + leaves(tree) + list(helpers))), grain, baseline,
                     before, p1)
    total0, total1 = fetch.values([], "before").get((), {}), fetch.values([], "after").get((), {})
    ex = Explanation(name, spec.label, spec.unit, grain, p0, p1, total0.get(name), total1.get(name),
                     baseline=baseline)
    if spec.is_formula:
        ex.driver = decompose_formula(tree, total0, total1)
        if ex.driver.method == "undefined":
            ex.notes.append(ex.driver.note)
        elif baseline.expected and ex.before is not None and ex.driver.before is not None \
                and abs(ex.driver.before - ex.before) > 1e-9 * max(1.0, abs(ex.before)):
            ex.notes.append(f"drivers split the move from the expected inputs ({_fmt(ex.driver.before, ex.unit)}), "
                            f"not from the expected {name} ({_fmt(ex.before, ex.unit)})")
    if ex.change is None:
        ex.notes.append(f"{name} has no value in {p0 if ex.before is None else p1}: the change is not defined")
        return ex
    items = dimension_items(by)
    _check_dimensions(project, items)
    flat = list(dict.fromkeys(d for dims in items for d in dims))
    combine = search == "combinations" or (search == "auto" and len(flat) > 1
                                            and all(len(dims) == 1 for dims in items))
    if combine and flat:
        _root_causes(ex, engine, fetch, tree, flat, project, helpers, search_params or {})
        return ex
    for dims in items:
        try:
            ex.views += _views(fetch, tree, dims, ex, project, helpers, min_share, max_segments)
        except SpecError as exc:
            ex.notes.append(f"cannot split by {' x '.join(dims)}: " + "; ".join(i.message for i in exc.issues))
    return ex


def _plan(node: Node, project, helpers) -> combinations.LeafPlan | None:
    spec = project.kpis.get(node.name) if node.kind == "leaf" else None
    if spec is not None and not spec.is_formula and spec.aggregate == "avg":
        node = _avg_as_ratio(node.name)
    if _additive(node, project, helpers):
        return combinations.LeafPlan(node)
    parts = _ratio_parts(node)
    if parts and all(_additive(p, project, helpers) for p in parts):
        return combinations.LeafPlan(*parts)
    return None


def _root_causes(ex: Explanation, engine, fetch: _Fetcher, tree: Node, dims: list[str], project, helpers,
                 params: dict) -> None:
    """The combination search over ``dims``: on the KPI itself, or through each input of a product."""
    def table_for(names: list[str]):
        issues = check_breakdown(engine.project, names, dims)
        if issues:
            raise SpecError(issues)
        return fetch_leaves(engine, names, dims, ex.grain, fetch.before + [ex.to_period])

    expected = fetch.expected_totals() if ex.baseline.expected else None
    targets = [(tree, None, 1.0)]
    if _plan(tree, project, helpers) is None:
        if ex.driver is None or tree.kind not in ("sum", "product"):
            ex.notes.append(f"{ex.kpi} is neither additive nor a ratio of additive inputs: no combination search")
            return
        targets = [(child, drv.name, drv.contribution / drv.change)
                   for drv, (_, child) in zip(ex.driver.children, tree.terms)
                   if drv.contribution is not None and drv.change]
    for node, through, scale in targets:
        plan = _plan(node, project, helpers)
        if plan is None:
            ex.notes.append(f"{through} is neither additive nor a ratio of additive inputs: not searched")
            continue
        counts = all(not (helpers.get(k) or project.kpis[k]).is_formula
                     and (helpers.get(k) or project.kpis[k]).aggregate in ("count", "count_distinct")
                     for k in plan.inputs)
        try:
            loc, table = combinations.run(plan, table_for, ex.baseline, ex.to_period, params,
                                          expected_totals=expected, counts=counts,
                                          expected_value=ex.before if through is None else None)
        except SpecError as exc:
            ex.notes.append(f"cannot search {', '.join(dims)}{f' through {through}' if through else ''}: "
                            + "; ".join(i.message for i in exc.issues))
            continue
        _check_leaf_totals(ex, plan, table, fetch, through)
        if through is not None:
            combinations.scaled(loc, scale)
        unit = project.kpis[through].unit if through and through in project.kpis else ex.unit
        ex.localizations.append(RootCause(loc, through, unit))


def _check_leaf_totals(ex: Explanation, plan, table, fetch: _Fetcher, through: str | None) -> None:
    """Distinct counts are not additive over leaves: say so when the leaves over-count."""
    totals = fetch.values([], "after").get((), {})
    for name in plan.inputs:
        total = totals.get(name)
        summed = float(table.at(name, ex.to_period).sum())
        if total is not None and abs(summed - float(total)) > 1e-6 * max(1.0, abs(float(total))):
            ex.notes.append(f"{name}: the leaves add up to {summed:,.6g}, not {float(total):,.6g} (distinct "
                            "entities in several leaves); segment values are sums over their leaves")


def _views(fetch, tree, dims, ex: Explanation, project, helpers, min_share, max_segments) -> list[SplitView]:
    if len(dims) > 2:
        raise SpecError([SpecIssue("a search covers one or two dimensions at a time", code="dimension")])

    def make(node: Node) -> Any:
        def build(ds):
            return _split(node, list(ds), fetch.values(ds, "before"), fetch.values(ds, "after"), project, helpers)
        return build

    top = make(tree)
    if top(dims[:1]) is not None:
        if len(dims) == 2:
            return [SplitView(split_pairs(dims, top, max_segments=max_segments, min_share=min_share), None, ex.unit)]
        return [SplitView(group_other(top(dims), min_share, max_segments), None, ex.unit)]
    # Not splittable as a whole (e.g. a product): split each direct input, in units of the KPI's change.
    views: list[SplitView] = []
    if ex.driver is None or tree.kind not in ("sum", "product"):
        ex.notes.append(f"{ex.kpi} is not additive over {dims[0]}: not split")
        return views
    for drv, (_, child) in zip(ex.driver.children, tree.terms):  # same order as the tree's terms
        if drv.contribution is None or not drv.change:
            continue
        build = make(child)
        if build(dims[:1]) is None:
            ex.notes.append(f"{drv.name} is not additive over {dims[0]}: not split")
            continue
        scale = drv.contribution / drv.change
        split = split_pairs(dims, build, max_segments=max_segments, min_share=min_share) if len(dims) == 2 \
            else group_other(build(dims), min_share, max_segments)
        through = project.kpis.get(drv.name)
        views.append(SplitView(split.scaled(scale), through=drv.name, unit=through.unit if through else None))
    return views


# --------------------------------------------------------------------------- output


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:+.0%}"


def _period_phrase(ex: Explanation) -> str:
    b = ex.baseline
    if b is not None and b.kind not in ("period", "previous"):
        return f"against {b.describe(ex.grain)}"
    if previous_period(ex.to_period, ex.grain) == ex.from_period:
        return f"{ex.grain} on {ex.grain}"
    return f"from {ex.from_period} to {ex.to_period}"


NAMED_SHARE = 0.1  # the alert line names segments explaining at least 10 % of the change
NAMED_MAX = 3


def root_cause_phrase(ex: Explanation) -> str | None:
    """'region=east & channel=web explains 72% of it, all rate effect; rep=Ana Liu 15%' (or None)."""
    rc = ex.best_root_cause()
    if rc is None or not ex.change:
        return None
    named = [e for e in rc.localization.elements if e.contribution / ex.change >= NAMED_SHARE][:NAMED_MAX]
    if not named:
        return None
    pieces = []
    for i, e in enumerate(named):
        text = f"{e.label} explains {e.contribution / ex.change:.0%} of it" if i == 0 else \
            f"{e.label} {e.contribution / ex.change:.0%}"
        if rc.localization.kind == "ratio" and describe_effect(e):
            text += f", {describe_effect(e)}"
        pieces.append(text)
    text = "; ".join(pieces)
    return text + (f" (through {rc.through})" if rc.through else "")


def summary_text(ex: Explanation, max_inputs: int = 3) -> str:
    """One line for an alert: the move, the value that explains it, and the inputs."""
    if ex.change is None:
        return f"{ex.kpi}: change not defined ({'; '.join(ex.notes) or 'no value in one period'})"
    if ex.change == 0:
        return f"{ex.kpi} unchanged {_period_phrase(ex)}"
    move = _pct(ex.pct_change) if ex.pct_change is not None else f"{ex.change:+g}"
    parts = [f"{ex.kpi} {move} {_period_phrase(ex)}"]
    view = ex.best_view()
    cause = root_cause_phrase(ex)
    if cause:
        parts.append(cause)
    elif view is not None:
        seg = next((s for s in view.split.segments if s.status != "grouped"), None)
        if seg is not None and seg.contribution * ex.change > 0:
            dims = " x ".join(view.split.dimensions)
            text = f"{dims} {seg.label} explains {seg.contribution / ex.change:.0%} of it"
            if view.split.kind == "ratio":
                text += f", {describe_effect(seg)}"
            if view.through:
                text += f" (through {view.through})"
            parts.append(text)
    if ex.driver is not None and ex.driver.children:
        said = []
        for d in ex.driver.children[:max_inputs] if len(ex.driver.children) <= max_inputs else \
                top_inputs(ex.driver, max_inputs):
            if d.method == "constant":
                continue
            pc = d.pct_change
            said.append(f"{d.name} steady" if pc is not None and abs(pc) < STEADY else f"{d.name} {_pct(pc)}")
        if said:
            parts.append(", ".join(said))
    return "; ".join(parts)


def _fmt(v: float | None, unit: str | None = None) -> str:
    return format_value(v, unit)


def _fmt_delta(v: float | None, unit: str | None) -> str:
    if v is None:
        return "—"
    if unit == "percent":
        return f"{v * 100:+.2f} pt"
    return f"{v:+,.4g}"


def to_table(ex: Explanation) -> str:
    unit = ex.unit
    lines = [f"{ex.kpi} ({ex.label})  {ex.grain} {ex.from_period} -> {ex.to_period}: "
             f"{_fmt(ex.before, unit)} -> {_fmt(ex.after, unit)}  change {_fmt_delta(ex.change, unit)} "
             f"({_pct(ex.pct_change)})", "", summary_text(ex)]
    if ex.driver is not None and ex.driver.children:
        lines += ["", f"Drivers ({ex.driver.name}; contributions add up to the change)"]
        rows = []

        def walk(d: Driver, depth: int) -> None:
            for c in d.children:
                share = c.contribution / ex.change if c.contribution is not None and ex.change else None
                rows.append(["  " * depth + c.name, _fmt(c.before), _fmt(c.after), _pct(c.pct_change),
                             _fmt_delta(c.contribution, unit), _pct(share).lstrip("+") if share is not None else "—",
                             c.method if c.method != "leaf" else "", c.note])
                walk(c, depth + 1)

        walk(ex.driver, 0)
        lines.append(render_table(["input", "before", "after", "change", "contribution", "share", "split", "note"],
                                  rows, [False, True, True, True, True, True, False, False]))
    for view in ex.views:
        s = view.split
        title = f"By {' x '.join(s.dimensions)}" + (f" (through {view.through})" if view.through else "")
        if s.kind == "ratio":
            title += f": rate effect {_fmt_delta(s.rate_effect, unit)}, " \
                     f"mix effect {_fmt_delta(s.mix_effect, unit)}"
        lines += ["", title + (f"  [{s.note}]" if s.note else "")]
        rows = []
        for seg in s.segments:
            label = seg.label
            share = seg.contribution / ex.change if ex.change else None
            seg_unit = view.unit
            row = [label, _fmt(seg.before, seg_unit), _fmt(seg.after, seg_unit)]
            if s.kind == "ratio":
                row += [_fmt(seg.share_before, "percent"), _fmt(seg.share_after, "percent"),
                        _fmt_delta(seg.rate_effect, unit), _fmt_delta(seg.mix_effect, unit)]
            row += [_fmt_delta(seg.contribution, unit), _pct(share).lstrip("+") if share is not None else "—",
                    seg.status if seg.status in ("new", "vanished") else ""]
            rows.append(row)
        headers = ["value", "rate before" if s.kind == "ratio" else "before", "rate after" if s.kind == "ratio"
                   else "after"]
        if s.kind == "ratio":
            headers += ["share before", "share after", "rate effect", "mix effect"]
        headers += ["contribution", "of change", ""]
        lines.append(render_table(headers, rows, [False] + [True] * (len(headers) - 2) + [False]))
    for rc in ex.localizations:
        lines += ["", *_root_cause_table(ex, rc)]
    for note in ex.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _root_cause_table(ex: Explanation, rc: RootCause) -> list[str]:

    loc, unit = rc.localization, ex.unit
    ratio = loc.kind == "ratio"
    title = (f"Root cause over {', '.join(loc.dimensions)}" + (f" (through {rc.through})" if rc.through else "")
             + f": {len(loc.elements)} segment{'s' if len(loc.elements) != 1 else ''} of {loc.leaves:,} leaves, "
             f"{loc.candidates:,} candidates, threshold {loc.threshold:g}")
    if not loc.elements:
        return [title, "no segment stands out: the change is spread over all of them"]
    rows = []
    for e in loc.elements + [loc.other]:
        share = e.contribution / ex.change if ex.change else None
        label = f"other ({e.leaves:,} leaves)" if e.is_other else e.label
        row = [label, _fmt(e.before, rc.unit), _fmt(e.after, rc.unit)]
        if ratio:
            row += [_fmt(e.share_before, "percent"), _fmt(e.share_after, "percent"),
                    _fmt_delta(e.rate_effect, unit), _fmt_delta(e.mix_effect, unit)]
        row += [_fmt_delta(e.contribution, unit), _pct(share).lstrip("+") if share is not None else "—",
                ", ".join(e.channels)]
        rows.append(row)
    headers = ["segment", "rate before" if ratio else "before", "rate after" if ratio else "after"]
    if ratio:
        headers += ["share before", "share after", "rate effect", "mix effect"]
    headers += ["contribution", "of change", "moved"]
    return [title, render_table(headers, rows, [False] + [True] * (len(headers) - 2) + [False])]


def explain_change(engine, kpi: str, from_period, to_period, by: list[str] | None = None, fmt: str = "table",
                   *, grain: str | None = None, min_share: float = 0.05, max_segments: int = 10,
                   baseline: Baseline | None = None, search: str = "auto", search_params: dict | None = None) -> str:
    """What `kpi explain KPI --change FROM TO --by DIM` prints (fmt 'table' or 'json')."""
    if fmt not in ("table", "json"):
        raise KpiEngineError(f"unknown format '{fmt}': use table or json")
    ex = explain(engine, kpi, from_period, to_period, by or [], grain=grain, min_share=min_share,
                 max_segments=max_segments, baseline=baseline, search=search, search_params=search_params)
    if fmt == "json":
        return json.dumps(ex.to_dict(), indent=2, ensure_ascii=False, default=str)
    return to_table(ex)


def top_drivers_text(engine_or_explanation, kpi: str | None = None, period=None, *, grain: str = "week",
                     by: Sequence[str] | None = None, previous=None, baseline: Baseline | None = None) -> str:
    """The one-line cause for an alert message.

    Either pass an :class:`Explanation`, or an engine, the KPI, the alert's
    ``period`` (start date) and ``grain``; the comparison is with the previous
    period unless ``previous`` or ``baseline`` (the rule's own: last year, the
    anomaly rule's expected value, the trailing average) is given, and ``by``
    defaults to the KPI's declared ``dimensions`` (two or more: the combination
    search). Example: "conversion -18% week on week; region=east explains 72% of
    it, all rate effect; deals_won -18%, visits steady".
    """
    if isinstance(engine_or_explanation, Explanation):
        return summary_text(engine_or_explanation)
    engine = engine_or_explanation
    if kpi is None or period is None:
        raise KpiEngineError("top_drivers_text needs the KPI and the period")
    p1, _ = parse_period(period, grain)
    if baseline is None:
        p0 = parse_period(previous, grain)[0] if previous is not None else previous_period(p1, grain)
        baseline = Baseline("period", period=p0)
    if by is None:
        by = list(engine.project.kpis[kpi].dimensions) if kpi in engine.project.kpis else []
    return summary_text(explain(engine, kpi, None, p1, by, grain=grain, baseline=baseline))
