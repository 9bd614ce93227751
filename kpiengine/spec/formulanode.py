"""Formulas as plain trees: evaluated without sqlglot, so a run from a cached plan never imports it.

:mod:`kpiengine.spec.formula` parses a formula into a sqlglot tree and evaluates that.
Parsing is the only part that needs sqlglot: the tree is turned once into
:class:`FormulaNode` values (``to_node``), which pickle as plain data, and
:func:`evaluate_node` gives the same value as ``formula.evaluate`` on the tree: every
input as a float, ``None`` in gives ``None`` out, ``x / 0`` and a result that is not
finite are ``None``. :class:`FormulaProgram` is what the per-model path needs of one
formula KPI to assemble its values (its inputs and the aggregates it has rows where),
made by ``run.assemble.formula_programs`` and kept with the spec cache.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class FormulaNode:
    """A formula tree node for display (``kpi explain``), root-cause analysis and evaluation."""

    op: str  # "kpi", "offset" (a KPI at another period: name, offset), "const", "+", "-", "*", "/", "neg"
    name: str | None = None
    value: float | None = None
    children: tuple["FormulaNode", ...] = ()
    offset: str | None = None  # with op "offset": how the period moves ("-1", "'-1 year'")


@dataclass(frozen=True)
class FormulaProgram:
    """One formula KPI, ready to evaluate at a key: its tree, the KPIs it reads at the same period
    (in order of first appearance) and the aggregate KPIs under it (its value exists where one of
    them has a row). Only formulas without offsets have one."""

    node: FormulaNode
    inputs: tuple[str, ...]
    leaves: tuple[str, ...]


def evaluate_node(node: FormulaNode, values: dict[str, float | int | None]) -> float | None:
    """``formula.evaluate`` on the plain tree: ``values`` holds each input KPI's value at the key."""
    op = node.op
    if op == "kpi":
        v = values.get(node.name)
        return None if v is None else float(v)
    if op == "const":
        return float(node.value)
    if op == "neg":
        v = evaluate_node(node.children[0], values)
        return None if v is None else -v
    if op == "offset":  # no program holds one (see FormulaProgram); kept total for display trees
        raise ValueError("a formula reading another period is evaluated with its offsets (run.assemble)")
    left = evaluate_node(node.children[0], values)
    right = evaluate_node(node.children[1], values)
    if left is None or right is None:
        return None
    if op == "+":
        out = left + right
    elif op == "-":
        out = left - right
    elif op == "*":
        out = left * right
    elif op == "/":
        if right == 0:
            return None
        out = left / right
    else:
        raise ValueError(f"unknown formula operator {op!r}")
    return out if math.isfinite(out) else None
