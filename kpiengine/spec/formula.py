"""Formulas over other KPIs: parsing, checking and null-safe evaluation.

A formula such as ``mindset * visits * conversion`` or ``deals_won / visits`` is
parsed with sqlglot's expression parser (so operator precedence and numbers
follow SQL) and then restricted to a small, safe grammar: KPI names, numeric
constants, ``+ - * /``, unary minus and parentheses. Formulas are evaluated in
Python over the per-model aggregates, so every engine gives the same numbers
and a zero denominator gives None, never an error or infinity.
"""
from __future__ import annotations

import functools
import math
import re

import sqlglot
from sqlglot import exp

from .formulanode import FormulaNode
from .limits import MAX_FORMULA_CHARS, MAX_TREE_DEPTH, text_limit_problem, tree_depth
from .offsets import FormulaDialect, Offset, OffsetError, parse_offset

_BINARY = (exp.Add, exp.Sub, exp.Mul, exp.Div)


class FormulaError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def parse_formula(text: str) -> exp.Expression:
    """Parse and restrict a formula; raises FormulaError with a hint.

    The result is cached and shared: treat it as read-only (every function in
    this module only reads it).
    """
    return _parse_formula_cached(text)


@functools.lru_cache(maxsize=4096)
def _parse_formula_cached(text: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("formula is empty", "write e.g. `deals_won / visits`")
    if ";" in text:
        raise FormulaError("a formula is one expression: ';' is not allowed")
    too_big = text_limit_problem(text, "the formula", MAX_FORMULA_CHARS)
    if too_big:
        raise FormulaError(too_big, "build it from intermediate formula KPIs")
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        tree = _parse_simple(text) or sqlglot.parse_one(text, read=FormulaDialect)
    except sqlglot.errors.ParseError as exc:
        raise FormulaError(f"cannot parse formula {shown!r}: {exc.errors[0]['description'] if exc.errors else exc}",
                           "use KPI names, numbers, + - * / and parentheses") from None
    except sqlglot.errors.TokenError:
        raise FormulaError(f"cannot read formula {shown!r}: a quote is not closed",
                           "formulas use KPI names and numbers; no quotes are needed") from None
    except RecursionError:
        raise FormulaError("the formula nests too deeply", "build it from intermediate formula KPIs") from None
    if tree is None:
        raise FormulaError("formula is empty", "write e.g. `deals_won / visits`")
    if tree_depth(tree) > MAX_TREE_DEPTH:
        raise FormulaError(f"the formula has more than {MAX_TREE_DEPTH} operations in a chain",
                           "build it from intermediate formula KPIs")
    _check(tree, text)
    if len(_INPUTS) >= 16384:
        _INPUTS.clear()
    _INPUTS[id(tree)] = (tree, tuple(_walk_inputs(tree)))
    return tree


# The inputs of each parsed (cached, read-only) formula, found once: validation, breakdown checks and the
# planner ask for them per KPI and per request, which walked the same trees tens of thousands of times for
# a spec of thousands of KPIs. Keyed by identity; the entry holds the tree, so the id cannot be reused.
_INPUTS: dict[int, tuple[exp.Expression, tuple[tuple[str, Offset | None], ...]]] = {}


# The common formula (KPI names, whole or decimal numbers, + - * / and parentheses) is read by the small
# parser below into the very tree sqlglot would build (tests/core/test_formula_fast_parse.py compares
# them); anything else (offsets, keywords, functions, comments, odd spacing of numbers) and anything it
# cannot read goes to sqlglot, whose errors are the ones reported. sqlglot's parser costs about 0.15 ms
# a formula, a tenth of a second for a spec of a thousand formulas.
_SIMPLE_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(\d+(?:\.\d+)?)|([-+*/()]))")
_MAX_SIMPLE_NESTING = 64


class _NotSimple(Exception):
    pass


