"""Keep only the fields whose value has the type the schema asks for, before a section builds objects.

The build step runs on invalid specs too (the schema errors are reported, the
checks still look for more problems). A value of the wrong type (``model:
[a, b]``, ``children: 5``, ``dimensions: {x: [y]}``) would reach code that
expects a name and crash; dropping it at the door leaves the schema's message
as the one report of that mistake.
"""
from __future__ import annotations

from typing import Any, Mapping

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


def fits(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether ``value`` has the shape ``schema`` names (types, enums, item and value types; not ranges)."""
    wanted = schema.get("type")
    if wanted is not None:
        names = wanted if isinstance(wanted, list) else [wanted]
        kinds = tuple(k for n in names for k in _TYPES.get(n, (object,)))
        if not isinstance(value, kinds):
            return False
        if isinstance(value, bool) and not ({"boolean"} & set(names)):
            return False  # YAML's true is not the number 1
    if "enum" in schema:
        try:
            if value not in schema["enum"]:
                return False
        except TypeError:  # an unhashable value against a list of names
            return False
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        return all(fits(v, items) for v in value)
    extra = schema.get("additionalProperties")
    if isinstance(value, dict) and isinstance(extra, Mapping):
        return all(isinstance(k, str) and fits(v, extra) for k, v in value.items())
    return True


def well_typed(body: Mapping[str, Any], properties: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The entries of ``body`` that are known properties and fit their schema."""
    return {k: v for k, v in body.items() if k in properties and fits(v, properties[k])}
