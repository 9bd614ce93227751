"""The JSON Schema of a spec file, assembled from the registered sections: ``kpi schema`` and the first check.

Each section contributes its own fragment (see :mod:`kpiengine.sections`), so
a plugin's section is completed by editors and checked like a core one.
Semantic checks that a schema cannot express (references, cycles, SQL safety)
are the sections' ``check`` methods, run by :mod:`kpiengine.spec.loader`.
"""
from __future__ import annotations

import json
import weakref
from typing import Any

import jsonschema

try:  # Rust, Draft 2020-12: says "valid" about 100x faster than jsonschema, which explains the errors
    import jsonschema_rs
except ImportError:  # pragma: no cover - an optional accelerator; the Python validator alone is complete
    jsonschema_rs = None

from ..errors import Location, SpecIssue
from ..sections import NAME_PATTERN
from .suggest import closest
from .located import LDict, LList, loc_of


def spec_schema(registry) -> dict[str, Any]:
    """The schema of one spec file: one property per registered section."""
    defs: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for section in registry.spec_sections:
        properties[section.name] = section.schema()
        defs.update(section.schema_defs())
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kpiengine.dev/schema/spec.json",
        "title": "kpiengine spec file",
        "description": "One YAML file of a kpiengine project; all files of a folder are merged.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


# Building a validator compiles the whole schema: once per registry, not once per file.
_validators: "weakref.WeakKeyDictionary[Any, jsonschema.Draft202012Validator]" = weakref.WeakKeyDictionary()


_fast_validators: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _validator(registry) -> jsonschema.Draft202012Validator:
    validator = _validators.get(registry)
    if validator is None:
        validator = _validators[registry] = jsonschema.Draft202012Validator(spec_schema(registry))
    return validator


def _surely_valid(doc: Any, registry) -> bool:
    """True when the fast validator accepts ``doc``; False means "ask jsonschema" (invalid, or not sure)."""
    if jsonschema_rs is None:
        return False
    try:
        fast = _fast_validators.get(registry)
        if fast is None:
            fast = _fast_validators[registry] = jsonschema_rs.Draft202012Validator(spec_schema(registry))
        # Plain JSON values: the located YAML types are str/dict/list subclasses the Rust side refuses,
        # and NaN, non-string keys or binary raise here and take the slow path, which judges them as before.
        plain = json.loads(json.dumps(doc, allow_nan=False))
        return bool(fast.is_valid(plain))
    except Exception:  # noqa: BLE001 - whatever the accelerator cannot take, jsonschema decides
        return False


def _node_at(doc: Any, path) -> tuple[Any, Any]:
    """(node, location) for a jsonschema error path inside a located YAML document."""
    node, loc = doc, loc_of(doc)
    for part in path:
        if isinstance(node, LDict) and part in node:
            loc = node.loc_of(part)
            node = node[part]
        elif isinstance(node, LList) and isinstance(part, int) and part < len(node):
            loc = node.loc_of(part)
            node = node[part]
        else:
            break
    return node, loc


def _where(path) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _describe(err: jsonschema.ValidationError, doc: Any, registry) -> SpecIssue:
    path = list(err.absolute_path)
    node, loc = _node_at(doc, path)
    where = _where(path)
    section = registry.section(path[0]) if path and isinstance(path[0], str) else None
    own = section.describe_schema_error(err, where) if section is not None else None
    if own is not None:
        return SpecIssue(own[0], loc, hint=own[1], code="schema")
    hint = None
    if err.validator == "enum":
        options = [str(o) for o in err.validator_value]
        close = closest(err.instance, options, cutoff=0.6)
        field = path[-1] if path else "value"
        msg = f"unknown {field} '{err.instance}' at {where}"
        hint = (f"did you mean '{close}'? " if close else "") + "expected one of: " + ", ".join(options)
    elif err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})), key=str)
        known = list(err.schema.get("properties", {}))
        bad = extra[0] if extra else "?"
        if isinstance(node, LDict) and bad in node.key_locs:
            loc = node.key_locs[bad]
        close = closest(bad, known, cutoff=0.6)
        msg = f"unknown field '{bad}' in {where}"
        hint = (f"did you mean '{close}'? " if close else "") + "allowed: " + ", ".join(known)
    elif err.validator == "pattern" and err.validator_value == NAME_PATTERN:
        msg = f"invalid name '{err.instance}' at {where}"
        hint = "names start with a letter or _ and contain only letters, digits and _ (labels may use any text)"
    elif err.validator == "type":
        msg = f"{where} must be of type {err.validator_value}, got {type(err.instance).__name__}"
    else:
        msg = f"{where}: {err.message}"
    return SpecIssue(msg, loc, hint=hint, code="schema")


def validate_document(doc: Any, filename: str, registry) -> list[SpecIssue]:
    """All schema errors of one YAML document, located."""
    if not isinstance(doc, dict):
        names = ", ".join(s.name for s in registry.spec_sections) or "none registered"
        return [SpecIssue(f"a spec file must be a mapping of sections ({names})",
                          loc_of(doc) or Location(filename, 1, 1), code="schema")]
    if _surely_valid(doc, registry):
        return []
    issues = []
    for err in sorted(_validator(registry).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        # oneOf errors hide their cause; when one branch is the obvious intent, report its own errors.
        issues.append(_describe(_best(err), doc, registry))
    return issues


def _best(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    if err.validator == "oneOf" and err.context:
        deeper = [e for e in err.context if e.validator not in ("required",)]
        if deeper:
            return jsonschema.exceptions.best_match(deeper)
    return err