def _parse_simple(text: str) -> exp.Expression | None:
    if "--" in text or "/*" in text or "//" in text or "**" in text:
        return None  # comments and DuckDB's // and ** operators
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    keywords = _keywords()
    while pos < end:
        match = _SIMPLE_TOKEN.match(text, pos)
        if match is None:
            return None
        name, number, op = match.groups()
        if name is not None:
            if name.upper() in keywords:
                return None
            tokens.append(("name", name))
        elif number is not None:
            tokens.append(("number", number))
        else:
            tokens.append(("op", op))
        pos = match.end()
    if not tokens:
        return None
    try:
        tree, at = _sum(tokens, 0, 0)
    except _NotSimple:
        return None
    return tree if at == len(tokens) else None


@functools.lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    return frozenset(FormulaDialect.tokenizer_class.KEYWORDS)


def _sum(tokens, at, depth):
    left, at = _product(tokens, at, depth)
    while at < len(tokens) and tokens[at] in (("op", "+"), ("op", "-")):
        right, after = _product(tokens, at + 1, depth)
        left = (exp.Add if tokens[at][1] == "+" else exp.Sub)(this=left, expression=right)
        at = after
    return left, at


def _product(tokens, at, depth):
    left, at = _unary(tokens, at, depth)
    while at < len(tokens) and tokens[at] in (("op", "*"), ("op", "/")):
        right, after = _unary(tokens, at + 1, depth)
        if tokens[at][1] == "*":
            left = exp.Mul(this=left, expression=right)
        else:  # as sqlglot's DuckDB parser marks a division
            left = exp.Div(this=left, expression=right, typed=False, safe=False)
        at = after
    return left, at


def _unary(tokens, at, depth):
    if at < len(tokens) and tokens[at] == ("op", "-"):
        if depth > _MAX_SIMPLE_NESTING:
            raise _NotSimple
        operand, at = _unary(tokens, at + 1, depth + 1)
        return exp.Neg(this=operand), at
    return _primary(tokens, at, depth)


def _primary(tokens, at, depth):
    if at >= len(tokens):
        raise _NotSimple
    kind, value = tokens[at]
    if kind == "name":
        if at + 1 < len(tokens) and tokens[at + 1] == ("op", "("):
            raise _NotSimple  # a function call: sqlglot's (and the check's) business
        return exp.Column(this=exp.Identifier(this=value, quoted=False)), at + 1
    if kind == "number":
        return exp.Literal(this=value, is_string=False), at + 1
    if value == "(" and depth < _MAX_SIMPLE_NESTING:
        inner, at = _sum(tokens, at + 1, depth + 1)
        if at < len(tokens) and tokens[at] == ("op", ")"):
            return exp.Paren(this=inner), at + 1
    raise _NotSimple


def _check(node: exp.Expression, text: str) -> None:
    if isinstance(node, exp.Paren):
        _check(node.this, text)
    elif isinstance(node, exp.Neg):
        _check(node.this, text)
    elif isinstance(node, _BINARY):
        _check(node.this, text)
        _check(node.expression, text)
    elif isinstance(node, exp.Bracket):
        # revenue[-1], revenue[same_period_last_year]: a KPI read at another period (spec.offsets).
        if not isinstance(node.this, exp.Column) or node.this.table or len(node.expressions) != 1:
            raise FormulaError(f"'{node.sql()}' is not a KPI at an offset", "write e.g. revenue[-1]")
        try:
            parse_offset(node.expressions[0])
        except OffsetError as exc:
            raise FormulaError(f"{node.sql()}: {exc}", exc.hint) from None
    elif isinstance(node, exp.Column):
        if node.table:
            raise FormulaError(f"'{node.sql()}' is not a KPI name",
                               "a formula refers to KPIs by name; put column logic in an aggregate KPI's column or filter")
    elif isinstance(node, exp.Literal):
        if node.is_string:
            raise FormulaError(f"text constant {node.sql()} is not allowed in a formula",
                               "formulas combine numbers: use KPI names and numeric constants")
    else:
        what = node.sql(dialect="duckdb")
        kind = "function calls" if isinstance(node, exp.Func) else f"'{what}'"
        raise FormulaError(f"{kind} are not allowed in a formula ({what})",
                           "use KPI names, numbers, + - * / and parentheses; aggregate in an aggregate KPI")


