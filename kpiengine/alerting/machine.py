"""The alert state machine, pure: (previous state, outcome) -> (next state, transition).

States per rule and dimension value::

    inactive --breach--> pending --breach for `for` periods--> firing
    firing --no breach for more than `keep_firing_for` periods--> resolved
    pending --no breach--> inactive          resolved --breach--> pending / firing

Counters move once per *period*, not per run: evaluating the same period again
(a second ``kpi check``, or late data) restarts from the state saved before
that period (``prior``), so re-runs neither double-count nor re-announce.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from . import periods as P
from .evaluate import Outcome
from .rules import Rule

STATES = ("inactive", "pending", "firing", "resolved")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class AlertState:
    rule: str
    key: str
    dimensions: dict[str, Any] = field(default_factory=dict)
    state: str = "inactive"
    severity: str | None = None
    active_for: int = 0  # consecutive breaching periods
    quiet_for: int = 0  # consecutive clear periods while firing
    since: str | None = None  # period the current state began (ISO date)
    last_period: str | None = None  # last period evaluated
    fired_period: str | None = None
    resolved_period: str | None = None
    value: float | None = None
    baseline: float | None = None
    change: float | None = None
    threshold: float | None = None
    measure: float | None = None
    sample: float | None = None
    p_value: float | None = None
    outcome: str = ""  # status of the last outcome (value, no_data, error...)
    note: str = ""
    prior: dict | None = None  # the state before last_period was evaluated
    changes: list[str] = field(default_factory=list)  # periods with a firing/resolved/severity change, recent
    flapping: bool = False  # more changes than the rule's `flapping` allows: notifications held
    # why it fires: "" (the value breached), "no_data" or "error" (their own alerts, with their own words)
    reason: str = ""
    error: str | None = None  # the warehouse error text while the query behind the rule fails
    before_error: dict | None = None  # with on_error: alert, the state the error alert replaced

    def to_dict(self, *, with_prior: bool = True) -> dict:
        # a flat copy: dataclasses.asdict deep-copies recursively and dominated evaluation time
        d = {name: getattr(self, name) for name in self.__dataclass_fields__}
        d["dimensions"] = dict(self.dimensions)
        d["changes"] = list(self.changes)
        d["prior"] = dict(self.prior) if (with_prior and self.prior) else None
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "AlertState":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def active(self) -> bool:
        return self.state in ("pending", "firing")


def transition_between(old: AlertState, new: AlertState) -> str | None:
    if old.state != new.state:
        if new.state == "inactive":
            # firing -> inactive happens when revised data rewrites the period that fired
            return {"pending": "cleared", "firing": "resolved"}.get(old.state)
        return new.state
    if new.state == "firing" and old.reason != new.reason:
        return "firing"  # an error or no-data alert is another alert than a breach: announced anew
    if new.state == "firing" and old.severity != new.severity:
        up = SEVERITY_RANK.get(new.severity or "", 0) > SEVERITY_RANK.get(old.severity or "", 0)
        return "escalated" if up else "deescalated"
    return None


def advance(rule: Rule, prev: AlertState, outcome: Outcome) -> tuple[AlertState, str | None]:
    """The state after ``outcome`` and the transition it caused (None when nothing changed)."""
    if outcome.status == "error":
        return _on_error(rule, prev, outcome)
    if prev.reason == "error" and prev.before_error is not None:
        # the warehouse answers again: judge from the state the error alert stood in for
        resumed = AlertState.from_dict(prev.before_error)
        new, _t = advance(rule, resumed, outcome)
        return new, transition_between(prev, new)
    period = outcome.period.isoformat()
    if prev.last_period is not None and period < prev.last_period:
        return prev, None  # an older period: history does not rewrite the present
    if prev.last_period == period:
        base = AlertState.from_dict(prev.prior) if prev.prior else AlertState(rule.name, prev.key, prev.dimensions)
    else:
        base = prev
    new = _step(rule, base, outcome)
    new.prior = base.to_dict(with_prior=False)
    new.last_period = period
    _count_changes(rule, base, new, outcome.period)
    return new, transition_between(prev, new)


CHANGE_TRANSITIONS = ("firing", "resolved", "escalated", "deescalated")  # what a person is told about


def _count_changes(rule: Rule, base: AlertState, new: AlertState, period) -> None:
    """Flap detection: remember the recent periods whose evaluation changed what is notified.

    Counted from ``base`` (the state before this period), so re-evaluating a period never counts
    twice. More than ``rule.flap_changes`` changes within the last ``rule.flap_periods`` periods
    marks the alert flapping (its notifications are held by kpi check) until it calms down.
    """
    if not rule.flap_changes:
        new.changes, new.flapping = [], False
        return
    first = P.shift(period, rule.grain, -(rule.flap_periods - 1)).isoformat()
    changes = [p for p in base.changes if p >= first]
    if transition_between(base, new) in CHANGE_TRANSITIONS:
        changes.append(period.isoformat())
    new.changes = changes
    new.flapping = len(changes) > rule.flap_changes


def _on_error(rule: Rule, prev: AlertState, outcome: Outcome) -> tuple[AlertState, str | None]:
    """The query behind the rule failed. Nothing was judged, so ``last_period`` and the counters stay.

    An outage once moved ``last_period`` to the calendar's latest week; when the
    warehouse came back, the real (older) period looked already judged and the
    planted drop never fired. Now: ``keep_state`` notes the error only;
    ``ignore`` moves a pending or firing alert as a clear period would;
    ``alert`` raises an error alert of its own (most severe), keeping the state
    it replaces in ``before_error`` so the first real answer resumes from it.
    """
    new = replace(prev, dimensions=dict(prev.dimensions), outcome="error", note=outcome.note, error=outcome.note)
    if rule.on_error == "alert":
        if prev.reason != "error":
            new.before_error = prev.to_dict()
        new.state, new.severity, new.reason = "firing", rule.max_severity, "error"
        new.since = prev.since if prev.reason == "error" else (prev.last_period or outcome.period.isoformat())
        return new, transition_between(prev, new)
    if rule.on_error == "ignore" and prev.state in ("pending", "firing"):
        _clear(rule, prev, new, prev.last_period or outcome.period.isoformat())
    return new, transition_between(prev, new)


def _clear(rule: Rule, base: AlertState, new: AlertState, period: str) -> None:
    """A clear period: pending goes back to inactive; firing resolves after ``keep_firing_for`` of them."""
    new.active_for = 0
    if base.state == "pending":
        new.state, new.since, new.severity = "inactive", period, None
    elif base.state == "firing":
        new.quiet_for = base.quiet_for + 1
        if new.quiet_for > rule.keep_firing_for:
            new.state, new.since, new.resolved_period = "resolved", period, period
            new.quiet_for = 0


def _decide(rule: Rule, base: AlertState, outcome: Outcome) -> tuple[str, str | None, Any]:
    """('breach', severity, condition) | ('clear', None, None) | ('keep', None, None)."""
    status = outcome.status
    if status in ("no_data", "error"):
        policy = rule.no_data if status == "no_data" else rule.on_error
        if policy == "alert":
            return "breach", rule.no_data_severity if status == "no_data" else rule.max_severity, None
        return ("keep" if policy == "keep_state" else "clear"), None, None
    if status in ("insufficient", "no_baseline", "partial", "maturing"):
        # not enough evidence either way (a value that is not final is no evidence): the state stands
        return "keep", None, None
    firing = base.severity if base.state == "firing" else None
    if outcome.significant is False:
        # significance decides whether a change may *start* an alert; once firing, the recovery
        # level decides when it ends (a -23 % week with p = 0.015 under alpha 0.01 is no recovery)
        cond = rule.classify(outcome.measure, firing, escalate=False) if firing else None
        if cond is None:
            return "clear", None, None
        return "breach", rule.severity_of(cond), cond
    cond = rule.classify(outcome.measure, firing)
    if cond is None:
        return "clear", None, None
    return "breach", rule.severity_of(cond), cond


def _step(rule: Rule, base: AlertState, outcome: Outcome) -> AlertState:
    new = replace(base, dimensions=dict(outcome.dimensions) or base.dimensions)
    period = outcome.period.isoformat()
    decision, severity, cond = _decide(rule, base, outcome)
    new.outcome, new.note = outcome.status, outcome.note
    new.error, new.before_error = None, None
    if outcome.status not in ("error",):
        new.value, new.baseline, new.change = outcome.value, outcome.baseline, outcome.change
        new.measure, new.sample, new.p_value = outcome.measure, outcome.sample, outcome.p_value
    if decision == "keep":
        return new
    if decision == "breach":
        new.reason = "no_data" if outcome.status == "no_data" else ""
        new.threshold = cond.crossed(outcome.measure) if cond is not None else None
        new.quiet_for = 0
        if base.state == "firing":
            new.severity = severity
            new.active_for = base.active_for + 1
            return new
        new.active_for = base.active_for + 1 if base.state == "pending" else 1
        new.severity = severity
        if new.active_for >= rule.for_periods:
            new.state, new.since, new.fired_period = "firing", period, period
            new.resolved_period = None
        elif base.state != "pending":
            new.state, new.since = "pending", period
        return new
    _clear(rule, base, new, period)
    return new


def replay(rule: Rule, outcomes_by_period: list[list[Outcome]],
           states: dict[str, AlertState] | None = None):
    """Run the machine over consecutive periods; yields (period, key, state, transition)."""
    states = dict(states or {})
    for outcomes in outcomes_by_period:
        for outcome in outcomes:
            prev = states.get(outcome.key) or AlertState(rule.name, outcome.key, outcome.dimensions)
            new, transition = advance(rule, prev, outcome)
            states[outcome.key] = new
            yield outcome.period, outcome.key, new, transition


def periods_between(start: date, end: date, grain: str) -> list[date]:
    """Period starts from ``start`` (inclusive) to ``end`` (inclusive)."""
    out, p = [], P.truncate(start, grain)
    while p <= end:
        out.append(p)
        p = P.shift(p, grain, 1)
    return out
