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
from .indentation import misplaced_keys
from .located import LDict, LList, loc_of
from .suggest import closest


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


# Assembling the schema and building a validator compile every section's fragment: once per registry.
_schemas: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_validators: "weakref.WeakKeyDictionary[Any, jsonschema.Draft202012Validator]" = weakref.WeakKeyDictionary()
_fast_validators: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _schema(registry) -> dict[str, Any]:
    schema = _schemas.get(registry)
    if schema is None:
        schema = _schemas[registry] = spec_schema(registry)
    return schema


def _validator(registry) -> jsonschema.Draft202012Validator:
    validator = _validators.get(registry)
    if validator is None:
        validator = _validators[registry] = jsonschema.Draft202012Validator(_schema(registry))
    return validator


def _text_keys_only(doc: Any) -> bool:
    """No mapping key that JSON would turn into text silently (``~`` -> "null", ``1`` -> "1")."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _surely_valid(doc: Any, registry) -> bool:
    """True when the fast validator accepts ``doc``; False means "ask jsonschema" (invalid, or not sure)."""
    if jsonschema_rs is None:
        return False
    try:
        fast = _fast_validators.get(registry)
        if fast is None:
            fast = _fast_validators[registry] = jsonschema_rs.Draft202012Validator(_schema(registry))
        # Plain JSON values: the located YAML types are str/dict/list subclasses the Rust side refuses,
        # and NaN or binary raise here and take the slow path, which judges them as before. Keys that are
        # not text would be renamed by json.dumps, so they take the slow path too.
        if not _text_keys_only(doc):
            return False
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
    if "propertyNames" in err.schema_path:  # a name (of a KPI, a model...) that is not text of the right form
        if isinstance(node, LDict) and err.instance in node.key_locs:
            loc = node.key_locs[err.instance]
        shown = "~ (null)" if err.instance is None else repr(err.instance) if isinstance(err.instance, str) \
            else str(err.instance)
        return SpecIssue(f"invalid name {shown} in {where}", loc, code="schema",
                         hint="names start with a letter or _ and contain only letters, digits and _ "
                              "(labels may use any text)")
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
        msg = f"{where} must be {_expected(err.validator_value)}, not {_kind(err.instance)}"
        if isinstance(err.instance, (list, dict)) and err.validator_value == "string":
            hint = "write one name or value here"
        elif err.instance is None:
            hint = "the value is missing after the colon"
    else:
        msg = f"{where}: {err.message}"
    return SpecIssue(msg, loc, hint=hint, code="schema")


_EXPECTED = {"object": "a mapping (indented `name: value` lines)", "array": "a list", "string": "text",
             "number": "a number", "integer": "a whole number", "boolean": "true or false", "null": "empty"}


def _expected(wanted: Any) -> str:
    names = wanted if isinstance(wanted, list) else [wanted]
    return " or ".join(_EXPECTED.get(n, str(n)) for n in names)


def _kind(value: Any) -> str:
    """What a YAML value is, in a spec writer's words (never a Python class name)."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a value of another kind"


def validate_document(doc: Any, filename: str, registry, broken: set[str] | None = None) -> list[SpecIssue]:
    """All schema errors of one YAML document, located; ``broken`` collects the sections that have any."""
    if not isinstance(doc, dict):
        names = ", ".join(s.name for s in registry.spec_sections) or "none registered"
        return [SpecIssue(f"a spec file must be a mapping of sections ({names})",
                          loc_of(doc) or Location(filename, 1, 1), code="schema")]
    issues = misplaced_keys(doc, _schema(registry))  # moves them where they belong: one message per mistake
    if not issues and _surely_valid(doc, registry):
        return issues
    for err in sorted(_validator(registry).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        if broken is not None and err.absolute_path:
            broken.add(str(err.absolute_path[0]))
        # oneOf errors hide their cause; when one branch is the obvious intent, report its own errors.
        issues.append(_describe(_best(err), doc, registry))
    return issues


def _best(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    if err.validator == "oneOf" and err.context:
        deeper = [e for e in err.context if e.validator not in ("required",)]
        if deeper:
            return jsonschema.exceptions.best_match(deeper)
    return err
