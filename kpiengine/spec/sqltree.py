"""A faster deep copy of a sqlglot tree, for trees inserted into many queries.

The compiler copies a cached filter's tree for every KPI using it, and sqlglot
copies a whole query before rendering it; for a spec of thousands of KPIs those
copies were half the compile time. ``Expr.copy`` goes through ``deepcopy`` and
``Expr.set`` for each node; this builds the same tree (same classes, arguments,
parent links, comments, metadata) setting the node slots directly, about 2.5x
faster. Should a sqlglot version lay its nodes out differently, the first copy
notices and every copy after it is sqlglot's own.
"""
from __future__ import annotations

from copy import deepcopy
from typing import TypeVar

from sqlglot import exp

E = TypeVar("E", bound=exp.Expression)

_use_own = True


def copy_tree(tree: E) -> E:
    """A deep copy of ``tree``, equal to ``tree.copy()``."""
    global _use_own
    if _use_own:
        try:
            return _copy(tree)
        except (AttributeError, TypeError):  # nodes laid out otherwise than this sqlglot's: its own copy
            _use_own = False
    return tree.copy()


def _copy(root: E) -> E:
    new = object.__new__
    expr = exp.Expr if hasattr(exp, "Expr") else exp.Expression
    out = new(type(root))
    out.parent = out.arg_key = out.index = None
    stack = [(root, out)]
    pop, push = stack.pop, stack.append
    while stack:
        node, copy = pop()
        copy.comments = list(node.comments) if node.comments is not None else None
        copy._type = deepcopy(node._type) if node._type is not None else None
        copy._meta = deepcopy(node._meta) if node._meta is not None else None
        copy._hash = node._hash
        args = {}
        for key, value in node.args.items():
            if isinstance(value, expr):
                child = new(type(value))
                child.parent, child.arg_key, child.index = copy, key, None
                push((value, child))
                args[key] = child
            elif type(value) is list:
                items = []
                for i, item in enumerate(value):
                    if isinstance(item, expr):
                        child = new(type(item))
                        child.parent, child.arg_key, child.index = copy, key, i
                        push((item, child))
                        items.append(child)
                    else:
                        items.append(item)
                args[key] = items
            else:
                args[key] = value
        copy.args = args
    return out
