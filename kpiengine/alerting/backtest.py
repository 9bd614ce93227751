"""``kpi backtest RULE --from --to``: when would this rule have fired, resolved, and paged?

Values come from the warehouse through the engine (default) or from the local
history store (``--history``); the rule is replayed with one check per period,
from a trailing window before ``--from`` (so baselines exist on day one) to ``--to``.
Nothing is written: no state, no outbox.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from ..errors import KpiEngineError
from . import periods as P
from .evaluate import ValueTable, sample_kpi
from .routing import Routing
from .rules import Rule
from .simulate import period_list, simulate


@dataclass
class Episode:
    dimensions: dict
    fired: str
    severity: str
    resolved: str | None = None
    peak_value: float | None = None


@dataclass
class BacktestReport:
    rule: str
    kpi: str
    grain: str
    start: date
    end: date
    periods: int
    transitions: list[dict] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    notifications: int = 0
    notifications_by_route: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"rule": self.rule, "kpi": self.kpi, "grain": self.grain, "from": self.start.isoformat(),
                "to": self.end.isoformat(), "periods": self.periods, "transitions": self.transitions,
                "episodes": [e.__dict__ for e in self.episodes], "notifications": self.notifications,
                "notifications_by_route": self.notifications_by_route}

    def to_text(self) -> str:
        lines = [f"rule {self.rule} on {self.kpi} ({self.grain}), {self.start} to {self.end}: "
                 f"{self.periods} periods, {len(self.episodes)} firing episode(s), "
                 f"{self.notifications} notification(s) would have been sent"]
        for route, n in sorted(self.notifications_by_route.items()):
            lines.append(f"  route {route}: {n}")
        if self.episodes:
            lines.append("")
            lines.append("fired       resolved    severity  dimensions")
            for e in self.episodes:
                dims = ", ".join(f"{k}={v}" for k, v in e.dimensions.items()) or "-"
                lines.append(f"{e.fired:<11} {e.resolved or 'still firing':<11} {e.severity:<9} {dims}")
        else:
            lines.append("it would not have fired in this range")
        return "\n".join(lines) + "\n"


def backtest(project, rule: Rule, start: date, end: date, fetch, routing: Routing | None = None
             ) -> BacktestReport:
    if end <= start:
        raise KpiEngineError(f"backtest range is empty: --to {end} must be after --from {start}")
    if rule.model and rule.type == "freshness":
        raise KpiEngineError(f"rule '{rule.name}' watches how fresh model '{rule.model}' is now: there is no past "
                             "to replay (backtest replays rules on KPI values)")
    if rule.type == "check":
        raise KpiEngineError(f"rule '{rule.name}' is a data check of model '{rule.model}', judged on its last "
                             "complete day by `kpi check`: backtest replays rules on KPI values")
    periods = period_list(start, end, rule.grain)
    if not periods:
        raise KpiEngineError(f"no whole {rule.grain} between {start} and {end}")
    warmup = rule.lookback + rule.for_periods
    kpis = [rule.kpi]
    sample = sample_kpi(rule, project.kpis.get(rule.kpi)) if (rule.min_sample is not None or rule.significance) else None
    if sample:
        kpis.append(sample)
    filtered = {"where": rule.where} if rule.where else {}  # the KPI under the rule's filter
    rows = fetch(rule.grain, list(rule.by), kpis, P.shift(periods[0], rule.grain, -warmup),
                 P.shift(periods[-1], rule.grain, 1), **filtered)
    table = ValueTable(rows)
    table.drop_partial()  # a replay judges the periods it was asked for (maturing cohorts still wait)
    steps = simulate(project, [rule], table, periods, routing)
    report = BacktestReport(rule.name, rule.kpi, rule.grain, start, end, len(periods))
    open_episodes: dict[str, Episode] = {}
    for step in steps:
        for _rule, key, transition, st in step.transitions:
            report.transitions.append({"period": step.period.isoformat(), "dimensions": st.dimensions,
                                       "transition": transition, "severity": st.severity, "value": st.value,
                                       "baseline": st.baseline})
            if transition == "firing":
                ep = Episode(dict(st.dimensions), step.period.isoformat(), st.severity or "", peak_value=st.value)
                open_episodes[key] = ep
                report.episodes.append(ep)
            elif transition in ("escalated",) and key in open_episodes:
                open_episodes[key].severity = st.severity or open_episodes[key].severity
            elif transition == "resolved" and key in open_episodes:
                open_episodes.pop(key).resolved = step.period.isoformat()
        for route, _gkey, _items in step.notifications:
            report.notifications += 1
            report.notifications_by_route[route] = report.notifications_by_route.get(route, 0) + 1
    return report


def report_json(report: BacktestReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)
