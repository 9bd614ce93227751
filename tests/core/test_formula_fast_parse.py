"""Common formulas are read by a small parser: the tree must be the one sqlglot builds, error for error.

The expected trees are sqlglot's own parse (the reference the rest of the
engine was written against) and hand-written ones; formulas outside the small
grammar must still be refused with sqlglot's messages.
"""
from __future__ import annotations

import random

import pytest
import sqlglot
from sqlglot import exp

from kpiengine.spec import formula
from kpiengine.spec.formula import FormulaError, evaluate, parse_formula
from kpiengine.spec.offsets import FormulaDialect

CASES = [
    "a", "deals_won / visits", "(a + b) / b * 100", "-a * b", "a - -b", "- (a)", "1.50 + 007", "a*b/c-d+e",
    "((a))", "a / (b - c) / d", "  revenue  ", "x1 + _y2 * 3", "100", "-2", "a+-b*-c", "a -b", "(a) (b)",
    "a +", "* a", "(a + b", "a + b)", "", "a b", "2x", "1e3 + a", ".5 * a", "a // b", "a ** 2", "a -- c",
    "a /* c */ + b", "sum(a)", "a.b + c", "revenue[-1] / revenue", "a % b", "date + 1", "case", "a + null",
    "a and b", "'x' + a", "a\n+ b\t* c", "Visits / Leads", "a + 1_000",
]


def _sqlglot(text):
    try:
        return repr(sqlglot.parse_one(text, read=FormulaDialect))
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return "error"


@pytest.mark.parametrize("text", CASES)
def test_small_parser_builds_sqlglots_tree_or_steps_aside(text):
    simple = formula._parse_simple(text)
    if simple is not None:
        assert repr(simple) == _sqlglot(text)


def test_random_formulas_match_sqlglot():
    rng = random.Random(11)
    names = ["a", "visits", "deals_won", "x_1", "Rev"]

    def gen(depth):
        r = rng.random()
        if depth > 4 or r < 0.3:
            return rng.choice(names + ["2", "0.5", "100"])
        if r < 0.4:
            return "-" + gen(depth + 1)
        if r < 0.55:
            return "(" + gen(depth + 1) + ")"
        return gen(depth + 1) + rng.choice([" + ", "-", " * ", "/", " - "]) + gen(depth + 1)

    read_simply = 0
    for _ in range(400):
        text = gen(0)
        simple = formula._parse_simple(text)
        if simple is not None:
            read_simply += 1
            assert repr(simple) == _sqlglot(text), text
    assert read_simply > 300  # the common shapes do take the short way


def test_common_formulas_take_the_short_way():
    for text in ("deals_won / visits", "(a + b) / b * 100", "-a * b", "a - -b"):
        assert formula._parse_simple(text) is not None, text


def test_values_and_errors_unchanged():
    tree = parse_formula("(won + lost) / won * 100 - -1")
    assert evaluate(tree, {"won": 4.0, "lost": 1.0}) == pytest.approx((4 + 1) / 4 * 100 + 1)
    assert evaluate(parse_formula("a / (b - b)"), {"a": 1.0, "b": 2.0}) is None
    for bad, words in (("sum(a)", "function calls are not allowed"), ("'x' + a", "text constant"),
                       ("(a + b", "cannot parse formula"), ("a.b + c", "is not a KPI name")):
        with pytest.raises(FormulaError, match=words):
            parse_formula(bad)
    assert isinstance(parse_formula("x_only_here_1 + 2").expression, exp.Literal)
