"""Where a node of a rules, sinks or routes section is written (file:line:column for messages)."""
from __future__ import annotations

from typing import Any

from ..errors import Location


def loc_in(node: Any, key: Any = None) -> Location | None:
    """Location of ``node[key]`` (numbers carry none of their own: use the parent's record)."""
    if key is not None:
        loc_of = getattr(node, "loc_of", None)
        if loc_of is not None:
            return loc_of(key)
        child = node.get(key) if isinstance(node, dict) else None
        if getattr(child, "loc", None) is not None:
            return child.loc
    return getattr(node, "loc", None)
