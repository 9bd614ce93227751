"""The combination search on hand-built leaves: planted causes and contributions checked by plain sums."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from kpiengine.analysis.localize import Leaves, fit_noise, localize


def grid(cards, rng, noise=0.05, scale=100.0):
    keys = list(itertools.product(*[[f"{d}{i}" for i in range(c)] for d, c in zip("abcdefghij", cards)]))
    base = rng.uniform(0.5, 1.5, len(keys)) * scale
    actual = base * (1 + rng.normal(0, noise, len(keys)))
    return keys, base, actual


def planted(keys, conds: dict) -> np.ndarray:
    dims = "abcdefghij"
    return np.array([all(k[dims.index(d)] == v for d, v in conds.items()) for k in keys])


def test_a_planted_conjunction_is_named_exactly_with_its_exact_contribution():
    rng = np.random.default_rng(1)
    keys, base, actual = grid((6, 5, 4, 3), rng)
    cause = planted(keys, {"a": "a2", "c": "c1"})
    actual[cause] = base[cause] * 0.6
    loc = localize(Leaves.from_records(list("abcd"), keys, base, actual))
    assert [e.dims for e in loc.elements] == [{"a": "a2", "c": "c1"}]
    e = loc.elements[0]
    assert e.label == "a=a2 & c=c1" and e.leaves == int(cause.sum())
    assert (e.before, e.after) == (pytest.approx(base[cause].sum()), pytest.approx(actual[cause].sum()))
    assert e.contribution == pytest.approx(actual[cause].sum() - base[cause].sum())
    assert loc.other.contribution == pytest.approx(actual[~cause].sum() - base[~cause].sum())
    assert e.contribution + loc.other.contribution == pytest.approx(loc.change)
    assert loc.change == pytest.approx(actual.sum() - base.sum())


def test_two_overlapping_causes_and_no_intersection_element():
    rng = np.random.default_rng(2)
    keys, base, actual = grid((5, 5, 4), rng)
    first, second = planted(keys, {"a": "a1"}), planted(keys, {"b": "b3"})
    actual[first] = base[first] * 0.5
    actual[second] = base[second] * 0.7  # the later cause wins where they meet, as in the published recipe
    loc = localize(Leaves.from_records(list("abc"), keys, base, actual))
    assert sorted(map(str, (e.dims for e in loc.elements))) == sorted(map(str, [{"a": "a1"}, {"b": "b3"}]))
    assert sum(e.contribution for e in loc.elements) + loc.other.contribution == pytest.approx(loc.change)


def test_a_move_spread_over_everything_names_no_segment():
    rng = np.random.default_rng(3)
    keys, base, actual = grid((5, 4, 4), rng)
    loc = localize(Leaves.from_records(list("abc"), keys, base, actual * 0.9))
    assert loc.elements == [] and loc.other.contribution == pytest.approx(loc.change)


def test_noise_alone_rarely_names_anything():
    """The description-length threshold: on pure noise a segment is named in a few percent of searches."""
    rng = np.random.default_rng(4)
    named = sum(bool(localize(Leaves.from_records(list("abc"), *grid((8, 6, 5), rng, noise=0.2))).elements)
                for _ in range(40))
    assert named <= 4, named


def test_a_null_value_is_a_segment_of_its_own():
    rng = np.random.default_rng(5)
    keys, base, actual = grid((4, 4), rng)
    keys = [(a, None if b == "b0" else b) for a, b in keys]
    cause = np.array([k[1] is None for k in keys])
    actual[cause] = base[cause] * 0.4
    loc = localize(Leaves.from_records(["a", "b"], keys, base, actual))
    assert [e.dims for e in loc.elements] == [{"b": None}] and loc.elements[0].label == "b=(null)"


def test_a_ratio_cause_with_rate_and_mix_effects_adding_up():
    """won / visits per leaf; one segment's rate halves. Effects checked against the textbook formulas."""
    rng = np.random.default_rng(6)
    keys = list(itertools.product([f"r{i}" for i in range(5)], [f"c{j}" for j in range(4)], [f"p{k}" for k in range(3)]))
    visits0 = rng.integers(800, 1200, len(keys)).astype(float)
    visits1 = visits0 * rng.uniform(0.97, 1.03, len(keys))
    rate = rng.uniform(0.15, 0.25, len(keys))
    won0, won1 = visits0 * rate, visits1 * rate
    cause = np.array([k[0] == "r3" and k[1] == "c2" for k in keys])
    won1[cause] *= 0.5
    loc = localize(Leaves(["region", "channel", "product"], *_codes(keys),
                          np.column_stack([won0, visits0]), np.column_stack([won1, visits1])))
    assert [e.dims for e in loc.elements] == [{"region": "r3", "channel": "c2"}]
    e = loc.elements[0]
    y0, y1 = won0.sum() / visits0.sum(), won1.sum() / visits1.sum()
    w0, w1 = visits0[cause].sum() / visits0.sum(), visits1[cause].sum() / visits1.sum()
    r0, r1 = won0[cause].sum() / visits0[cause].sum(), won1[cause].sum() / visits1[cause].sum()
    assert e.rate_effect == pytest.approx((w0 + w1) / 2 * (r1 - r0))
    assert e.mix_effect == pytest.approx((w1 - w0) * ((r0 + r1) / 2 - (y0 + y1) / 2))
    assert e.channels == ["rate"] and (e.before, e.after) == (pytest.approx(r0), pytest.approx(r1))
    assert e.contribution + loc.other.contribution == pytest.approx(y1 - y0)


def _codes(keys):
    leaves = Leaves.from_records(["x"] * len(keys[0]), keys, np.zeros(len(keys)), np.zeros(len(keys)))
    return leaves.codes, leaves.values


def test_many_dimensions_use_the_beam_and_still_find_a_deep_cause():
    rng = np.random.default_rng(7)
    m, n = 12, 20000
    codes = rng.integers(0, 6, size=(n, m)).astype(np.int32)
    base = rng.uniform(50, 150, n)
    actual = base * (1 + rng.normal(0, 0.05, n))
    cause = (codes[:, 2] == 1) & (codes[:, 7] == 4) & (codes[:, 9] == 0)
    actual[cause] = base[cause] * 0.5
    names = [f"d{j}" for j in range(m)]
    loc = localize(Leaves(names, codes, [list(range(6))] * m, base, actual), beam=3)
    assert [e.dims for e in loc.elements] == [{"d2": 1, "d7": 4, "d9": 0}]


@pytest.mark.parametrize("noise, counts, power", [(0.1, False, 2.0), (None, True, 1.0)])
def test_the_noise_model_recovers_the_kind_of_noise(noise, counts, power):
    rng = np.random.default_rng(8)
    if counts:
        lam = rng.uniform(2, 400, 20000)
        a, v = rng.poisson(lam).astype(float), rng.poisson(lam).astype(float)
        x = (a + v) / 2
    else:
        a = rng.weibull(0.7, 20000) * 100
        v = a * (1 + rng.normal(0, noise, a.size))
        x = np.maximum(a, v)
    c, p = fit_noise(x, v - a, counts=counts)
    assert p == pytest.approx(power, abs=0.15)
    if counts:  # var(v - a) = lambda_a + lambda_v = 2 x
        assert c == pytest.approx(2.0, rel=0.2)
    else:
        assert np.sqrt(c) == pytest.approx(noise, rel=0.2)
