"""Alert states, silences, fired periods and threshold lines, read from the alerting tables.

``kpi check`` (kpiengine.alerting) keeps its state in the history file; this
module only reads it, through a read-only SQLite connection, so opening the
dashboard never creates tables or takes a write lock that would stall a check.
"""
from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone

from ..alerting.machine import AlertState
from ..alerting.model_rules import check_rules
from ..alerting.rules import load_rules
from ..alerting.silences import silence_from_row, silenced_by
from ..alerting.state import history_file
from ..errors import KpiEngineError
from ..spec.model import Project
from .inputs import AlertRecord, AlertSnapshot, Threshold

FIRED_TRANSITIONS = ("firing", "escalated")


def _rules(project: Project) -> tuple[dict, str | None]:
    checks = check_rules(project)  # the `checks:` section's data checks are rules too (model health)
    if not project.section("rules"):
        return checks, None
    try:
        return {**load_rules(project), **checks}, None
    except KpiEngineError as exc:
        return checks, f"the alert rules are invalid, run `kpi validate`: {str(exc).splitlines()[0]}"


def thresholds_of(rules: dict, grain: str, project: Project | None = None) -> list[Threshold]:
    """Static limits, and target-rule limits turned into values, for rules at this grain."""
    out: list[Threshold] = []
    for rule in rules.values():
        if not getattr(rule, "enabled", True) or rule.grain != grain or getattr(rule, "where", None):
            continue  # a filtered rule's limits are for the filtered values, not the trend drawn
        target = rule.target
        if target is None and project is not None and rule.kpi in project.kpis:
            target = project.kpis[rule.kpi].target  # a target rule without its own target uses the KPI's
        for severity, cond in rule.conditions:
            if rule.type == "static":
                if cond.op == "above":
                    out.append(Threshold(rule.kpi, severity, "above", value=cond.low, rule=rule.name))
                elif cond.op == "below":
                    out.append(Threshold(rule.kpi, severity, "below", value=cond.high, rule=rule.name))
                else:
                    out.append(Threshold(rule.kpi, severity, cond.op, low=cond.low, high=cond.high, rule=rule.name))
            elif rule.type == "target" and isinstance(target, (int, float)) and cond.op in ("above", "below"):
                # target rules test attainment (value / target): draw the value where it trips
                bound = cond.low if cond.op == "above" else cond.high
                out.append(Threshold(rule.kpi, severity, cond.op, value=bound * float(target), rule=rule.name))
    return out


def labels_of(rule, kpi: str, severity: str | None, dimensions: dict) -> dict[str, str]:
    """The labels a silence matches on: kpi, rule, severity, the rule's labels and dimension values."""
    labels = {"kpi": kpi, "rule": rule.name if rule else "", "severity": severity or ""}
    if rule is not None:
        labels.update({k: str(v) for k, v in (rule.labels or {}).items()})
    labels.update({k: str(v) for k, v in dimensions.items()})
    return labels


