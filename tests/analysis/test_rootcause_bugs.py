"""The four root-cause bugs of issue 17, each on data where the right answer is known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from kpiengine.analysis.rootcause import OTHER, best_split, group_other, split_additive, split_pairs, split_ratio


def _by(cells: dict, idx: int) -> dict:
    out: dict = {}
    for key, v in cells.items():
        out[(key[idx],)] = out.get((key[idx],), 0) + v
    return out


def test_a_clean_sum_cause_names_its_dimension():
    """Region east 300 -> 150, every other region unchanged; the drop is spread unevenly over channels.

    The old score folded the unchanged regions into "other" first, so region's
    distribution "did not move" (surprise exactly 0) and channel won.
    """
    regions, channels = ["north", "south", "east", "west", "central"], ["web", "event", "partner", "cold_call"]
    east_drop = {"web": 60, "event": 50, "partner": 30, "cold_call": 10}
    before = {(r, c): 75 for r in regions for c in channels}
    after = {(r, c): 75 - (east_drop[c] if r == "east" else 0) for r in regions for c in channels}
    splits = [group_other(split_additive([dim], _by(before, i), _by(after, i)))
              for i, dim in enumerate(["region", "channel"])]
    assert best_split(splits).dimensions == ["region"]
    assert best_split(splits).segments[0].key == ("east",)


def _planted_ratio(rng, cell: tuple | None, region: str | None, visits: int = 400, factor: float = 0.5):
    """Visits and won deals per region x channel for two weeks, binomial noise, one planted rate drop."""
    regions, channels = [f"r{i}" for i in range(5)], [f"c{j}" for j in range(5)]
    num0, den0, num1, den1 = {}, {}, {}, {}
    for r in regions:
        for c in channels:
            for num, den, week in ((num0, den0, 0), (num1, den1, 1)):
                p = 0.2 * (factor if week == 1 and ((r, c) == cell or r == region) else 1.0)
                den[(r, c)] = visits
                num[(r, c)] = int(rng.binomial(visits, p))
    return num0, den0, num1, den1


def _views(num0, den0, num1, den1):
    def make(dims):
        if len(dims) == 2:
            return split_ratio(dims, num0, den0, num1, den1)
        i = 0 if dims[0] == "region" else 1
        return split_ratio(dims, _by(num0, i), _by(den0, i), _by(num1, i), _by(den1, i))

    return [group_other(make(["region"])), group_other(make(["channel"])),
            split_pairs(["region", "channel"], make)]


def test_pairs_do_not_win_just_because_they_are_finer():
    """A whole region's rate halves: region must win over region x channel (the old score picked the pair)."""
    rng = np.random.default_rng(17)
    right = 0
    for _ in range(40):
        best = best_split(_views(*_planted_ratio(rng, None, "r2")))
        right += best.dimensions == ["region"] and best.segments[0].key == ("r2",)
    assert right >= 38, right


def test_a_single_cell_cause_still_picks_the_pair():
    rng = np.random.default_rng(18)
    right = 0
    for _ in range(40):
        best = best_split(_views(*_planted_ratio(rng, ("r1", "c3"), None, visits=2000, factor=0.1)))
        right += best.dimensions == ["region", "channel"] and best.segments[0].key == ("r1", "c3")
    assert right >= 38, right


def test_a_real_value_called_other_is_not_the_folded_rest():
    before = {("other",): 500, ("web",): 100, ("event",): 100, ("partner",): 20, ("referral",): 20}
    after = {("other",): 200, ("web",): 95, ("event",): 100, ("partner",): 21, ("referral",): 19}
    split = group_other(split_additive(["channel"], before, after), min_share=0.05)
    first, last = split.segments[0], split.segments[-1]
    assert first.key == ("other",) and first.contribution == -300 and first.status == "both"
    assert first.label == "other" and last.key == (OTHER,) and last.label == "other (4 values)"
    assert first.label != last.label and first.to_dict(["channel"])["dimensions"] == {"channel": "other"}
    assert last.to_dict(["channel"])["dimensions"] == {"channel": None}
    assert sum(s.contribution for s in split.segments) == split.change


def test_a_margin_changing_sign_does_not_crash():
    """margin = profit / revenue, profit turning negative in one region: the score must not take log(-x)."""
    profit0 = {("east",): 30.0, ("west",): 20.0}
    revenue0 = {("east",): 100.0, ("west",): 100.0}
    profit1 = {("east",): -25.0, ("west",): 20.0}
    revenue1 = {("east",): 100.0, ("west",): 100.0}
    region = split_ratio(["region"], profit0, revenue0, profit1, revenue1)
    assert region.before == pytest.approx(0.25) and region.after == pytest.approx(-0.025)
    channel = split_ratio(["channel"], {("web",): 50.0}, {("web",): 200.0}, {("web",): -60.0}, {("web",): 200.0})
    best = best_split([group_other(region), group_other(channel)])
    assert best.dimensions == ["region"] and best.segments[0].key == ("east",)
