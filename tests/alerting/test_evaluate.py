"""Rule types measured against numbers computed independently in the test."""
from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from kpiengine.alerting.evaluate import ValueTable, dims_key, evaluate, two_proportion_p

from alerting_helpers import rules_of, series, week

EAST = dims_key({"region": "east"})


def one(project, rule_name, rows, period, **dims):
    rules = rules_of(project)
    rule = rules[rule_name]
    outs = evaluate(rule, ValueTable(rows), period, project.kpis.get(rule.kpi))
    return next(o for o in outs if o.dimensions == dims), rule


def test_static_above_below_outside_inside(project_factory):
    p = project_factory("""
        rules:
          hi: {kpi: visits, critical: {above: 500}, warning: {above: 400}}
          band: {kpi: visits, warning: {outside: [100, 300]}}
          dead: {kpi: visits, info: {inside: [0, 10]}}
    """)
    rules = rules_of(p)
    rows = series("visits", [450])
    o = evaluate(rules["hi"], ValueTable(rows), week(0))[0]
    assert o.measure == 450
    assert rules["hi"].classify(450) is rules["hi"].conditions[1][1]  # warning, not critical
    assert rules["hi"].severity_of(rules["hi"].classify(501)) == "critical"
    assert rules["band"].classify(450) is not None and rules["band"].classify(200) is None
    assert rules["dead"].classify(5) is not None and rules["dead"].classify(11) is None


@pytest.mark.parametrize("compare, grain, expected_baseline_period", [
    ("previous", "week", date(2026, 3, 2)),
    ("last_week", "day", date(2026, 3, 2)),
    ("last_year", "week", date(2025, 3, 10)),   # 52 weeks back: still a Monday
    ("last_year", "month", date(2025, 3, 1)),
])
def test_change_baseline_periods(project_factory, compare, grain, expected_baseline_period):
    period = date(2026, 3, 9) if grain != "month" else date(2026, 3, 1)
    p = project_factory(f"""
        rules:
          r: {{kpi: visits, type: change, compare: {compare}, grain: {grain}, warning: {{below: -10%}}}}
    """)
    rows = [type(series("visits", [1])[0])("visits", expected_baseline_period, {}, 200.0),
            type(series("visits", [1])[0])("visits", period, {}, 150.0)]
    o, _rule = one(p, "r", rows, period)
    assert o.baseline == 200.0
    assert o.change == pytest.approx((150 - 200) / 200)


def test_change_average_and_absolute(project_factory):
    p = project_factory("""
        rules:
          avg: {kpi: visits, type: change, compare: average, periods: 3, warning: {below: -10%}}
          abs: {kpi: visits, type: change, change: absolute, warning: {below: -20}}
    """)
    rows = series("visits", [90, 100, 110, 120, 80])
    o, _ = one(p, "avg", rows, week(4))
    assert o.baseline == pytest.approx((100 + 110 + 120) / 3)
    assert o.measure == pytest.approx((80 - 110) / 110)
    o, _ = one(p, "abs", rows, week(4))
    assert (o.baseline, o.measure) == (120, -40)


def test_change_without_baseline_keeps_quiet(project_factory):
    p = project_factory("rules:\n  r: {kpi: visits, type: change, warning: {below: -10%}}\n")
    o, _ = one(p, "r", series("visits", [100]), week(0))
    assert o.status == "no_baseline"
    o, _ = one(p, "r", series("visits", [0, 100]), week(1))
    assert o.status == "no_baseline" and "baseline is 0" in o.note


def test_target_constant_and_per_dimension(project_factory):
    p = project_factory("""
        rules:
          company: {kpi: conversion, type: target, warning: {below: 80%}}
          quota:
            kpi: revenue
            type: target
            by: [rep]
            target: {rep: {alice: 40000, bob: 25000}}
            warning: {below: 90%}
    """)
    o, rule = one(p, "company", series("conversion", [0.135]), week(0))
    assert o.target == 0.18 and o.measure == pytest.approx(0.135 / 0.18)
    assert rule.classify(o.measure) is not None  # 75 % attainment < 80 %
    rows = series("revenue", [30000], rep="alice") + series("revenue", [24000], rep="bob") \
        + series("revenue", [5], rep="carol")
    a, rule = one(p, "quota", rows, week(0), rep="alice")
    b, _ = one(p, "quota", rows, week(0), rep="bob")
    c, _ = one(p, "quota", rows, week(0), rep="carol")
    assert a.measure == pytest.approx(0.75) and rule.classify(a.measure) is not None
    assert b.measure == pytest.approx(0.96) and rule.classify(b.measure) is None
    assert c.status == "no_baseline"  # no quota for carol: not judged