def _table_exists(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def load_alerts(project: Project, grain: str, now: float | None = None) -> tuple[AlertSnapshot, str | None]:
    """A snapshot of alerting for the dashboard, and a note when part of it is unavailable."""
    snapshot = AlertSnapshot()
    rules, note = _rules(project)
    snapshot.thresholds = thresholds_of(rules, grain, project)
    path = history_file(project)
    if not path.exists():
        return snapshot, note or "no alert has been evaluated yet: run `kpi check`"
    now = time.time() if now is None else now
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        con.row_factory = sqlite3.Row
        try:
            if not _table_exists(con, "alert_state"):
                return snapshot, note or "no alert has been evaluated yet: run `kpi check`"
            states = [AlertState.from_dict(json.loads(r["data"])) for r in con.execute("SELECT data FROM alert_state")]
            silences = []
            if _table_exists(con, "alert_silences"):
                silences = [silence_from_row(r) for r in con.execute("SELECT * FROM alert_silences ORDER BY id")]
            events = []
            if _table_exists(con, "alert_events"):
                events = [dict(r) for r in con.execute(
                    "SELECT rule, key, period, transition, severity, value FROM alert_events ORDER BY id")]
        finally:
            con.close()
    except sqlite3.Error as exc:
        return snapshot, f"cannot read the alert state: {exc}"

    by_key = {(st.rule, st.key): st for st in states}
    for st in states:
        rule = rules.get(st.rule)
        if rule is None or not st.active:
            continue  # a rule removed from the spec, or an alert that is not pending/firing
        labels = labels_of(rule, rule.kpi, st.severity, st.dimensions)
        snapshot.active.append(AlertRecord(
            rule=st.rule, kpi=rule.kpi, state=st.state, severity=st.severity or rule.max_severity,
            dimensions=dict(st.dimensions), since=st.since, period_start=st.last_period,
            value=st.value, threshold=st.threshold, message=st.note,
            silenced=silenced_by(labels, silences, now) is not None, where=getattr(rule, "where", None)))
    snapshot.evaluated = max((st.last_period[:10] for st in states
                              if st.last_period and st.rule in rules and rules[st.rule].grain == grain), default=None)
    snapshot.events = [dict(ev, kpi=rules[ev["rule"]].kpi) for ev in events
                       if ev["rule"] in rules and rules[ev["rule"]].grain == grain and ev["period"]]
    snapshot.states = {(st.rule, st.key): st for st in states if st.rule in rules}
    snapshot.silence_list = silences
    snapshot.rules = rules
    for ev in events:
        rule = rules.get(ev["rule"])
        st = by_key.get((ev["rule"], ev["key"]))
        if rule is None or rule.grain != grain or not ev["period"] or ev["transition"] not in FIRED_TRANSITIONS:
            continue
        if getattr(rule, "where", None):
            continue  # fired on the filtered KPI: no triangle on the unfiltered trend
        snapshot.fired.append({"kpi": rule.kpi, "rule": ev["rule"], "period_start": ev["period"][:10],
                               "severity": ev["severity"], "dimensions": dict(st.dimensions) if st else {}})
    snapshot.silences = [{"id": s.id, "matchers": s.matchers, "comment": s.reason, "created_by": s.created_by,
                          "starts_at": _iso(s.starts_at), "ends_at": _iso(s.ends_at)}
                         for s in silences if s.active(now)]
    snapshot.available = True
    return snapshot, note


ACTIVE_AFTER = {"pending": "pending", "firing": "firing", "escalated": "firing", "deescalated": "firing"}


def as_of(snapshot: AlertSnapshot, period: str | None, now: float | None = None,
          grain: str | None = None) -> AlertSnapshot:
    """The alert states as they stood when ``period`` was evaluated, replayed from the alert log.

    ``kpi check`` keeps one state per alert (now) and a log of transitions, each
    with the period it judged. For a period before the latest one evaluated, the
    state of an alert is the one its last transition at or before that period
    left it in; the page then says "as of W43" instead of showing today's
    states next to last month's numbers. ``scope`` says which it is, and
    ``known`` is False when the log does not reach back to that period.
    """
    if not snapshot.available or period is None or snapshot.evaluated is None or period >= snapshot.evaluated:
        snapshot.scope = "now"
        return snapshot
    now = time.time() if now is None else now
    past = AlertSnapshot(available=True, fired=snapshot.fired, thresholds=snapshot.thresholds,
                         silences=snapshot.silences)
    past.evaluated, past.scope, past.rules = snapshot.evaluated, "as_of", snapshot.rules
    # Known when every rule had judged the period. The log holds transitions only (a period judged
    # all quiet leaves no event); each state also keeps the one before its last evaluation
    # (``prior``), whose period that rule judged too. One `kpi check` judges the latest period
    # (and the one before for rules with `for:`), so the week before is known only for those.
    earliest: dict[str, str] = {}
    for st in snapshot.states.values():
        rule = snapshot.rules.get(st.rule)
        if rule is None or (grain is not None and rule.grain != grain):
            continue
        first = (st.prior or {}).get("last_period") or st.last_period
        if first:
            earliest[st.rule] = min(earliest.get(st.rule, first[:10]), first[:10])
    for ev in snapshot.events:
        if ev["rule"] in earliest:
            earliest[ev["rule"]] = min(earliest[ev["rule"]], ev["period"][:10])
    past.known = bool(earliest) and all(first <= period for first in earliest.values())
    last: dict[tuple, dict] = {}
    since: dict[tuple, str] = {}
    for ev in snapshot.events:
        if ev["period"][:10] > period:
            continue
        key = (ev["rule"], ev["key"])
        if ACTIVE_AFTER.get(ev["transition"]) != ACTIVE_AFTER.get(last.get(key, {}).get("transition")):
            since[key] = ev["period"][:10]
        last[key] = ev
    for key, ev in last.items():
        state = ACTIVE_AFTER.get(ev["transition"])
        if state is None:
            continue  # resolved or cleared by then
        rule = snapshot.rules[ev["rule"]]
        current = snapshot.states.get(key)
        dims = dict(current.dimensions) if current else _dims_of(ev["key"])
        labels = labels_of(rule, rule.kpi, ev["severity"], dims)
        past.active.append(AlertRecord(
            rule=ev["rule"], kpi=rule.kpi, state=state, severity=ev["severity"] or rule.max_severity,
            dimensions=dims, since=since.get(key), period_start=ev["period"][:10], value=ev["value"],
            silenced=silenced_by(labels, snapshot.silence_list, now) is not None, where=getattr(rule, "where", None)))
    return past


def _dims_of(key: str) -> dict:
    try:
        value = json.loads(key)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _iso(ts: float) -> str:

    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="minutes")
