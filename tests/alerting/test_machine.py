"""The state machine: every transition, hold, hysteresis, policies, re-runs and restarts."""
from __future__ import annotations


import pytest

from kpiengine.alerting.evaluate import Outcome, dims_key
from kpiengine.alerting.machine import AlertState, advance
from kpiengine.alerting.state import AlertStore

from alerting_helpers import make_project, rules_of, week

KEY = dims_key({})


def rule_with(tmp_path, extra: str = "", cond: str = "warning: {below: 10}"):
    p = make_project(tmp_path, f"rules:\n  r:\n    kpi: visits\n    {cond}\n" + "".join(
        f"    {line}\n" for line in extra.splitlines() if line))
    return rules_of(p)["r"]


def value(i: int, v: float | None, status: str = "value") -> Outcome:
    return Outcome("r", KEY, {}, week(i), status if v is not None or status != "value" else "no_data",
                   value=v, measure=v)


def run(rule, values, state=None):
    """Feed values period by period; returns the list of (state, transition)."""
    st = state or AlertState("r", KEY)
    out = []
    for i, v in enumerate(values):
        o = v if isinstance(v, Outcome) else value(i, v)
        st, t = advance(rule, st, o)
        out.append((st.state, t))
    return out, st


def test_fires_immediately_and_resolves(tmp_path):
    rule = rule_with(tmp_path)
    out, _ = run(rule, [20, 5, 5, 20, 20])
    assert out == [("inactive", None), ("firing", "firing"), ("firing", None), ("resolved", "resolved"),
                   ("resolved", None)]


def test_for_n_periods_pending_then_firing(tmp_path):
    rule = rule_with(tmp_path, "for: 3")
    out, _ = run(rule, [5, 5, 5, 5])
    assert out == [("pending", "pending"), ("pending", None), ("firing", "firing"), ("firing", None)]


def test_pending_that_never_fires(tmp_path):
    rule = rule_with(tmp_path, "for: 3")
    out, st = run(rule, [5, 5, 20, 5, 20])
    assert [s for s, _t in out] == ["pending", "pending", "inactive", "pending", "inactive"]
    assert out[2][1] == "cleared" and st.fired_period is None


def test_flapping_without_recovery_threshold_flaps(tmp_path):
    rule = rule_with(tmp_path)
    out, _ = run(rule, [9.9, 10.1, 9.9, 10.1, 9.9])
    assert [t for _s, t in out] == ["firing", "resolved", "firing", "resolved", "firing"]


def test_recovery_threshold_stops_the_flapping(tmp_path):
    rule = rule_with(tmp_path, cond="warning: {below: 10, recovery: 12}")
    out, _ = run(rule, [9.9, 10.1, 9.9, 10.1, 11.9, 12.5])
    assert [t for _s, t in out] == ["firing", None, None, None, None, "resolved"]


def test_keep_firing_for_bridges_short_gaps(tmp_path):
    rule = rule_with(tmp_path, "keep_firing_for: 2")
    out, _ = run(rule, [5, 20, 5, 20, 20, 20])
    assert [s for s, _t in out] == ["firing", "firing", "firing", "firing", "firing", "resolved"]


def test_escalation_and_deescalation(tmp_path):
    rule = rule_with(tmp_path, cond="warning: {below: 10}\n    critical: {below: 5}")
    out, st = run(rule, [8, 3, 8, 20])
    assert [t for _s, t in out] == ["firing", "escalated", "deescalated", "resolved"]


@pytest.mark.parametrize("policy, expected", [
    ("keep_state", ["firing", "firing", "firing"]),
    ("ignore", ["firing", "resolved", "resolved"]),
    ("alert", ["firing", "firing", "firing"]),
])
def test_no_data_policies(tmp_path, policy, expected):
    rule = rule_with(tmp_path, f"no_data: {policy}")
    out, st = run(rule, [5, Outcome("r", KEY, {}, week(1), "no_data"), Outcome("r", KEY, {}, week(2), "no_data")])
    assert [s for s, _t in out] == expected


def test_no_data_alert_fires_from_inactive(tmp_path):
    rule = rule_with(tmp_path, "no_data: alert")
    out, st = run(rule, [20, Outcome("r", KEY, {}, week(1), "no_data")])
    assert out[-1] == ("firing", "firing") and st.severity == "warning"


def test_query_error_keeps_state_by_default(tmp_path):
    rule = rule_with(tmp_path, "for: 2")
    err = lambda i: Outcome("r", KEY, {}, week(i), "error", note="source 'w': refused")  # noqa: E731
    out, st = run(rule, [5, err(1), 5])
    # the failed period neither advanced nor reset the hold: the second breach fires
    assert [s for s, _t in out] == ["pending", "pending", "firing"]
    out, _ = run(rule, [5, 5, err(2), err(3)])
    assert [s for s, _t in out] == ["pending", "firing", "firing", "firing"]


def test_insufficient_sample_keeps_state(tmp_path):
    rule = rule_with(tmp_path)
    out, _ = run(rule, [5, Outcome("r", KEY, {}, week(1), "insufficient", value=0.0)])
    assert out[-1] == ("firing", None)


def test_same_period_twice_counts_once(tmp_path):
    rule = rule_with(tmp_path, "for: 2")
    st = AlertState("r", KEY)
    st, t1 = advance(rule, st, value(0, 5))
    st, t2 = advance(rule, st, value(0, 5))  # a second check of the same week
    assert (st.state, st.active_for, t1, t2) == ("pending", 1, "pending", None)
    st, t3 = advance(rule, st, value(1, 5))
    assert (st.state, t3) == ("firing", "firing")
    st2, t4 = advance(rule, st, value(1, 5))  # again: no re-announcement
    assert (st2.state, t4) == ("firing", None)
    st3, t5 = advance(rule, st2, value(1, 20))  # late data revised the week: recomputed from before it
    assert (st3.state, t5) == ("inactive", "resolved")
    old, t6 = advance(rule, st3, value(0, 5))  # an older period never rewrites the present
    assert old is st3 and t6 is None


@pytest.mark.parametrize("prefix, state_name", [
    ([20], "inactive"), ([5], "pending"), ([5, 5], "firing"), ([5, 5, 20], "resolved"),
])
def test_restart_in_each_state(tmp_path, prefix, state_name):
    """Save to SQLite, reopen (a new process), continue: same result as never stopping."""
    rule = rule_with(tmp_path, "for: 2")
    continuation = [5, 5, 20]
    straight, _ = run(rule, prefix + continuation)
    _out, st = run(rule, prefix)
    assert st.state == state_name
    db = tmp_path / "h.db"
    store = AlertStore.open(db)
    store.save(st, None)
    store.close()
    reopened = AlertStore.open(db).states()[("r", KEY)]
    assert reopened == st
    resumed = []
    for i, v in enumerate(continuation, start=len(prefix)):
        reopened, t = advance(rule, reopened, value(i, v))
        resumed.append((reopened.state, t))
    assert resumed == straight[len(prefix):]
