"""Indentation mistakes said the way a person would say them.

YAML turns a key indented one level too little into a sibling of the mapping
it was meant for, and the schema then reports a consequence ("unknown field
'column'", "kpis.column must be a mapping", "revenue needs `aggregate:`")
rather than the cause. Before the schema runs, :func:`misplaced_keys` finds a
key that does not belong where it is written but does belong in the mapping
just above it, reports "`column:` is at the level of `kpis:`; indent it under
`revenue:`", and moves it there, so the rest of the validation sees what the
person meant and says nothing more about the same mistake.

(A key indented too far is a parse error; :mod:`kpiengine.spec.yamlsrc` explains it.)
"""
from __future__ import annotations

from typing import Any

from ..errors import SpecIssue
from .yamlsrc import LDict, LList


def _resolve(schema: Any, root: dict) -> dict:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 10:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            return {}
        schema = root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
        seen += 1
    return schema if isinstance(schema, dict) else {}


def _fields(schema: dict) -> set[str]:
    """Field names a mapping with this schema takes (not the names of a name: definition map)."""
    return set(schema.get("properties", {})) if isinstance(schema.get("properties"), dict) else set()


def _is_named_map(schema: dict) -> bool:
    return isinstance(schema.get("additionalProperties"), dict) and not schema.get("properties")


def _child_schema(schema: dict, key: Any, root: dict) -> dict:
    props = schema.get("properties")
    if isinstance(props, dict) and key in props:
        return _resolve(props[key], root)
    if isinstance(schema.get("additionalProperties"), dict):
        return _resolve(schema["additionalProperties"], root)
    return {}


def _belongs_elsewhere(mapping: LDict, schema: dict, key: Any, root: dict) -> bool:
    """A key that cannot be right where it is written."""
    if not isinstance(key, str):
        return False
    if _is_named_map(schema):  # a name whose value is not a definition: a field written one level too far out
        item = _resolve(schema["additionalProperties"], root)
        return not isinstance(mapping[key], dict) and item.get("type") == "object"
    return schema.get("additionalProperties") is False and key not in _fields(schema)


def _target(mapping: LDict, schema: dict, key: str, root: dict) -> tuple[str, LDict] | None:
    """The mapping just above ``key`` (along the last entries of the key before it) that takes ``key``."""
    keys = list(mapping)
    index = keys.index(key)
    if index == 0:
        return None
    name = keys[index - 1]
    node, node_schema = mapping[name], _child_schema(schema, name, root)
    while isinstance(node, LDict) and node:
        if key in _fields(node_schema) and key not in node:
            return str(name), node
        name = list(node)[-1]
        node, node_schema = node[name], _child_schema(node_schema, name, root)
    return None


def misplaced_keys(doc: Any, schema: dict) -> list[SpecIssue]:
    """Report and move every key written one or more levels too far out (see the module docstring)."""
    issues: list[SpecIssue] = []
    # A spec's thousands of mappings share a few schema nodes: what each node says is worked out once
    # (5,000 KPIs: 140 ms -> 40 ms), keyed by the node's id, stable while the schema is alive.
    children: dict[tuple[int, Any], dict] = {}
    elsewhere: dict[tuple[int, bool], bool] = {}

    def child(node_schema: dict, key: Any) -> dict:
        props = node_schema.get("properties")
        named = not (isinstance(props, dict) and key in props)
        memo = (id(node_schema), None if named else key)
        found = children.get(memo)
        if found is None:
            found = children[memo] = _child_schema(node_schema, key, schema)
        return found

    def stray(node: LDict, node_schema: dict, key: Any) -> bool:
        if not isinstance(key, str):
            return False
        if _is_named_map(node_schema):  # depends on the value: whether it is a mapping
            memo = (id(node_schema), isinstance(node[key], dict))
            found = elsewhere.get(memo)
            if found is None:
                found = elsewhere[memo] = _belongs_elsewhere(node, node_schema, key, schema)
            return found
        return node_schema.get("additionalProperties") is False and key not in _fields_of(node_schema)

    fields: dict[int, set[str]] = {}

    def _fields_of(node_schema: dict) -> set[str]:
        found = fields.get(id(node_schema))
        if found is None:
            found = fields[id(node_schema)] = _fields(node_schema)
        return found

    stack: list[tuple[Any, dict]] = [(doc, schema)]
    while stack:
        node, node_schema = stack.pop()
        if isinstance(node, LDict):
            for key in list(node):
                if key in node and stray(node, node_schema, key):
                    found = _target(node, node_schema, key, schema)
                    if found:
                        issues.append(_moved(node, key, *found))
                        continue
                stack.append((node.get(key), child(node_schema, key)))
        elif isinstance(node, LList):
            items = _resolve(node_schema.get("items", {}), schema)
            stack.extend((item, items) for item in node)
    return issues


def _moved(parent: LDict, key: str, target_name: str, target: LDict) -> SpecIssue:
    key_loc = parent.key_locs.get(key)
    siblings = [loc for loc in target.key_locs.values() if loc is not None]
    level = min((loc.column for loc in siblings), default=None)
    sibling_name = next(iter(parent))
    for name in parent:  # the key written just before it, at the same level
        if name == key:
            break
        sibling_name = name
    where = f"in column {level}, like `{next(iter(target))}:` and " if level else "like "
    issue = SpecIssue(f"`{key}:` is at the level of `{sibling_name}:`; indent it under `{target_name}:`",
                      key_loc, hint=f"start `{key}:` {where}the other fields of `{target_name}:`",
                      code="indentation")
    target[key] = parent.pop(key)
    target.key_locs[key] = key_loc
    target.value_locs[key] = parent.value_locs.pop(key, key_loc)
    parent.key_locs.pop(key, None)
    return issue
