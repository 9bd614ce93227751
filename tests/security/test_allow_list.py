"""The allow-list of expression nodes and functions: in one place in the code, the same in docs/spec.md."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from kpiengine.spec.sqlsafety import ALLOWED_FUNCTIONS, allowed_functions_markdown, check_expression

DOC = (Path(__file__).resolve().parents[2] / "docs" / "spec.md").read_text(encoding="utf-8")


def test_docs_spec_lists_exactly_the_allowed_functions():
    start = DOC.index("<!-- allowed-functions:start -->") + len("<!-- allowed-functions:start -->")
    assert DOC[start:DOC.index("<!-- allowed-functions:end -->")].strip() == allowed_functions_markdown()


def test_every_allowed_function_is_a_scalar_sqlglot_node():
    for family in ALLOWED_FUNCTIONS.values():
        for _spelled, cls in family:
            assert issubclass(cls, exp.Expression) and not issubclass(cls, (exp.AggFunc, exp.UDTF)), cls


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "mysql", "sqlite"])
@pytest.mark.parametrize("text", [
    "lower(region) = 'east' AND amount BETWEEN 1 AND 100",
    "CASE WHEN stage IN ('won', 'lost') THEN 1 ELSE 0 END = 1",
    "COALESCE(NULLIF(trim(channel), ''), 'unknown')",
    "CAST(amount AS DECIMAL(10, 2)) * 1.19 > 100 OR amount IS NULL",
    "substring(code, 1, 2) LIKE 'A%'",
    "abs(round(amount, 2)) >= 10 AND NOT is_test",
    "EXTRACT(year FROM ts) = 2026",
])
def test_ordinary_row_expressions_are_allowed_on_every_dialect(dialect, text):
    assert check_expression(text, dialect) == []


@pytest.mark.parametrize("text, message", [
    ("lo_from_bytea(0, 'x') IS NOT NULL", "function lo_from_bytea() is not allowed in a filter"),
    ("query_to_xml('select 1', true, true, '') IS NOT NULL", "function query_to_xml() is not allowed"),
    ("stage IN (SELECT stage FROM deals)", "subqueries are not allowed in a filter"),
    ("read_csv('/etc/passwd') IS NULL", "function read_csv() is not allowed"),
    ("now() > ts", "function current_timestamp() is not allowed"),
    ("sum(amount) OVER () > 1", "window functions are not allowed"),
    ("$1 = 1", "parameters and session variables are not allowed"),
    ("(" * 40 + "1" + ")" * 40, "nests parentheses 40 deep; the limit is 32"),
    ("x" * 4001, "is 4,001 characters long; the limit is 4,000"),
])
def test_everything_else_is_refused_with_its_reason(text, message):
    problems = check_expression(text, "postgres")
    assert any(message in p for p in problems), problems
