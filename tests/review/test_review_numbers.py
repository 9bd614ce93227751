"""kpi review's numbers against plain-Python computations over the generated rows."""
from __future__ import annotations

import math
import statistics
from datetime import date, timedelta

import pytest
from review_data import expected_weekly, in_range

from kpiengine.analysis.review import build_review
from kpiengine.engine import Engine

FROM, TO, TODAY = date(2026, 7, 1), date(2026, 11, 2), date(2026, 12, 1)
WEEKS = [date(2026, 7, 6) + timedelta(weeks=i) for i in range(17)]  # Mondays whose week ends by TO
BASE = date(2026, 6, 29)


@pytest.fixture(scope="module")
def review(project):
    return build_review(Engine(project), FROM, TO, today=TODAY, by=["region"])


def won_visits(warehouse, lo, hi, region=None):
    won = [d for d in in_range(warehouse["deals"], lo, hi, region) if d[2] == "won"]
    return len(won), len(in_range(warehouse["visits"], lo, hi, region)), sum(d[3] for d in won)


def test_the_window_is_the_complete_weeks_inside_it(review):
    assert review.periods == WEEKS
    assert review.base == BASE


@pytest.mark.parametrize("kpi, period, region, target, partial", [
    ("conversion", "2026-Q3", None, 0.20, False),
    ("conversion", "2026-Q4", None, 0.19, True),
    ("conversion", "2026-Q4", "east", 0.20, True),
    ("conversion", "2026-Q4", "west", 0.18, True),
    ("visits", "2026-Q3", None, 1200, False),
    ("visits", "2026-Q4", None, 1300 * 32 / 92, True),  # a total is judged on pace: 32 of Q4's 92 days
    ("visits", "2026-Q4", "east", 650 * 32 / 92, True),
])
def test_attainment_per_period_and_dimension_value(review, warehouse, kpi, period, region, target, partial):
    lo, hi = {"2026-Q3": (date(2026, 7, 1), date(2026, 10, 1)), "2026-Q4": (date(2026, 10, 1), TO)}[period]
    won, visits, _ = won_visits(warehouse, lo, hi, region)
    actual = won / visits if kpi == "conversion" else visits
    row = next(a for a in review.kpi(kpi).attainment if a.period == period)
    assert row.partial is partial
    if region is None:
        judged = row
    else:
        judged = next(d for d in row.by if d.dimensions == {"region": region})
    assert judged.value == pytest.approx(actual)
    assert judged.target == pytest.approx(target)
    assert judged.attainment == pytest.approx(actual / target)
    assert judged.met is (actual >= target)


def test_the_planted_east_drop_falls_short_of_its_q4_target(review, warehouse):
    q4 = next(a for a in review.kpi("conversion").attainment if a.period == "2026-Q4")
    assert {"region": "east"} in [d.dimensions for d in q4.short]


def test_a_plain_target_is_judged_every_week(review, warehouse):
    rows = review.kpi("revenue").attainment
    assert [r.start for r in rows] == WEEKS
    for r in rows:
        _, _, revenue = won_visits(warehouse, r.start, r.start + timedelta(days=7))
        assert r.value == pytest.approx(revenue)
        assert r.target == 5000 and r.met is (revenue >= 5000)


def test_trend_and_volatility_match_a_hand_regression(review, warehouse):
    weekly = expected_weekly(warehouse)
    ys = [weekly[w]["conversion"] for w in WEEKS]
    fit = statistics.linear_regression(list(range(len(ys))), ys)
    residuals = [y - (fit.intercept + fit.slope * i) for i, y in enumerate(ys)]
    mean = sum(ys) / len(ys)
    t = review.kpi("conversion").trend
    assert t.slope == pytest.approx(fit.slope)
    assert t.volatility == pytest.approx(math.sqrt(sum(r * r for r in residuals) / (len(ys) - 2)) / mean)
    assert t.change == pytest.approx(ys[-1] - ys[0])


def _log_mean(a, b):
    return a if math.isclose(a, b) else (a - b) / (math.log(a) - math.log(b))


def test_driver_shares_add_up_to_the_outcome_change_and_match_lmdi(review, warehouse):
    weekly = expected_weekly(warehouse)
    span = [BASE] + WEEKS
    perf = [weekly[w]["performance"] for w in span]
    attribution = review.attributions["performance"]
    direct = {n: s for n, s in attribution.shares.items() if s.direct}
    assert set(direct) == {"mindset", "visits", "conversion"}
    assert attribution.change == pytest.approx(perf[-1] - perf[0])
    assert sum(s.contribution for s in direct.values()) == pytest.approx(perf[-1] - perf[0])
    # LMDI-I by hand: contribution_i = sum over weeks of L(y1, y0) * ln(x_i1 / x_i0)
    for factor in ("mindset", "visits", "conversion"):
        hand = sum(_log_mean(weekly[b]["performance"], weekly[a]["performance"])
                   * math.log(weekly[b][factor] / weekly[a][factor]) for a, b in zip(span, span[1:]))
        assert direct[factor].contribution == pytest.approx(hand)
        assert direct[factor].share == pytest.approx(hand / (perf[-1] - perf[0]))
    gross = {f: sum(abs(_log_mean(weekly[b]["performance"], weekly[a]["performance"])
                        * math.log(weekly[b][f] / weekly[a][f])) for a, b in zip(span, span[1:])) for f in direct}
    for f, s in direct.items():
        assert s.weight == pytest.approx(gross[f] / sum(gross.values()))
    # deals_won sits inside conversion: reported as nested, not among the inputs that partition the change
    assert attribution.shares["deals_won"].direct is False


def test_lead_lag_is_the_correlation_of_changes_at_the_reported_lag(review, warehouse):
    weekly = expected_weekly(warehouse)
    span = [BASE] + WEEKS
    found = next(x for x in review.kpi("visits").lead_lag if x.outcome == "performance")
    dv = [weekly[b]["visits"] - weekly[a]["visits"] for a, b in zip(span, span[1:])]
    dp = [weekly[b]["performance"] - weekly[a]["performance"] for a, b in zip(span, span[1:])]
    pairs = list(zip(dv, dp[found.lag:]))
    assert found.n == len(pairs)
    assert found.r == pytest.approx(statistics.correlation([a for a, _ in pairs], [b for _, b in pairs]))
    for lag in range(0, 5):  # it is the strongest of the lags tried
        p = list(zip(dv, dp[lag:]))
        assert abs(statistics.correlation([a for a, _ in p], [b for _, b in p])) <= abs(found.r) + 1e-12


def test_conversion_that_fell_and_drove_performance_down_is_to_be_strengthened(review):
    s = review.kpi("conversion").suggestion
    assert s.decision == "strengthen" and s.drives == "performance", s.reason
    assert "east" in (review.kpi("conversion").where or "")


def test_json_round_trip_keeps_every_kpi(review):
    data = review.to_dict()
    assert [k["kpi"] for k in data["kpis"]] == ["visits", "deals_won", "conversion", "mindset", "performance",
                                                 "revenue"]
    assert data["outcomes"] == ["performance", "revenue"]
