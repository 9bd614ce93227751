"""The planted drop is in the data, and the engine on kpi_specs/ finds the same numbers.

Every expected number here is computed in Python from raw rows of the demo
tables (week = the Monday on or before the day), never from the engine.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK

REGIONS = ("north", "south", "east", "west", "central")


def monday(day) -> date:
    day = day.date() if hasattr(day, "date") else day
    return day - timedelta(days=day.weekday())


@pytest.fixture(scope="module")
def independent(demo_con):
    """(week, region) -> visits, won deals, conversion, mean mindset, from raw rows."""
    visits = Counter((monday(t), r) for t, r in demo_con.execute(
        "SELECT happened_at, region FROM activities WHERE kind = 'visit'").fetchall())
    won = Counter((monday(t), r) for t, r in demo_con.execute(
        "SELECT closed_at, region FROM deals WHERE stage = 'won'").fetchall())
    scores = defaultdict(list)
    for week, region, score in demo_con.execute("SELECT week_start, region, score FROM rep_mindset").fetchall():
        scores[(week, region)].append(float(score))
    conversion = {k: won[k] / v for k, v in visits.items()}
    mindset = {k: sum(v) / len(v) for k, v in scores.items()}
    return {"visits": visits, "won": won, "conversion": conversion, "mindset": mindset}


def previous_weeks(n: int) -> list[date]:
    return [PLANTED_WEEK - timedelta(weeks=i) for i in range(1, n + 1)]


def test_planted_constants_describe_a_week_in_the_data(demo_info):
    assert PLANTED_REGION in REGIONS
    assert PLANTED_WEEK.isoweekday() == 1
    assert demo_info.start <= PLANTED_WEEK < demo_info.end


def test_conversion_drops_sharply_in_the_planted_region_and_week(independent):
    conv = independent["conversion"]
    before = [conv[(w, PLANTED_REGION)] for w in previous_weeks(8)]
    assert all(0.15 <= c <= 0.27 for c in before), before  # about 20 % normally
    baseline = sum(before) / len(before)
    dropped = conv[(PLANTED_WEEK, PLANTED_REGION)]
    assert dropped < 0.12  # about 8 %
    assert dropped / baseline < 0.55


def test_visits_stay_steady_in_the_planted_region(independent):
    visits = independent["visits"]
    before = [visits[(w, PLANTED_REGION)] for w in previous_weeks(4)]
    now = visits[(PLANTED_WEEK, PLANTED_REGION)]
    assert abs(now / (sum(before) / len(before)) - 1) < 0.1


def test_other_regions_stay_normal_in_the_planted_week(independent):
    conv = independent["conversion"]
    for region in REGIONS:
        if region == PLANTED_REGION:
            continue
        base = sum(conv[(w, region)] for w in previous_weeks(4)) / 4
        assert 0.85 < conv[(PLANTED_WEEK, region)] / base < 1.15, region


def test_the_planted_region_is_normal_in_every_other_week(independent):
    conv = independent["conversion"]
    weeks = sorted({w for w, r in conv if r == PLANTED_REGION and w != PLANTED_WEEK})
    assert len(weeks) >= 20
    assert min(conv[(w, PLANTED_REGION)] for w in weeks) > 0.14


@pytest.fixture(scope="module")
def engine_rows(demo_info, specs_dir):
    """The engine on the real kpi_specs/ folder, pointed at the session's warehouse."""
    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    mp = pytest.MonkeyPatch()
    mp.setenv("KPI_DEMO_DB", demo_info.path)
    try:
        project = load_project(specs_dir)
        rs = Engine(project).compute(kpis=["visits", "deals_won", "conversion", "mindset", "performance"],
                                     grain="week", by=["region"])
        total = Engine(project).compute(kpis=["visits", "conversion"], grain="week", by=[])
    finally:
        mp.undo()
    by_region = {(r.kpi, r.period_start, r.dimensions["region"]): r.value for r in rs.rows}
    overall = {(r.kpi, r.period_start): r.value for r in total.rows}
    return by_region, overall


def test_engine_visits_and_conversion_match_independent_numbers(engine_rows, independent):
    by_region, _ = engine_rows
    keys = independent["visits"].keys()
    assert {(w, r) for k, w, r in by_region if k == "visits"} == set(keys)
    for week, region in keys:
        assert by_region[("visits", week, region)] == independent["visits"][(week, region)]
        assert by_region[("deals_won", week, region)] == independent["won"][(week, region)]
        assert by_region[("conversion", week, region)] == pytest.approx(
            independent["conversion"][(week, region)], rel=1e-12)
    assert by_region[("conversion", PLANTED_WEEK, PLANTED_REGION)] < 0.12


def test_engine_performance_is_mindset_times_visits_times_conversion(engine_rows, independent):
    by_region, _ = engine_rows
    for (week, region), mindset in independent["mindset"].items():
        assert by_region[("mindset", week, region)] == pytest.approx(mindset, rel=1e-9)
        expected = mindset * independent["visits"][(week, region)] * independent["conversion"][(week, region)]
        assert by_region[("performance", week, region)] == pytest.approx(expected, rel=1e-9)


def test_engine_totals_match_independent_numbers(engine_rows, independent):
    _, overall = engine_rows
    weeks = {w for w, _ in independent["visits"]}
    for week in weeks:
        visits = sum(independent["visits"][(week, r)] for r in REGIONS)
        won = sum(independent["won"][(week, r)] for r in REGIONS)
        assert overall[("visits", week)] == visits
        assert overall[("conversion", week)] == pytest.approx(won / visits, rel=1e-12)


def test_engine_revenue_retention_and_referrals_match_independent_numbers(demo_info, demo_con, specs_dir,
                                                                          monkeypatch):
    from decimal import Decimal

    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    revenue: dict = defaultdict(Decimal)
    for t, region, amount in demo_con.execute(
            "SELECT closed_at, region, amount FROM deals WHERE stage = 'won'").fetchall():
        revenue[(monday(t), region)] += amount
    ordering, returning = defaultdict(set), defaultdict(set)
    for t, region, customer, repeat in demo_con.execute(
            "SELECT ordered_at, region, customer_id, is_repeat FROM orders").fetchall():
        ordering[(monday(t), region)].add(customer)
        if repeat:
            returning[(monday(t), region)].add(customer)
    new, referred = Counter(), Counter()
    for t, region, ref in demo_con.execute("SELECT first_order_at, region, referred_by FROM customers").fetchall():
        new[(monday(t), region)] += 1
        referred[(monday(t), region)] += ref is not None

    monkeypatch.setenv("KPI_DEMO_DB", demo_info.path)
    rs = Engine(load_project(specs_dir)).compute(
        kpis=["revenue", "retention_rate", "referrals", "referral_rate"], grain="week", by=["region"])
    got = {(r.kpi, r.period_start, r.dimensions["region"]): r.value for r in rs.rows}
    for key, amount in revenue.items():
        assert got[("revenue", *key)] == pytest.approx(float(amount), abs=0.005)
    for key, customers in ordering.items():
        assert got[("retention_rate", *key)] == pytest.approx(len(returning[key]) / len(customers), rel=1e-12)
    for key, n in new.items():
        assert got[("referrals", *key)] == referred[key]
        assert got[("referral_rate", *key)] == pytest.approx(referred[key] / n, rel=1e-12)
    assert sum(referred.values()) > 0.1 * sum(new.values())  # referrals are a real share, not a trickle
