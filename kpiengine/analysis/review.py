"""``kpi review --from --to``: the evidence a review meeting needs, per KPI, over a window.

For each KPI of the ``kpis:`` section (retired ones are listed apart):

* **attainment** of the targets set in advance, per target period and per
  dimension value (:func:`judge_targets`), a period the window or today cuts
  short marked ``partial`` (totals are then judged against the pro-rated target);
* **trend and volatility** of its values at the review grain;
* **alerts**: how often its rules fired, how long alerts stayed open, how many
  were acted on or silenced (read from the alert state store by the layer
  above and handed in: analysis does not import alerting);
* **driver share**: its share of the change of every formula KPI above it,
  the exact split of ``kpi explain --change`` summed over the window, and how
  strongly its moves lead each outcome KPI (``tags: [outcome]``);
* **data health**: the last period with a value, runs that failed in the window;
* the **decisions** recorded in the window, and a **suggested decision** with
  its reason (:mod:`kpiengine.analysis.review_suggest`).

The window's periods are those of the review grain that start on or after
``from`` and end by ``to`` (and by today: a period still running is not final);
the period before the first is the base the first change is measured from.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Sequence

from ..errors import KpiEngineError, SpecError
from ..run.history import HistoryStore
from ..spec.dimensions import available_dimensions
from ..spec.formula import parse_formula, reads_other_periods, references
from ..sql.periods import next_period, previous_period, python_period_start
from .explain_change import explain, summary_text
from .review_stats import Attribution, LeadLag, Share, Trend, attribute, lead_lag, trend
from .review_suggest import Suggestion, suggest
from .rootcause import formula_tree
from .targets import additive_over_time, attainment, met, target_at

OUTCOME_TAG = "outcome"


@dataclass
class DimensionAttainment:
    dimensions: dict[str, Any]
    value: float | None
    target: float | None
    attainment: float | None
    met: bool | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PeriodAttainment:
    """One period a target was set for: the value, the target, how far it got; per dimension value too."""

    period: str  # 2026-Q4
    start: date
    grain: str
    value: float | None
    target: float | None
    target_source: str | None
    attainment: float | None
    met: bool | None
    partial: bool = False  # the window or today cuts the period short: not final
    days: int = 0
    covered_days: int = 0
    by: list[DimensionAttainment] = field(default_factory=list)

    @property
    def short(self) -> list[DimensionAttainment]:
        """Dimension values that fell short of their target."""
        return [d for d in self.by if d.met is False]

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "by"}
        out["start"] = self.start.isoformat()
        out["by"] = [d.to_dict() for d in self.by]
        out["short"] = [d.dimensions for d in self.short]
        return out


@dataclass
class DataHealth:
    last_period: date | None  # the last period of the window with a value
    stale: bool  # no value in the window's last period
    failed_runs: int  # runs that computed this KPI and failed, in the window
    last_error: str | None = None

    def to_dict(self) -> dict:
        return {"last_period": None if self.last_period is None else self.last_period.isoformat(),
                "stale": self.stale, "failed_runs": self.failed_runs, "last_error": self.last_error}


@dataclass
class KpiReview:
    name: str
    label: str
    unit: str
    direction: str
    status: str
    since: str | None
    owner: str | None
    process_path: list[str]
    inputs: list[str]  # KPIs its formula names (the tree of the review page)
    values: list[float | None]  # at the review grain, one per window period
    trend: Trend
    attainment: list[PeriodAttainment] = field(default_factory=list)
    drivers: list[Share] = field(default_factory=list)  # its share in each formula KPI above it
    lead_lag: list[LeadLag] = field(default_factory=list)  # against each outcome KPI
    where: str | None = None  # the root-cause line of its own change over the window
    alerts: Any = None  # alerting's AlertStats, or None when its rules are unknown here
    data_health: DataHealth | None = None
    decisions: list[Any] = field(default_factory=list)  # ReviewEntry objects dated in the window
    suggestion: Suggestion | None = None
    is_outcome: bool = False

    def to_dict(self) -> dict:
        return {
            "kpi": self.name, "label": self.label, "unit": self.unit, "direction": self.direction,
            "status": self.status, "since": self.since, "owner": self.owner, "process_path": self.process_path,
            "inputs": self.inputs, "outcome": self.is_outcome, "values": self.values, "trend": self.trend.to_dict(),
            "attainment": [a.to_dict() for a in self.attainment],
            "drivers": [s.to_dict() for s in self.drivers], "lead_lag": [x.to_dict() for x in self.lead_lag],
            "where": self.where, "alerts": self.alerts.to_dict() if self.alerts is not None else None,
            "data_health": self.data_health.to_dict() if self.data_health else None,
            "decisions": [d.to_dict() for d in self.decisions],
            "suggestion": self.suggestion.to_dict() if self.suggestion else None,
        }


@dataclass
class Review:
    project: str
    start: date
    end: date
    grain: str
    periods: list[date]
    base: date | None
    outcomes: list[str]
    kpis: list[KpiReview]
    retired: list[dict]
    attributions: dict[str, Attribution]
    notes: list[str] = field(default_factory=list)

    def kpi(self, name: str) -> KpiReview:
        return next(k for k in self.kpis if k.name == name)

    @property
    def decisions(self) -> list[dict]:
        """Every decision recorded in the window, oldest first, with its KPI."""
        found = [dict(d.to_dict(), kpi=k.name) for k in self.kpis for d in k.decisions]
        found += [dict(d, kpi=r["kpi"]) for r in self.retired for d in r["decisions"]]
        return sorted(found, key=lambda d: (d["date"], d["kpi"]))

    def to_dict(self) -> dict:
        return {"project": self.project, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "grain": self.grain, "periods": [p.isoformat() for p in self.periods],
                "base": self.base.isoformat() if self.base else None, "outcomes": self.outcomes,
                "kpis": [k.to_dict() for k in self.kpis], "retired": self.retired, "decisions": self.decisions,
                "notes": self.notes}


# --------------------------------------------------------------------------- the window


def window_periods(start: date, end: date, grain: str, today: date) -> list[date]:
    """Periods of ``grain`` starting on or after ``start`` that are over by ``end`` and by today."""
    limit = min(end, today + timedelta(days=1))
    p = python_period_start(start, grain)
    if p < start:
        p = next_period(p, grain)
    out = []
    while next_period(p, grain) <= limit:
        out.append(p)
        p = next_period(p, grain)
    return out


def reviewed_kpis(project) -> list[str]:
    """The KPIs of the ``kpis:`` section (funnel steps are reviewed with their funnel, not one by one)."""
    written = project.section("kpis", {}) or {}
    return [name for name in project.kpis if name in written]


def outcome_kpis(project, names: Sequence[str] | None = None) -> list[str]:
    """Outcomes the KPIs are judged against: those named, else tagged ``outcome``, else the formula roots."""
    if names:
        unknown = [n for n in names if n not in project.kpis]
        if unknown:
            raise KpiEngineError(f"unknown outcome KPI(s): {', '.join(unknown)}")
        return list(names)
    mine = reviewed_kpis(project)
    tagged = [n for n in mine if OUTCOME_TAG in project.kpis[n].tags and project.kpis[n].status != "retired"]
    if tagged:
        return tagged
    used = {ref for n in mine if project.kpis[n].is_formula for ref in inputs_of(project, n)}
    return [n for n in mine if project.kpis[n].is_formula and n not in used and project.kpis[n].status != "retired"]


def inputs_of(project, name: str) -> list[str]:
    spec = project.kpis[name]
    return references(parse_formula(spec.formula)) if spec.is_formula else []


def steering_kpis(project, outcomes: Sequence[str]) -> set[str]:
    """The outcomes and the formula KPIs inside their trees (conversion inside performance)."""
    found = set(outcomes)
    for name in outcomes:
        if project.kpis[name].is_formula and not reads_other_periods(project.kpis[name].formula):
            found |= {ref for ref in _named_nodes(kpi_tree(project, name)) if project.kpis[ref].is_formula}
    return found


def _named_nodes(node) -> set[str]:
    names = {node.name} if node.name else set()
    for _, child in node.terms:
        names |= _named_nodes(child)
    return names


def kpi_tree(project, name: str):
    """The formula tree of a KPI, expanded through the formula KPIs it uses (rootcause's Node)."""
    def expand(ref: str) -> str | None:
        k = project.kpis.get(ref)
        return k.formula if k is not None and k.is_formula else None

    return formula_tree(project.kpis[name].formula, expand=expand, name=name)


# --------------------------------------------------------------------------- attainment


class _Values:
    """Engine results for the attainment checks: one request per (grain, breakdown, range) for every KPI needing it."""

    def __init__(self, engine):
        self.engine = engine
        self.wanted: dict[tuple, set[str]] = {}
        self.cache: dict[tuple, dict[tuple, float | None]] = {}

    def want(self, name: str, grain: str, by: tuple[str, ...], start: date, end: date) -> None:
        self.wanted.setdefault((grain, by, start, end), set()).add(name)

    def get(self, name: str, grain: str, by: tuple[str, ...], start: date, end: date) -> dict[tuple, Any]:
        """{(period start, dimension values): value} of ``name`` (after :meth:`want` for the same request)."""
        key = (grain, by, start, end)
        if key not in self.cache:
            rs = self.engine.compute(sorted(self.wanted[key]), grain=grain, by=list(by), start=start, end=end)
            found: dict[tuple, Any] = {}
            for r in rs.rows:
                found[(r.kpi, r.period_start, tuple(r.dimensions.get(d) for d in by))] = r.value
            self.cache[key] = found
        return {(p, dims): v for (k, p, dims), v in self.cache[key].items() if k == name}


def _target_periods(spec, start: date, end: date, grain: str, periods: list[date]) -> list[tuple[str, date, str]]:
    """(label, start, grain) of the periods to judge: written targets overlapping the window, else each period."""
    written = [(e.label, e.start, e.grain) for e in spec.targets if e.start < end and start < next_period(e.start,
                                                                                                          e.grain)]
    if written:
        return written
    if spec.target is not None:
        return [(p.isoformat(), p, grain) for p in periods]
    return []


def _judged_dimensions(project, spec, additive: bool, by: Sequence[str]) -> list[str]:
    dims = {d for e in spec.targets for d in e.by_dimension}
    if isinstance(spec.target, dict):
        dims |= set(spec.target)
    if not additive:
        dims |= {d for d in by if d in available_dimensions(project, spec.name)}
    return sorted(dims)


def judge_targets(engine, names: Sequence[str], start: date, end: date, grain: str, periods: list[date],
                  today: date, by: Sequence[str] = ()) -> dict[str, list[PeriodAttainment]]:
    """Attainment of every target period overlapping the window, per KPI, with per-dimension values.

    Dimensions judged: those the targets name per value, and ``by`` for rates
    and averages (a region's conversion against the company's target). The
    values come from one request per grain and breakdown over the window (to
    today at most), so each period's value is its part inside the window.
    """
    project = engine.project
    values = _Values(engine)
    limit = min(end, today + timedelta(days=1))
    plan = []
    for name in names:
        spec = project.kpis[name]
        additive = additive_over_time(project, name)
        dims = _judged_dimensions(project, spec, additive, by)
        for label, p_start, p_grain in _target_periods(spec, start, end, grain, periods):
            p_end = next_period(p_start, p_grain)
            lo, hi = max(p_start, start), min(p_end, limit)
            if hi <= lo:
                continue  # the period has not begun yet (a target set for next quarter)
            span = (start, limit)  # one request per grain and breakdown: each period comes back clipped to it
            for breakdown in [(), *((d,) for d in dims)]:
                values.want(name, p_grain, breakdown, *span)
            plan.append((name, spec, additive, dims, label, p_start, p_grain, span, (p_end - p_start).days,
                         (hi - lo).days))
    out: dict[str, list[PeriodAttainment]] = {name: [] for name in names}
    for name, spec, additive, dims, label, p_start, p_grain, span, days, covered in plan:
        total = values.get(name, p_grain, (), *span).get((p_start, ()))
        row = _judged(project, spec, label, p_start, p_grain, total, {}, days, covered, additive)
        for dim in dims:
            found = values.get(name, p_grain, (dim,), *span)
            for (period, (value,)), v in sorted(found.items(), key=lambda kv: str(kv[0][1])):
                if period != p_start:
                    continue
                judged = _judged(project, spec, label, p_start, p_grain, v, {dim: value}, days, covered, additive)
                if judged.target is not None:
                    row.by.append(DimensionAttainment({dim: value}, v, judged.target, judged.attainment, judged.met))
        out[name].append(row)
    return out


def _judged(project, spec, label, p_start, p_grain, value, dims, days, covered, additive) -> PeriodAttainment:
    found = target_at(project, spec.name, p_start, p_grain, dims)
    target = None if found is None else found.value
    if target is not None and additive and covered < days:
        target = target * covered / days  # a total over part of the period is judged on pace
    return PeriodAttainment(label, p_start, p_grain, value, target, found.source if found else None,
                            attainment(value, target, spec.direction), met(value, target, spec.direction),
                            covered < days, days, covered)


# --------------------------------------------------------------------------- the review


def _data_health(project, name: str, values: list[float | None], periods: list[date], runs: list[dict],
                 start: date, end: date) -> DataHealth:
    """Freshness from the values; failed runs (started in the window) from the history store."""
    seen = [p for p, v in zip(periods, values) if v is not None]
    failed, last_error = 0, None
    for run in runs:  # newest first
        if run["status"] != "error" or not start.isoformat() <= (run["started_at"] or "")[:10] < end.isoformat():
            continue
        asked = json.loads(run["kpis"] or "[]")
        if not asked or name in asked:
            failed += 1
            last_error = last_error or run["error"]
    return DataHealth(seen[-1] if seen else None, bool(periods) and (not seen or seen[-1] != periods[-1]),
                      failed, last_error)


def _runs(project) -> list[dict]:
    """The runs recorded in the history file; none when there is no file (a review never creates one)."""
    path = os.environ.get("KPIENGINE_HISTORY") or project.history_path
    if path != ":memory:" and not os.path.isabs(path):
        path = os.path.join(project.folder, path)
    if path == ":memory:" or not os.path.exists(path):
        return []
    return HistoryStore(path).runs(limit=100000)


def build_review(engine, start: date, end: date, *, grain: str = "week", kpis: Sequence[str] | None = None,
                 outcomes: Sequence[str] | None = None, by: Sequence[str] = (), today: date | None = None,
                 alert_stats: dict[str, Any] | None = None, locate: bool = True) -> Review:
    """The review of ``kpis`` (default: every KPI of the spec) over [start, end)."""
    project = engine.project
    today = today or date.today()
    if end <= start:
        raise KpiEngineError(f"the review window is empty: --to {end} is not after --from {start}")
    periods = window_periods(start, end, grain, today)
    if not periods:
        raise KpiEngineError(f"no complete {grain} between {start} and {end} (periods still running are not "
                             f"final): widen the window or use a finer --grain")
    base = previous_period(periods[0], grain)
    mine = reviewed_kpis(project)
    chosen = list(kpis) if kpis else mine
    unknown = [k for k in chosen if k not in project.kpis]
    if unknown:
        engine.resolve_kpis(unknown)  # raises the usual "unknown KPI, did you mean" error
    outcome_names = outcome_kpis(project, outcomes)
    rs = engine.compute(None, grain=grain, by=[], start=base, end=next_period(periods[-1], grain))
    table: dict[date, dict[str, float | None]] = {}
    for r in rs.rows:
        table.setdefault(r.period_start, {})[r.kpi] = r.value
    span = [base] + periods
    series = {name: [table.get(p, {}).get(name) for p in span] for name in project.kpis}

    attributions: dict[str, Attribution] = {}
    for name in mine:
        spec = project.kpis[name]
        # A formula over other periods (revenue / revenue[-1]) has no per-period driver tree.
        if spec.is_formula and spec.status != "retired" and not reads_other_periods(spec.formula):
            attributions[name] = attribute(name, kpi_tree(project, name), span, table, project.kpis)
    judged = judge_targets(engine, [k for k in chosen if project.kpis[k].status != "retired"], start, end, grain,
                           periods, today, by)
    runs = _runs(project)
    directions = {n: k.direction for n, k in project.kpis.items()}
    steering = steering_kpis(project, outcome_names)
    out: list[KpiReview] = []
    retired: list[dict] = []
    for name in chosen:
        spec = project.kpis[name]
        in_window = [e for e in spec.review if start <= e.date < end]
        if spec.status == "retired":
            retired.append({"kpi": name, "label": spec.label, "since": spec.since,
                            "decisions": [e.to_dict() for e in in_window],
                            "last_decision": spec.review[-1].to_dict() if spec.review else None})
            continue
        values = series[name][1:]
        kr = KpiReview(name, spec.label, spec.unit, spec.direction, spec.status, spec.since, spec.owner,
                       project.kpi_path(name), inputs_of(project, name), values, trend(values),
                       judged.get(name, []), is_outcome=name in outcome_names)
        kr.drivers = sorted((a.shares[name] for a in attributions.values() if name in a.shares),
                            key=lambda s: (not s.direct, -(s.weight or 0.0)))
        kr.lead_lag = [found for o in outcome_names if o != name
                       for found in [lead_lag(name, o, series[name], series[o], max_lag=max(0, min(4,
                                                                                                len(span) // 4)))]
                       if found is not None]
        kr.alerts = (alert_stats or {}).get(name)
        kr.data_health = _data_health(project, name, values, periods, runs, start, end)
        kr.decisions = in_window
        kr.suggestion = suggest(kr, attributions, directions, steering)
        if locate and kr.suggestion.drives and spec.dimensions:
            kr.where = locate_change(engine, name, base, periods[-1], spec.dimensions, grain)
        out.append(kr)
    review = Review(project.name, start, end, grain, periods, base, outcome_names, out, retired, attributions)
    if periods[-1] < python_period_start(min(end, today), grain) and end > today:
        review.notes.append(f"the {grain} of {python_period_start(today, grain)} is still running: not reviewed")
    return review


def locate_change(engine, name: str, base: date, last: date, dims: Sequence[str], grain: str) -> str | None:
    """The root-cause line of the KPI's change from the base period to the last one (which value moved it)."""
    try:
        # the first two declared dimensions: enough to name where, at 2 x 3 requests
        return summary_text(explain(engine, name, base, last, list(dims)[:2], grain=grain))
    except SpecError:
        return None
