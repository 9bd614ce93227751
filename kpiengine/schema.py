"""The JSON Schema of a spec file: printed by ``kpi schema`` for editors, and the first validation pass.

Semantic checks that a schema cannot express (references, cycles, SQL safety)
live in :mod:`kpiengine.validate`.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any

import jsonschema

from .errors import SpecIssue
from .spec import AGGREGATES, DIRECTIONS, GRAINS, UNITS
from .yamlsrc import LDict, LList, loc_of

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

_text = {"type": "string"}
_name_map = lambda item: {  # noqa: E731 - a tiny schema builder reads better inline
    "type": "object",
    "propertyNames": {"pattern": NAME_PATTERN},
    "additionalProperties": item,
}

PROCESS_NODE = {
    "type": "object",
    "required": ["id", "label"],
    "properties": {
        "id": {"type": "string", "pattern": NAME_PATTERN},
        "label": _text,
        "description": _text,
        "children": {"type": "array", "items": {"$ref": "#/$defs/process_node"}},
    },
    "additionalProperties": False,
}

SOURCE = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string", "description": "a source plugin: duckdb, sqlite, postgres, mysql, sqlalchemy, spark, ..."}},
    "additionalProperties": True,
    "description": "A named connection; other keys are the source plugin's options. Use ${VAR} for secrets.",
}

MODEL = {
    "type": "object",
    "required": ["time"],
    "properties": {
        "source": {"type": "string"},
        "table": {"type": "string", "description": "table name, optionally schema-qualified"},
        "sql": {"type": "string", "description": "one read-only SELECT"},
        "file": {"type": "string", "description": "CSV or Parquet file (DuckDB sources)"},
        "time": {"type": "string", "description": "column or expression with the event time"},
        "time_format": {"type": "string", "description": "strptime format when the time is text, e.g. %d-%m-%Y"},
        "entity": {"type": "string"},
        "description": _text,
        "dimensions": {"type": "object", "propertyNames": {"pattern": NAME_PATTERN},
                       "additionalProperties": {"type": "string"}},
    },
    "oneOf": [{"required": ["table"]}, {"required": ["sql"]}, {"required": ["file"]}],
    "additionalProperties": False,
}

KPI = {
    "type": "object",
    "required": ["label"],
    "properties": {
        "label": _text,
        "description": _text,
        "owner": _text,
        "unit": {"enum": list(UNITS)},
        "direction": {"enum": list(DIRECTIONS)},
        "playbook": _text,
        "process": {"type": "string"},
        "model": {"type": "string"},
        "aggregate": {"enum": list(AGGREGATES)},
        "column": {"type": "string"},
        "percentile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "filter": {"type": "string"},
        "formula": {"type": "string"},
        "format": _text,
        "target": {"description": "a number, or {dimension: {value: number}}"},
        "dimensions": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "status": {"enum": ["active", "strengthened", "weakened", "retired"]},
    },
    "oneOf": [{"required": ["model", "aggregate"]}, {"required": ["formula"]}],
    "additionalProperties": False,
}

PROJECT = {
    "type": "object",
    "properties": {
        "name": _text,
        "timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Berlin"},
        "default_source": {"type": "string"},
        "history": {"type": "string", "description": "history store file, relative to the spec folder"},
        "description": _text,
    },
    "additionalProperties": False,
}


def _section_defs() -> dict[str, Any]:
    """Schema fragments owned by the alerting and funnel modules, when installed."""
    defs: dict[str, Any] = {
        "funnels": _name_map({"type": "object"}),
        "rules": _name_map({"type": "object"}),
        "sinks": _name_map({"type": "object", "required": ["type"]}),
        "routes": {"type": "object"},
    }
    for module, attr in (("kpiengine.alerting.schema", "ALERTING_SCHEMA_DEFS"),
                         ("kpiengine.funnels", "FUNNELS_SCHEMA_DEFS")):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        defs.update(getattr(mod, attr, {}) or {})
    return defs


def spec_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kpiengine.dev/schema/spec.json",
        "title": "kpiengine spec file",
        "description": "One YAML file of a kpiengine project; all files of a folder are merged.",
        "type": "object",
        "properties": {
            "project": PROJECT,
            "sources": _name_map(SOURCE),
            "models": _name_map(MODEL),
            "kpis": _name_map(KPI),
            "process": {"type": "array", "items": {"$ref": "#/$defs/process_node"}},
            **_section_defs(),
        },
        "additionalProperties": False,
        "$defs": {"process_node": PROCESS_NODE},
    }


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


def _describe(err: jsonschema.ValidationError, doc: Any) -> SpecIssue:
    path = list(err.absolute_path)
    node, loc = _node_at(doc, path)
    where = _where(path)
    hint = None
    if err.validator == "enum":
        options = [str(o) for o in err.validator_value]
        close = difflib.get_close_matches(str(err.instance), options, n=1)
        field = path[-1] if path else "value"
        msg = f"unknown {field} '{err.instance}' at {where}"
        hint = (f"did you mean '{close[0]}'? " if close else "") + "expected one of: " + ", ".join(options)
    elif err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        known = list(err.schema.get("properties", {}))
        bad = extra[0] if extra else "?"
        if isinstance(node, LDict) and bad in node.key_locs:
            loc = node.key_locs[bad]
        close = difflib.get_close_matches(str(bad), known, n=1)
        msg = f"unknown field '{bad}' in {where}"
        hint = (f"did you mean '{close[0]}'? " if close else "") + "allowed: " + ", ".join(known)
    elif err.validator == "required":
        msg = f"{where}: {err.message}"
    elif err.validator == "oneOf":
        if "formula" in err.schema.get("properties", {}):
            msg = f"KPI {where} must have either `formula:` or both `model:` and `aggregate:` (not both kinds)"
            hint = "an aggregate KPI reads a model; a formula KPI combines other KPIs"
        elif "table" in err.schema.get("properties", {}):
            msg = f"model {where} must have exactly one of `table:`, `sql:` or `file:`"
            hint = "use table for a warehouse table, sql for one SELECT, file for CSV/Parquet"
        else:
            msg = f"{where}: {err.message}"
    elif err.validator == "pattern" and err.validator_value == NAME_PATTERN:
        msg = f"invalid name '{err.instance}' at {where}"
        hint = "names start with a letter or _ and contain only letters, digits and _ (labels may use any text)"
    elif err.validator == "type":
        msg = f"{where} must be of type {err.validator_value}, got {type(err.instance).__name__}"
    else:
        msg = f"{where}: {err.message}"
    return SpecIssue(msg, loc, hint=hint, code="schema")


def validate_document(doc: Any, filename: str) -> list[SpecIssue]:
    """All schema errors of one YAML document, located."""
    from .errors import Location

    if not isinstance(doc, dict):
        return [SpecIssue("a spec file must be a mapping of sections (project, sources, models, kpis, ...)",
                          loc_of(doc) or Location(filename, 1, 1), code="schema")]
    validator = jsonschema.Draft202012Validator(spec_schema())
    issues = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        # oneOf errors hide their cause; when one branch is the obvious intent, report its own errors.
        issues.append(_describe(_best(err), doc))
    return issues


def _best(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    if err.validator == "oneOf" and err.context:
        deeper = [e for e in err.context if e.validator not in ("required",)]
        if deeper:
            return jsonschema.exceptions.best_match(deeper)
    return err
