"""Size and depth limits of spec input, in one place.

A spec is text a person (or a fuzzer) wrote: every recursive parser below it
(PyYAML's composer, sqlglot's parser and generator, the formula checker) has a
Python stack, and every repeated structure (YAML aliases, template widths,
durations) a cost. These limits turn what would be a ``RecursionError``, an
``OverflowError``, minutes of CPU or gigabytes of memory into one located
error that says which limit was hit. They are far above what a real spec needs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the annotation: durations and the engine use these limits without sqlglot
    from sqlglot import exp

#: bytes of one spec file (the demo's largest file is ~10 KB)
MAX_FILE_BYTES = 2_000_000
#: nesting of YAML mappings and lists (a process tree three levels deep needs ~8)
MAX_YAML_DEPTH = 64
#: YAML nodes after aliases are expanded (an alias bomb multiplies them)
MAX_YAML_NODES = 200_000
#: characters of a filter, dimension, column or time expression
MAX_EXPRESSION_CHARS = 4_000
#: characters of a KPI formula
MAX_FORMULA_CHARS = 2_000
#: parentheses inside one expression or formula
MAX_PAREN_DEPTH = 32
#: depth of a parsed expression tree (a chain of 200 ANDs is 200 deep)
MAX_TREE_DEPTH = 200
#: width or precision inside a message template field ({value:>20})
MAX_TEMPLATE_WIDTH = 200
#: seconds in a duration written in a spec (ten years)
MAX_DURATION_SECONDS = 10 * 366 * 86400


def paren_depth(text: str) -> int:
    """Deepest nesting of ( and [ outside quoted strings: checked before a recursive parser sees the text."""
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest


def tree_depth(tree: exp.Expression) -> int:
    """Depth of a sqlglot tree, computed without recursion (the tree may be deeper than the stack)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.iter_expressions():
            stack.append((child, depth + 1))
    return deepest


def text_limit_problem(text: str, what: str, max_chars: int) -> str | None:
    """Why ``text`` is too long or too deeply nested to parse safely, or None."""
    if len(text) > max_chars:
        return f"{what} is {len(text):,} characters long; the limit is {max_chars:,}"
    depth = paren_depth(text)
    if depth > MAX_PAREN_DEPTH:
        return f"{what} nests parentheses {depth} deep; the limit is {MAX_PAREN_DEPTH}"
    return None