def _robust_z(history, value):
    s = sorted(history)
    n = len(s)
    med = (s[n // 2] + s[(n - 1) // 2]) / 2
    dev = sorted(abs(x - med) for x in history)
    mad = (dev[n // 2] + dev[(n - 1) // 2]) / 2
    return med, (value - med) / (1.4826 * mad)


def test_anomaly_median_mad(project_factory):
    p = project_factory("""
        rules:
          a: {kpi: visits, type: anomaly, window: 6, sensitivity: 3, severity: warning}
    """)
    history = [100, 104, 97, 101, 99, 130]  # one outlier in the window: median/MAD shrug it off
    rows = series("visits", history + [70])
    o, rule = one(p, "a", rows, week(6))
    med, z = _robust_z(history, 70)
    assert o.baseline == pytest.approx(med)
    assert o.measure == pytest.approx(z)
    assert z < -3 and rule.classify(o.measure) is not None
    quiet, _ = one(p, "a", series("visits", history + [103]), week(6))
    assert rule.classify(quiet.measure) is None


def test_anomaly_daily_uses_same_weekday(project_factory):
    p = project_factory("""
        rules:
          a: {kpi: visits, type: anomaly, grain: day, window: 4, sensitivity: high, direction: down}
    """)
    start = date(2026, 2, 2)  # a Monday
    Row = type(series("visits", [1])[0])
    rows = []
    for d in range(35):
        day = start + timedelta(days=d)
        weekend = day.weekday() >= 5
        rows.append(Row("visits", day, {}, (10 if weekend else 100) + (d % 3)))
    sunday = date(2026, 3, 8)
    rows.append(Row("visits", sunday, {}, 11))
    o, rule = one(p, "a", rows, sunday)
    sundays = [r.value for r in rows if r.period_start.weekday() == 6 and r.period_start < sunday][-4:]
    med, z = _robust_z(sundays, 11)
    assert o.baseline == pytest.approx(med)   # compared with Sundays (~10), not weekdays (~100)
    assert rule.classify(o.measure) is None   # a normal Sunday is no anomaly
    sunday_crash = [r for r in rows if r.period_start != sunday] + [Row("visits", sunday, {}, 0)]
    o2, _ = one(p, "a", sunday_crash, sunday)
    assert rule.classify(o2.measure) is not None


def test_anomaly_needs_history(project_factory):
    p = project_factory("rules:\n  a: {kpi: visits, type: anomaly, window: 8}\n")
    o, _ = one(p, "a", series("visits", [1, 2, 50]), week(2))
    assert o.status == "no_baseline" and "of 4 trailing values" in o.note


def test_min_sample_uses_the_denominator(project_factory):
    p = project_factory("""
        rules:
          low: {kpi: conversion, by: [region], min_sample: 30, warning: {below: 10%}}
    """)
    rows = series("conversion", [0.0], region="east") + series("visits", [5], region="east")
    o, _ = one(p, "low", rows, week(0), region="east")
    assert o.status == "insufficient" and "visits=5" in o.note  # five visits, no deal: nobody paged
    rows = series("conversion", [0.05], region="east") + series("visits", [200], region="east")
    o, rule = one(p, "low", rows, week(0), region="east")
    assert o.status == "value" and rule.classify(o.measure) is not None


def _p_value_by_hand(x1, n1, x0, n0):
    p1, p0, pooled = x1 / n1, x0 / n0, (x1 + x0) / (n1 + n0)
    z = (p1 - p0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return 0.5 * math.erfc(abs(z) / math.sqrt(2))


def test_significance_two_proportion(project_factory):
    p = project_factory("""
        rules:
          drop:
            kpi: conversion
            type: change
            by: [region]
            compare: average
            periods: 2
            significance: 0.05
            warning: {below: -30%}
    """)
    # big sample: 20 % -> 8 % over ~500 visits is significant
    rows = (series("conversion", [100 / 500, 110 / 500, 40 / 500], region="east")
            + series("visits", [500, 500, 500], region="east"))
    o, rule = one(p, "drop", rows, week(2), region="east")
    assert o.p_value == pytest.approx(_p_value_by_hand(40, 500, 210, 1000))
    assert o.significant is True and rule.classify(o.measure) is not None
    # tiny sample: 2/10 -> 0/5 is a -100 % "drop" that means nothing
    rows = (series("conversion", [0.2, 0.2, 0.0], region="east") + series("visits", [10, 10, 5], region="east"))
    o, _ = one(p, "drop", rows, week(2), region="east")
    assert o.p_value == pytest.approx(_p_value_by_hand(0, 5, 4, 20))
    assert o.significant is False and "not significant" in o.note


def test_two_proportion_matches_textbook_value():
    # 45/500 vs 75/500: pooled 0.12, se = sqrt(.12*.88*2/500) = 0.02055, z = -2.92 -> p = 0.00175 (normal table)
    assert two_proportion_p(45, 500, 75, 500) == pytest.approx(0.00175, abs=1e-5)


def test_scope_fires_per_dimension_value_and_tracks_vanished_ones(project_factory):
    p = project_factory("rules:\n  low: {kpi: visits, by: [region], warning: {below: 50}}\n")
    rules = rules_of(p)
    rows = series("visits", [40], region="east") + series("visits", [80], region="west")
    outs = evaluate(rules["low"], ValueTable(rows), week(0), None, {dims_key({"region": "north"}): {"region": "north"}})
    by_region = {o.dimensions["region"]: o for o in outs}
    assert set(by_region) == {"east", "west", "north"}
    assert by_region["north"].status == "no_data"
    assert rules["low"].classify(by_region["east"].measure) and not rules["low"].classify(by_region["west"].measure)
