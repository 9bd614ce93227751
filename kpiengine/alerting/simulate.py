"""Replay rules over a sequence of periods in memory: shared by ``kpi test`` and ``kpi backtest``.

It drives the very functions ``kpi check`` uses (evaluate, advance, routing,
needs_notification), with one check per period and the period's start as the
clock, so what a test or backtest says is what production would do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from . import periods as P
from .evaluate import ValueTable, evaluate
from .machine import AlertState, advance
from .notify import AlertView, group_key, needs_notification
from .routing import Routing
from .rules import Rule
from .inhibition import hidden_alerts


@dataclass
class Step:
    period: date
    states: dict[tuple[str, str], AlertState]  # (rule, key) -> state after this period
    transitions: list[tuple[str, str, str, AlertState]] = field(default_factory=list)  # rule, key, transition
    notifications: list[tuple[str, tuple, list[tuple[str, str, str]]]] = field(default_factory=list)


def period_clock(p: date) -> float:
    return datetime.combine(p, time(), tzinfo=timezone.utc).timestamp()


def simulate(project, rules: list[Rule], table: ValueTable, periods: list[date],
             routing: Routing | None = None) -> list[Step]:
    states: dict[tuple[str, str], AlertState] = {}
    known: dict[str, dict[str, dict]] = {r.name: {} for r in rules}
    sent: dict[tuple[str, str, str], dict] = {}
    steps = []
    for p in periods:
        step = Step(p, {})
        for rule in rules:
            spec = project.kpis.get(rule.kpi) if project is not None else None
            for o in evaluate(rule, table, p, spec, known[rule.name]):
                prev = states.get((rule.name, o.key)) or AlertState(rule.name, o.key, o.dimensions)
                new, transition = advance(rule, prev, o)
                states[(rule.name, o.key)] = new
                known[rule.name].setdefault(o.key, o.dimensions)
                if transition:
                    step.transitions.append((rule.name, o.key, transition, new))
        step.states = dict(states)
        if routing is not None:
            _notify(project, rules, states, routing, sent, period_clock(p), step)
        steps.append(step)
    return steps


def _notify(project, rules, states, routing, sent, now, step) -> None:
    by_name = {r.name: r for r in rules}
    views = [AlertView(by_name[r], st, project.kpis.get(by_name[r].kpi) if project else None)
             for (r, _k), st in states.items()]
    hidden = hidden_alerts(views, routing.inhibit_rules)
    for v in views:
        v.inhibited = (v.rule.name, v.state.key) in hidden
    groups: dict[tuple, list] = {}
    for v in views:
        if v.state.flapping:  # held, as kpi check holds them
            continue
        for route in routing.routes_for(v.labels):
            log_key = (route.name, v.rule.name, v.state.key)
            status = needs_notification(v, route, sent.get(log_key), now)
            if status is None:
                continue
            sent[log_key] = {"status": "resolved" if status == "forget" else status,
                             "severity": v.state.severity, "sent_at": now}
            if status != "forget":
                groups.setdefault((route.name, group_key(route, v.labels)), []).append(
                    (v.rule.name, v.state.key, status))
    for (route_name, gkey), items in sorted(groups.items(), key=lambda kv: str(kv[0])):
        step.notifications.append((route_name, gkey, items))


def period_list(start: date, end: date, grain: str) -> list[date]:
    """Period starts from ``start`` up to, not including, ``end``."""
    out, p = [], P.truncate(start, grain)
    while p < end:
        out.append(p)
        p = P.shift(p, grain, 1)
    return out
