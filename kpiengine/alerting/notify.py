"""From alert states to notifications: message fields, items, grouping per route.

Each route groups its alerts by ``group_by`` labels: one ``kpi check`` with
twenty regions dropping sends one message per route and group, listing them all.
An alert is (re)sent on a route when it starts firing or changes severity, when
``repeat_interval`` has passed while it still fires, and once when it resolves
(``send_resolved``); the log of what was sent lives in the same transaction as
the states (see state.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..sinks import AlertItem, Notification
from .links import dashboard_link
from .machine import SEVERITY_RANK, AlertState
from .routing import Route
from .rules import Rule
from .templates import format_change, format_value, render


@dataclass
class AlertView:
    """One alert after a check, with what decides whether it is sent."""

    rule: Rule
    state: AlertState
    kpi_spec: Any = None
    transition: str | None = None
    silenced_by: int | None = None
    inhibited: bool = False
    template_error: str | None = None
    drivers: str | None = None  # "region east explains 72 % of it" (rules with explain: true)
    muted_on: dict[str, str] | None = None  # route -> why it sends nothing now (time intervals)
    flapping: bool = False  # changed state too often lately: notifications held (see flapping.py)

    @property
    def labels(self) -> dict[str, str]:
        labels = {"rule": self.rule.name, "kpi": self.rule.kpi, "severity": self.state.severity or "",
                  **self.rule.labels}
        if self.rule.where:  # routes and silences can tell a filtered rule's alerts apart
            labels["where"] = self.rule.where
        labels.update({k: "" if v is None else str(v) for k, v in self.state.dimensions.items()})
        return labels

    @property
    def suppressed(self) -> bool:
        return self.silenced_by is not None or self.inhibited


def threshold_level(rule: Rule, st: AlertState) -> float | None:
    """The crossed threshold in the KPI's own units (e.g. conversion 16 %), for people to read."""
    t = st.threshold
    if t is None:
        return None
    if rule.type in ("static", "freshness", "check"):
        return t
    if rule.type == "target":
        return None if st.baseline is None else st.baseline * t
    if rule.type == "change":
        if st.baseline is None:
            return None
        return st.baseline + t if rule.change == "absolute" else st.baseline + abs(st.baseline) * t
    # anomaly: measure = (value - median) / scale
    if st.measure and st.value is not None and st.baseline is not None and abs(st.measure) != float("inf"):
        scale = (st.value - st.baseline) / st.measure
        return st.baseline + t * scale
    return None


def message_fields(view: AlertView, project=None) -> dict[str, Any]:
    rule, st, spec = view.rule, view.state, view.kpi_spec
    unit = getattr(spec, "unit", None)
    path = project.kpi_path(rule.kpi) if project is not None else []
    cond = next((c for s, c in rule.conditions if s == st.severity), None)
    fields = {
        "kpi": rule.kpi, "kpi_label": getattr(spec, "label", None) or rule.kpi, "rule": rule.name,
        "severity": st.severity or "", "status": st.state, "period": st.last_period or "",
        "value": format_value(st.value, unit), "baseline": format_value(st.baseline, unit),
        "change": format_change(relative_change(st), "percent") if rule.type != "change" or rule.change == "percent"
        else format_change(st.change, "absolute", unit),
        "threshold": format_value(threshold_level(rule, st), unit),
        "condition": _describe(rule, cond, unit) if cond else "",
        "process_path": " > ".join(path), "owner": getattr(spec, "owner", None) or "",
        "playbook": (getattr(spec, "playbook", None) or "").strip(), "description": rule.description,
        "dimensions": ", ".join(f"{k}={v}" for k, v in st.dimensions.items()),
        "sample": "n/a" if st.sample is None else f"{st.sample:g}",
        "p_value": "n/a" if st.p_value is None else f"{st.p_value:.3g}", "unit": unit or "",
        "drivers": view.drivers or "",
        "filter": rule.where or "",  # the rule's `where:`: the value is the KPI under it
    }
    for k, v in st.dimensions.items():
        fields.setdefault(k, "(none)" if v is None else str(v))
    return fields


def _describe(rule: Rule, cond, unit) -> str:
    if rule.type == "anomaly":
        return f"robust z-score {cond.describe()}"
    scale = "percent" if (rule.type == "change" and rule.change == "percent") or rule.type == "target" else unit
    def f(x):
        return format_value(x, scale)
    if cond.op == "above":
        return f"above {f(cond.low)}"
    if cond.op == "below":
        return f"below {f(cond.high)}"
    return f"{cond.op} [{f(cond.low)}, {f(cond.high)}]"


def relative_change(st: AlertState) -> float | None:
    if st.value is None or not st.baseline:
        return None
    return (st.value - st.baseline) / abs(st.baseline)


