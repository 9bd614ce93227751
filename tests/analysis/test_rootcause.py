"""Hand-worked checks of the root-cause arithmetic: every expected number is computed here, by hand formulas."""
import math

import pytest

from kpiengine.analysis.rootcause import (OTHER, decompose_formula, evaluate, formula_tree, group_other, leaf_totals,
                                 log_mean, split_additive, split_pairs, split_ratio)


def L(a, b):
    return a if a == b else (a - b) / (math.log(a) - math.log(b))


def children(driver):
    return {c.name: c.contribution for c in driver.children}


def test_lmdi_product_hand_worked():
    d = decompose_formula(formula_tree("a * b"), {"a": 2, "b": 5}, {"a": 3, "b": 4})
    assert d.method == "lmdi"
    assert (d.before, d.after) == (10, 12)
    c = children(d)
    assert c["a"] == pytest.approx(L(12, 10) * math.log(3 / 2))   # 4.4478...
    assert c["b"] == pytest.approx(L(12, 10) * math.log(4 / 5))   # -2.4478...
    assert c["a"] + c["b"] == pytest.approx(2.0, abs=1e-12)


def test_lmdi_ratio_and_constant_factor():
    d = decompose_formula(formula_tree("2 * won / visits"), {"won": 20, "visits": 100}, {"won": 18, "visits": 120})
    y0, y1 = 2 * 20 / 100, 2 * 18 / 120
    c = children(d)
    assert c["won"] == pytest.approx(L(y1, y0) * math.log(18 / 20))
    assert c["visits"] == pytest.approx(-L(y1, y0) * math.log(120 / 100))
    assert c["2"] == 0.0
    assert sum(c.values()) == pytest.approx(y1 - y0, abs=1e-12)


def test_sums_split_directly():
    d = decompose_formula(formula_tree("a - b + c"), {"a": 10, "b": 4, "c": 1}, {"a": 7, "b": 6, "c": 2})
    assert d.method == "sum"
    assert children(d) == {"a": -3.0, "b": -2.0, "c": 1.0}


def test_negative_values_without_sign_flip_use_magnitudes():
    d = decompose_formula(formula_tree("a * b"), {"a": -2, "b": 5}, {"a": -3, "b": 4})
    c = children(d)
    assert d.method == "lmdi"
    assert c["a"] == pytest.approx(-L(12, 10) * math.log(3 / 2))
    assert c["b"] == pytest.approx(-L(12, 10) * math.log(4 / 5))
    assert sum(c.values()) == pytest.approx(-2.0, abs=1e-12)


def test_zero_input_falls_back_to_shapley():
    d = decompose_formula(formula_tree("a * b"), {"a": 0, "b": 3}, {"a": 4, "b": 5})
    assert d.method == "shapley" and "a is 0" in d.note
    c = children(d)
    # Shapley by hand: a = ((4*3 - 0*3) + (4*5 - 0*5)) / 2 = 16, b = ((0*5 - 0*3) + (4*5 - 4*3)) / 2 = 4
    assert c == {"a": pytest.approx(16.0), "b": pytest.approx(4.0)}


def test_zero_numerator_ratio():
    d = decompose_formula(formula_tree("won / visits"), {"won": 0, "visits": 100}, {"won": 5, "visits": 100})
    c = children(d)
    assert c["won"] == pytest.approx(0.05) and c["visits"] == pytest.approx(0.0)
    assert not any(math.isnan(v) for v in c.values())


def test_sign_flip_uses_shapley_three_factors():
    v0, v1 = {"a": 2, "b": -1, "c": 3}, {"a": 3, "b": 2, "c": 4}
    d = decompose_formula(formula_tree("a * b * c"), v0, v1)
    assert d.method == "shapley"
    f = lambda a, b, c: a * b * c
    # Shapley of a over the 3! orders, by hand: weights 1/3 (alone), 1/6 (with one other), 1/3 (after both)
    sa = (f(3, -1, 3) - f(2, -1, 3)) / 3 + (f(3, 2, 3) - f(2, 2, 3)) / 6 + (f(3, -1, 4) - f(2, -1, 4)) / 6 \
        + (f(3, 2, 4) - f(2, 2, 4)) / 3
    assert children(d)["a"] == pytest.approx(sa)
    assert sum(children(d).values()) == pytest.approx(24 - (-6))


def test_null_input_is_undefined_not_nan():
    d = decompose_formula(formula_tree("won / visits"), {"won": 3, "visits": None}, {"won": 5, "visits": 10})
    assert d.method == "undefined" and d.contribution is None and "visits" in d.note
    d = decompose_formula(formula_tree("won / visits"), {"won": 3, "visits": 0}, {"won": 5, "visits": 10})
    assert d.method == "undefined" and "denominator is 0" in d.note


def test_recursive_driver_tree_is_additive():
    formulas = {"performance": "mindset * visits * conversion", "conversion": "deals_won / visits"}
    tree = formula_tree(formulas["performance"], expand=formulas.get, name="performance")
    v0 = {"mindset": 7.0, "visits": 400.0, "deals_won": 80.0}
    v1 = {"mindset": 7.2, "visits": 380.0, "deals_won": 57.0}
    d = decompose_formula(tree, v0, v1)
    y0, y1 = 7.0 * 400 * (80 / 400), 7.2 * 380 * (57 / 380)
    assert (d.before, d.after) == (pytest.approx(y0), pytest.approx(y1))
    c = children(d)
    assert c["mindset"] == pytest.approx(L(y1, y0) * math.log(7.2 / 7.0))
    assert c["conversion"] == pytest.approx(L(y1, y0) * math.log((57 / 380) / (80 / 400)))
    conv = next(x for x in d.children if x.name == "conversion")
    assert sum(children(conv).values()) == pytest.approx(conv.contribution)
    totals = leaf_totals(d)
    assert sum(totals.values()) == pytest.approx(y1 - y0)
    # visits cancels: its direct factor and its use as a denominator offset exactly
    assert totals["visits"] == pytest.approx(0.0, abs=1e-9)