def references(tree: exp.Expression) -> list[str]:
    """KPI names a formula uses (at any offset), in order of first appearance."""
    return list(dict.fromkeys(name for name, _ in inputs(tree)))


def inputs(tree: exp.Expression) -> list[tuple[str, Offset | None]]:
    """(KPI name, offset or None) pairs a formula reads, in order of first appearance."""
    known = _INPUTS.get(id(tree))
    if known is not None and known[0] is tree:
        return list(known[1])
    return _walk_inputs(tree)


def _walk_inputs(tree: exp.Expression) -> list[tuple[str, Offset | None]]:
    out: dict[tuple[str, Offset | None], None] = {}

    def walk(node: exp.Expression) -> None:
        if isinstance(node, exp.Bracket):
            out.setdefault((node.this.name, parse_offset(node.expressions[0])), None)
        elif isinstance(node, exp.Column):
            out.setdefault((node.name, None), None)
        else:
            for child in node.iter_expressions():
                walk(child)

    walk(tree)
    return list(out)


def input_key(name: str, offset: Offset | None) -> str:
    """The key of an input in the ``values`` given to :func:`evaluate`: ``revenue`` or ``revenue[-1]``."""
    return name if offset is None else f"{name}[{offset.text}]"


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _ratio_side(tree: exp.Expression, side: str) -> str | None:
    tree = _unparen(tree)
    if isinstance(tree, exp.Div):
        part = _unparen(tree.this if side == "numerator" else tree.expression)
        if isinstance(part, exp.Column):
            return part.name
    return None


def denominator(tree: exp.Expression) -> str | None:
    """For a ratio ``x / y`` (the shape of a rate KPI), the KPI name of y; else None."""
    return _ratio_side(tree, "denominator")


def numerator(tree: exp.Expression) -> str | None:
    """For a ratio ``x / y``, the KPI name of x; else None."""
    return _ratio_side(tree, "numerator")


def evaluate(tree: exp.Expression, values: dict[str, float | None]) -> float | None:
    """Null-safe evaluation: any None input gives None; x / 0 gives None."""
    if isinstance(tree, exp.Paren):
        return evaluate(tree.this, values)
    if isinstance(tree, exp.Column):
        v = values.get(tree.name)
        return None if v is None else float(v)
    if isinstance(tree, exp.Bracket):
        v = values.get(input_key(tree.this.name, parse_offset(tree.expressions[0])))
        return None if v is None else float(v)
    if isinstance(tree, exp.Literal):
        return float(tree.this)
    if isinstance(tree, exp.Neg):
        v = evaluate(tree.this, values)
        return None if v is None else -v
    left = evaluate(tree.this, values)
    right = evaluate(tree.expression, values)
    if left is None or right is None:
        return None
    if isinstance(tree, exp.Add):
        out = left + right
    elif isinstance(tree, exp.Sub):
        out = left - right
    elif isinstance(tree, exp.Mul):
        out = left * right
    elif isinstance(tree, exp.Div):
        if right == 0:
            return None
        out = left / right
    else:  # pragma: no cover - parse_formula admits nothing else
        raise FormulaError(f"unsupported operator {type(tree).__name__}")
    return out if math.isfinite(out) else None


def to_node(tree: exp.Expression) -> FormulaNode:
    if isinstance(tree, exp.Paren):
        return to_node(tree.this)
    if isinstance(tree, exp.Column):
        return FormulaNode("kpi", name=tree.name)
    if isinstance(tree, exp.Bracket):
        return FormulaNode("offset", name=tree.this.name, offset=parse_offset(tree.expressions[0]).text)
    if isinstance(tree, exp.Literal):
        return FormulaNode("const", value=float(tree.this))
    if isinstance(tree, exp.Neg):
        return FormulaNode("neg", children=(to_node(tree.this),))
    op = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}[type(tree)]
    return FormulaNode(op, children=(to_node(tree.this), to_node(tree.expression)))


def reads_other_periods(text: str) -> bool:
    """Whether a formula reads an input at an offset (``revenue[-1]``): it cannot be decomposed per period."""
    return any(offset is not None for _, offset in inputs(parse_formula(text)))
