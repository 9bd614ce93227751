"""Formulas as plain trees give the values the sqlglot trees give, and say which KPIs they need.

The per-model path evaluates a cached request's formulas as FormulaNode trees
(spec.formulanode) so that it never imports sqlglot; spec.formula.evaluate on the
parsed tree is the reference: random formulas over random values, NULLs, zeros
and overflows included, must give exactly the same result.
"""
from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest

from kpiengine.loader import load_project
from kpiengine.run.assemble import formula_programs
from kpiengine.spec.formula import evaluate, parse_formula, to_node
from kpiengine.spec.formulanode import evaluate_node

NAMES = ["a", "b", "c"]
CASES = [
    ("a / b", {"a": 1, "b": 0}),  # x / 0 is null
    ("a / b", {"a": 0, "b": 4}),
    ("a - b * c", {"a": 1, "b": None, "c": 2}),  # null in, null out
    ("-(a + 2.5) / (b - b)", {"a": 1, "b": 3}),
    ("a * b * c", {"a": 1e200, "b": 1e200, "c": 1e200}),  # not finite: null
    ("(a + b) / (a + b)", {"a": -1, "b": 1}),
    ("a / 3", {"a": 10}),
]


def same(x, y) -> bool:
    return (x is None and y is None) or (x is not None and y is not None and (x == y or (math.isnan(x) and math.isnan(y))))


@pytest.mark.parametrize("text, values", CASES)
def test_listed_formulas_evaluate_as_the_sqlglot_tree(text, values):
    tree = parse_formula(text)
    assert same(evaluate_node(to_node(tree), values), evaluate(tree, values))


def random_formula(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(NAMES + ["0", "1", "2.5", "1e300"])
    if rng.random() < 0.1:
        return f"-({random_formula(rng, depth + 1)})"
    op = rng.choice(["+", "-", "*", "/"])
    return f"({random_formula(rng, depth + 1)} {op} {random_formula(rng, depth + 1)})"


def test_random_formulas_evaluate_as_the_sqlglot_tree():
    rng = random.Random(20261203)
    pool = [None, 0, 1, -3, 7, 0.5, 1e300, -1e300, 123456789012]
    checked = 0
    for _ in range(2000):
        text = random_formula(rng)
        tree = parse_formula(text)
        node = to_node(tree)
        for _ in range(5):
            values = {n: rng.choice(pool) for n in NAMES}
            assert same(evaluate_node(node, values), evaluate(tree, values)), (text, values)
            checked += 1
    assert checked == 10_000


SPEC = """
project: {name: f, timezone: UTC}
sources:
  w: {type: duckdb, path: ":memory:"}
models:
  m: {table: t, time: ts}
kpis:
  x: {label: X, model: m, aggregate: count}
  y: {label: Y, model: m, aggregate: sum, column: v}
  z: {label: Z, model: m, aggregate: avg, column: v}
  ratio: {label: Ratio, formula: y / x}
  nested: {label: Nested, formula: ratio * 100 - z}
  last_week: {label: Change, formula: "x - x[-1]"}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "s.yml").write_text(SPEC, encoding="utf-8")
    return load_project(tmp_path)


def test_programs_list_inputs_and_the_aggregates_under_each_formula(project):
    programs = formula_programs(project, ["nested", "x"])
    assert set(programs) == {"nested", "ratio"}  # the formulas asked for and the ones they read
    assert programs["nested"].inputs == ("ratio", "z")
    assert programs["nested"].leaves == ("y", "x", "z")
    assert programs["ratio"].leaves == ("y", "x")


def test_a_formula_reading_another_period_has_no_program(project):
    assert formula_programs(project, ["ratio", "last_week"]) is None


def test_the_plain_trees_import_no_sqlglot():
    code = ("import sys, pickle; from kpiengine.spec.formulanode import FormulaNode, evaluate_node; "
            "n = FormulaNode('/', children=(FormulaNode('kpi', name='a'), FormulaNode('const', value=2.0))); "
            "assert evaluate_node(pickle.loads(pickle.dumps(n)), {'a': 3}) == 1.5; "
            "assert 'sqlglot' not in sys.modules, 'sqlglot imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