def alert_item(view: AlertView, status: str, project=None) -> AlertItem:
    rule, st, spec = view.rule, view.state, view.kpi_spec
    fields = message_fields(view, project)
    fields["status"] = status
    if st.reason == "error" and status == "firing":
        # an error alert has its own words: the stale value of last week would hide the outage
        message, error = f"{fields['kpi_label']}: rule {rule.name} could not be evaluated: {st.error}", None
    elif st.reason == "no_data" and status == "firing":
        message, error = f"{fields['kpi_label']}: no data for {fields['period'] or 'the period'}" + (
            f" ({fields['dimensions']})" if fields["dimensions"] else ""), None
    else:
        message, error = render(rule.message, fields)
    view.template_error = error
    stale = st.reason in ("error", "no_data") and status == "firing"  # no value was judged: show none
    return AlertItem(
        rule=rule.name, kpi=rule.kpi, kpi_label=fields["kpi_label"], severity=st.severity or rule.max_severity,
        status=status, period_start=st.last_period, dimensions=dict(st.dimensions),
        value=None if stale else st.value, baseline=None if stale else st.baseline,
        change=None if stale else relative_change(st), threshold=None if stale else threshold_level(rule, st),
        unit=getattr(spec, "unit", None), process_path=project.kpi_path(rule.kpi) if project is not None else [],
        owner=getattr(spec, "owner", None), playbook=(getattr(spec, "playbook", None) or None),
        message=message, labels=view.labels, reason=st.reason if status == "firing" else "",
        error=st.error if st.reason == "error" else None,
        url=dashboard_link(project, rule, st) if project is not None else None)


#: what the notification log records for a firing alert, by its reason: a breach, no data, an error
FIRING_KINDS = {"": "firing", "no_data": "no_data", "error": "error"}


def notified_kind(st: AlertState, status: str) -> str:
    """The status written to the notification log: 'resolved', or the kind of firing alert that was sent."""
    return FIRING_KINDS.get(st.reason, "firing") if status == "firing" else status


def needs_notification(view: AlertView, route: Route, sent: dict | None, now: float) -> str | None:
    """'firing' / 'resolved' when this alert must go out on ``route`` now, 'forget' to log a resolution
    without sending it, else None.

    An error or no-data alert is logged as such, so the breach that follows it is announced.
    A silenced alert sends nothing, its resolution included (the silence covers the whole episode).
    """
    st = view.state
    if st.state == "firing" and not view.suppressed:
        kind = FIRING_KINDS.get(st.reason, "firing")
        if sent is None or sent["status"] != kind or sent["severity"] != st.severity:
            return "firing"
        if now - sent["sent_at"] >= route.repeat_interval.total_seconds():
            return "firing"
        return None
    if st.state in ("resolved", "inactive") and sent is not None and sent["status"] in FIRING_KINDS.values():
        return "resolved" if route.send_resolved and view.silenced_by is None else "forget"
    return None


@dataclass
class Group:
    route: Route
    key: tuple
    items: list[tuple[AlertView, str]] = field(default_factory=list)  # (view, status)


def group_key(route: Route, labels: dict[str, str]) -> tuple:
    return tuple((g, labels.get(g, "")) for g in route.group_by)


def build_notification(group: Group, project, now: float) -> Notification:
    items = [alert_item(v, status, project) for v, status in group.items]
    items.sort(key=lambda i: (i.status != "firing", -SEVERITY_RANK.get(i.severity, 0), i.rule,
                              json.dumps(i.dimensions, sort_keys=True, default=str)))
    firing = [i for i in items if i.status == "firing"]
    status = "firing" if firing else "resolved"
    severity = max((i.severity for i in (firing or items)), key=lambda s: SEVERITY_RANK.get(s, 0))
    first = items[0]
    labels = ", ".join(f"{k}={v}" for k, v in group.key if k not in ("rule",) and v)
    what = first.kpi_label if len({i.kpi for i in items}) == 1 else "several KPIs"
    rule = group.items[0][0].rule
    filters = {v.rule.where for v, _s in group.items}
    if len(filters) == 1 and rule.where:  # a filtered KPI is not the KPI: the title says which part
        what = f"{what} where {rule.where}"
    errors = [i for i in firing if i.reason == "error"]
    if errors and len(errors) == len(firing):
        title = f"{what}: could not be evaluated ({len(errors)} alert{'s' if len(errors) > 1 else ''})"
    elif firing and all(i.reason == "no_data" for i in firing):
        title = f"{what}: no data ({len(firing)} alert{'s' if len(firing) > 1 else ''})"
    elif rule.title and len(items) == 1:
        title, _err = render(rule.title, message_fields(group.items[0][0], project))
    elif status == "firing":
        title = f"{what}: {len(firing)} alert{'s' if len(firing) > 1 else ''} firing" + (f" ({labels})" if labels else "")
    else:
        title = f"{what}: {len(items)} alert{'s' if len(items) > 1 else ''} resolved"
    summary = [f"{len(firing)} firing, {len(items) - len(firing)} resolved; route {group.route.name}"]
    for error in dict.fromkeys(i.error for i in errors if i.error):
        summary.append(f"Error: {error}")
    for drivers in dict.fromkeys(v.drivers for v, s in group.items if v.drivers and s == "firing"):
        summary.append(f"Why: {drivers}")
    created = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")
    identity = json.dumps([group.route.name, group.key, [(i.rule, i.dimensions, i.status, i.severity,
                                                          i.period_start, i.reason) for i in items], now],
                          sort_keys=True, default=str)
    key = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return Notification(idempotency_key=f"kpi-{key}", title=title, severity=severity, status=status,
                        text="\n".join(summary), items=items, route=group.route.name, created_at=created)
