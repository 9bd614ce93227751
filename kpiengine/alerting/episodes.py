"""What a KPI's alerts did over a review window, read from the alert state store.

An *episode* is one alert (rule and dimension values) from the ``firing``
transition to the ``resolved`` one, as ``kpi check`` logged them in
``alert_events``. For the review it answers: how often did the KPI's rules
fire, how long did alerts stay open (in periods of the rule's grain and in
hours of wall-clock time), and how many were acted on (someone recorded what
they did with ``kpi ack``) or silenced (a silence matching the alert was in
force while it fired). An episode still firing at the end of the window is
*open*; its duration so far is reported as such.

Episodes are counted in the window when the period they fired for starts in it.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

from . import periods as P
from .acks import list_acks
from .rules import Rule, parse_rules
from .silences import list_silences
from .state import AlertStore, history_file


@dataclass
class Episode:
    rule: str
    kpi: str
    key: str
    dimensions: dict
    severity: str | None
    fired_period: date
    fired_at: float
    resolved_period: date | None = None
    resolved_at: float | None = None
    silenced: bool = False
    acted_on: bool = False

    @property
    def open(self) -> bool:
        return self.resolved_period is None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "kpi": self.kpi, "dimensions": self.dimensions, "severity": self.severity,
                "fired_period": self.fired_period.isoformat(), "resolved_period":
                None if self.resolved_period is None else self.resolved_period.isoformat(),
                "open": self.open, "silenced": self.silenced, "acted_on": self.acted_on}


@dataclass
class AlertStats:
    """A KPI's alerting over the window (every number is a count of episodes unless it says otherwise)."""

    kpi: str
    rules: list[str] = field(default_factory=list)
    fired: int = 0
    critical: int = 0
    still_open: int = 0
    acted_on: int = 0
    silenced: int = 0
    mean_open_periods: float | None = None  # resolved episodes, in periods of the rule's grain
    mean_open_hours: float | None = None  # resolved episodes, wall-clock hours from firing to resolved
    episodes: list[Episode] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "episodes"}
        out["episodes"] = [e.to_dict() for e in self.episodes]
        return out


def episodes_from_events(events: Iterable[dict], rules: dict[str, Rule]) -> list[Episode]:
    """Firing-to-resolved episodes from ``alert_events`` rows in id order (rules not in ``rules`` skipped)."""
    open_ones: dict[tuple[str, str], Episode] = {}
    done: list[Episode] = []
    for ev in events:
        rule = rules.get(ev["rule"])
        if rule is None or not ev.get("period"):
            continue
        k = (ev["rule"], ev["key"])
        transition = ev["transition"]
        if transition == "firing" and k not in open_ones:
            open_ones[k] = Episode(rule.name, rule.kpi, ev["key"], json.loads(ev["key"]) if ev["key"] else {},
                                   ev["severity"], P.as_date(ev["period"]), ev["at"])
        elif transition in ("escalated", "deescalated") and k in open_ones:
            episode = open_ones[k]
            if transition == "escalated":
                episode.severity = ev["severity"]
        elif transition == "resolved" and k in open_ones:
            episode = open_ones.pop(k)
            episode.resolved_period, episode.resolved_at = P.as_date(ev["period"]), ev["at"]
            done.append(episode)
    return sorted(done + list(open_ones.values()), key=lambda e: (e.fired_period, e.rule, e.key))


def _labels(episode: Episode, rule: Rule) -> dict[str, str]:
    labels = {"rule": rule.name, "kpi": rule.kpi, "severity": episode.severity or "", **rule.labels}
    labels.update({k: "" if v is None else str(v) for k, v in episode.dimensions.items()})
    return labels


def periods_open(episode: Episode, grain: str, until: date) -> int:
    """Periods of ``grain`` from the one that fired to the one that resolved (or ``until``), at least 1."""
    end = episode.resolved_period or until
    n, p = 0, episode.fired_period
    while p < end:
        n, p = n + 1, P.shift(p, grain, 1)
    return max(1, n)


def alert_statistics(con: sqlite3.Connection, rules: dict[str, Rule], start: date, end: date,
                     now: float | None = None) -> dict[str, AlertStats]:
    """Per KPI watched by ``rules``: its episodes that fired in [start, end) and their statistics."""
    now = time.time() if now is None else now
    events = [dict(r) for r in con.execute("SELECT * FROM alert_events ORDER BY id")]
    silences = list_silences(con, include_expired=True, now=now)
    acks = list_acks(con)
    stats: dict[str, AlertStats] = {}
    for rule in rules.values():
        stats.setdefault(rule.kpi, AlertStats(rule.kpi)).rules.append(rule.name)
    for episode in episodes_from_events(events, rules):
        if not start <= episode.fired_period < end:
            continue
        rule = rules[episode.rule]
        until = episode.resolved_at if episode.resolved_at is not None else now
        labels = _labels(episode, rule)
        episode.silenced = any(s.matches(labels) and s.starts_at < until
                               and episode.fired_at < min(s.ends_at, s.expired_at or s.ends_at) for s in silences)
        episode.acted_on = any(a.rule == episode.rule and a.key == episode.key
                               and a.period >= episode.fired_period
                               and (episode.resolved_period is None or a.period <= episode.resolved_period)
                               for a in acks)
        s = stats[episode.kpi]
        s.episodes.append(episode)
    for s in stats.values():
        eps = s.episodes
        s.fired = len(eps)
        s.critical = sum(e.severity == "critical" for e in eps)
        s.still_open = sum(e.open for e in eps)
        s.acted_on = sum(e.acted_on for e in eps)
        s.silenced = sum(e.silenced for e in eps)
        resolved = [e for e in eps if not e.open]
        if resolved:
            s.mean_open_periods = sum(periods_open(e, rules[e.rule].grain, end) for e in resolved) / len(resolved)
            s.mean_open_hours = sum((e.resolved_at - e.fired_at) / 3600 for e in resolved) / len(resolved)
    return stats


def project_alert_statistics(project, start: date, end: date, now: float | None = None) -> dict[str, AlertStats]:
    """:func:`alert_statistics` for a project's rules and its history file.

    Rules of retired KPIs count too (their episodes before the retirement are
    part of the review). Without a history file (no ``kpi check`` ran yet)
    every KPI with rules gets empty statistics.
    """
    rules, _issues = parse_rules(project.section("rules", {}), project)
    path = history_file(project)
    if not path.exists():
        return {r.kpi: AlertStats(r.kpi, [n for n, x in rules.items() if x.kpi == r.kpi]) for r in rules.values()}
    store = AlertStore.open(path)
    try:
        return alert_statistics(store.con, rules, start, end, now)
    finally:
        store.close()