def test_flat_middle_node_still_shows_offsetting_inputs():
    d = decompose_formula(formula_tree("a * (b + c)"), {"a": 2, "b": 1, "c": 3}, {"a": 3, "b": 2, "c": 2})
    mid = next(x for x in d.children if x.name == "b + c")
    assert mid.contribution == pytest.approx(0.0)
    b = next(x for x in mid.children if x.name == "b").contribution
    assert b == pytest.approx(L(12, 8) / 4)  # scale L(y)/L(4, 4) per unit of change
    assert sum(x.contribution for x in mid.children) == pytest.approx(0.0)


def test_log_mean_limit():
    assert log_mean(5.0, 5.0) == 5.0
    assert log_mean(12, 10) == pytest.approx(2 / math.log(1.2))
    assert evaluate(formula_tree("a / b"), {"a": 1, "b": 0}) is None


def test_ratio_split_rate_only():
    s = split_ratio(["region"], {("a",): 20, ("b",): 30}, {("a",): 100, ("b",): 100},
                    {("a",): 8, ("b",): 30}, {("a",): 100, ("b",): 100})
    assert s.change == pytest.approx(0.19 - 0.25)
    top = s.segments[0]
    assert top.key == ("a",) and top.rate_effect == pytest.approx(-0.06) and top.mix_effect == pytest.approx(0)


def test_ratio_split_mix_only_centred_on_average_rate():
    s = split_ratio(["channel"], {("weak",): 10, ("strong",): 30}, {("weak",): 100, ("strong",): 100},
                    {("weak",): 30, ("strong",): 30}, {("weak",): 300, ("strong",): 100})
    seg = {x.key[0]: x for x in s.segments}
    y_bar = (0.2 + 0.15) / 2
    assert seg["weak"].mix_effect == pytest.approx(0.25 * (0.1 - y_bar))
    assert seg["strong"].mix_effect == pytest.approx(-0.25 * (0.3 - y_bar))
    assert s.rate_effect == pytest.approx(0.0)
    assert s.mix_effect == pytest.approx(-0.05)


def test_simpsons_paradox_is_explained():
    s = split_ratio(["ch"], {("A",): 10, ("B",): 450}, {("A",): 100, ("B",): 900},
                    {("A",): 108, ("B",): 55}, {("A",): 900, ("B",): 100})
    assert s.change == pytest.approx(0.163 - 0.46)
    assert all(x.rate_effect > 0 for x in s.segments)  # every segment got better...
    assert s.mix_effect < 0 and s.mix_effect < -abs(s.rate_effect)  # ...the total fell through mix
    assert sum(x.contribution for x in s.segments) == pytest.approx(s.change)


def test_new_and_vanished_segments_are_pure_mix():
    s = split_ratio(["ch"], {("old",): 10, ("keep",): 20}, {("old",): 50, ("keep",): 100},
                    {("new",): 50, ("keep",): 20}, {("new",): 100, ("keep",): 100})
    seg = {x.key[0]: x for x in s.segments}
    assert seg["new"].status == "new" and seg["new"].rate_effect == 0
    assert seg["old"].status == "vanished" and seg["old"].rate_effect == 0
    assert sum(x.contribution for x in s.segments) == pytest.approx(70 / 200 - 30 / 150)


def test_zero_total_denominator_gives_note_not_error():
    s = split_ratio(["ch"], {}, {}, {("a",): 1}, {("a",): 2})
    assert s.segments == [] and "denominator is 0" in s.note


def test_additive_split_with_null_group_and_other():
    before = {("east",): 100, ("west",): 100, (None,): 10, ("north",): 50, ("south",): 50}
    after = {("east",): 60, ("west",): 101, (None,): 14, ("north",): 50, ("south",): 49}
    s = group_other(split_additive(["region"], before, after), min_share=0.05)
    assert s.segments[0].key == ("east",) and s.segments[0].contribution == -40
    assert s.segments[1].label == "∅" and s.segments[1].contribution == 4
    other = s.segments[-1]
    assert other.key == (OTHER,) and other.members == 3 and other.contribution == 0  # west +1, north 0, south -1
    assert sum(x.contribution for x in s.segments) == s.change == 274 - 310


def test_two_dimension_search_is_bounded_and_additive():
    regions, channels = [f"r{i}" for i in range(8)], [f"c{j}" for j in range(8)]
    num0, den0, num1, den1 = {}, {}, {}, {}
    for i, r in enumerate(regions):
        for j, c in enumerate(channels):
            den0[(r, c)] = den1[(r, c)] = 100 + 3 * i + j
            num0[(r, c)] = 20 + (i + j) % 3
            num1[(r, c)] = num0[(r, c)] - (12 if (r, c) == ("r3", "c5") else 0)

    def make(dims):
        if len(dims) == 2:
            return split_ratio(dims, num0, den0, num1, den1)
        idx = 0 if dims[0] == "region" else 1
        agg = lambda d: {(k[idx],): sum(v for kk, v in d.items() if kk[idx] == k[idx]) for k in d}
        return split_ratio(dims, agg(num0), agg(den0), agg(num1), agg(den1))

    s = split_pairs(["region", "channel"], make, top_per_dimension=3, max_segments=5)
    assert s.segments[0].key == ("r3", "c5")
    assert len(s.segments) <= 6
    assert sum(x.contribution for x in s.segments) == pytest.approx(s.change)
