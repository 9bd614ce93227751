"""Synthetic data with a planted cause: the method must name that cause first.

Three scenarios, many noisy trials each (counts drawn around their expectation):
  * a drop in one region's conversion rate (east: 20% -> 12%),
  * a mix shift between channels (traffic moves from a strong channel to a weak one, rates unchanged),
  * a fall in visits only (performance = mindset * visits * conversion; conversion steady).
The accuracy (share of trials where the planted cause comes first) is printed and must be >= 95%.
"""
from __future__ import annotations

import random

import pytest

from kpiengine.analysis.rootcause import (best_split, decompose_formula, dominant_effect, formula_tree, split_ratio,
                                 top_inputs)

REGIONS = ["north", "south", "east", "west", "central"]
CHANNELS = ["web", "referral", "event", "cold_call", "partner"]
RATE_BY_CHANNEL = {"web": 0.15, "referral": 0.30, "event": 0.20, "cold_call": 0.06, "partner": 0.25}
TRIALS = 200


def draw(rnd, n, p):
    """A count near n*p with binomial spread (normal approximation), never negative."""
    mean, sd = n * p, (n * p * (1 - p)) ** 0.5
    return max(0, round(rnd.gauss(mean, sd)))


def week(rnd, visits_share=None, east_rate_factor=1.0, volume=1.0):
    """num (won) and den (visits) per (region, channel) for one week."""
    share = visits_share or {c: 0.2 for c in CHANNELS}
    num, den = {}, {}
    for r in REGIONS:
        for c in CHANNELS:
            v = max(1, round(rnd.gauss(400 * share[c] * 5 * volume, 12)))
            rate = RATE_BY_CHANNEL[c] * (east_rate_factor if r == "east" else 1.0)
            num[(r, c)], den[(r, c)] = draw(rnd, v, rate), v
    return num, den


def by(dim, cells):
    i = 0 if dim == "region" else 1
    out = {}
    for k, v in cells.items():
        out[(k[i],)] = out.get((k[i],), 0) + v
    return out


def splits(w0, w1):
    return [split_ratio([d], by(d, w0[0]), by(d, w0[1]), by(d, w1[0]), by(d, w1[1])) for d in ("region", "channel")]


def named_first(best, dim, keys, effect):
    top = best.segments[0]
    return best.dimensions == [dim] and top.key[0] in keys and dominant_effect(top) == effect


# (strength, required accuracy): the planted-drop size of the demo, and a subtle one
STRONG, SUBTLE = (1.0, 0.95), (0.5, 0.80)


@pytest.mark.parametrize("strength,required", [STRONG, SUBTLE], ids=["strong", "subtle"])
def test_region_rate_drop_is_named_first(strength, required):
    rnd = random.Random(1)
    hits = 0
    for _ in range(TRIALS):
        before, after = week(rnd), week(rnd, east_rate_factor=1 - 0.4 * strength)  # -40 % or -12 %
        hits += named_first(best_split(splits(before, after)), "region", {"east"}, "rate")
    print(f"\nplanted region rate drop ({1 - 0.4 * strength:.2f}x) named first: {hits}/{TRIALS} = {hits / TRIALS:.1%}")
    assert hits / TRIALS >= required


@pytest.mark.parametrize("strength,required", [STRONG, SUBTLE], ids=["strong", "subtle"])
def test_channel_mix_shift_is_named_first(strength, required):
    rnd = random.Random(2)
    moved = 0.12 * strength  # share of visits moved from referral (30 %) to cold_call (6 %)
    shifted = {"web": 0.2, "referral": 0.2 - moved, "event": 0.2, "cold_call": 0.2 + moved, "partner": 0.2}
    hits = 0
    for _ in range(TRIALS):
        before, after = week(rnd), week(rnd, visits_share=shifted)
        best = best_split(splits(before, after))
        ok = named_first(best, "channel", {"referral", "cold_call"}, "mix") and abs(best.mix_effect) > abs(
            best.rate_effect)
        hits += ok
    print(f"\nplanted channel mix shift ({moved:.0%} of visits) named first: {hits}/{TRIALS} = {hits / TRIALS:.1%}")
    assert hits / TRIALS >= required


@pytest.mark.parametrize("strength,required", [STRONG, SUBTLE], ids=["strong", "subtle"])
def test_visits_fall_is_named_first(strength, required):
    rnd = random.Random(3)
    formulas = {"performance": "mindset * visits * conversion", "conversion": "deals_won / visits"}
    tree = formula_tree(formulas["performance"], expand=formulas.get, name="performance")
    hits = 0
    for _ in range(TRIALS):
        values = []
        for volume in (1.0, 1 - 0.25 * strength):
            num, den = week(rnd, volume=volume)
            values.append({"mindset": rnd.gauss(7.0, 0.05), "visits": sum(den.values()),
                           "deals_won": sum(num.values())})
        d = decompose_formula(tree, values[0], values[1])
        hits += top_inputs(d, 1)[0].name == "visits"
    print(f"\nplanted visits fall ({0.25 * strength:.1%}) named first: {hits}/{TRIALS} = {hits / TRIALS:.1%}")
    assert hits / TRIALS >= required
