"""The Rust schema validator only ever says "valid" where jsonschema finds nothing: the issues are identical.

Table-driven: each document is checked with the accelerator and with
jsonschema alone; the located issues must be the same, and a valid document
must not reach jsonschema at all (that is where the time went).
"""
from __future__ import annotations

import pytest

from kpiengine.plugins import default_registry
from kpiengine.spec import schema
from kpiengine.spec.yamlsrc import load_yaml_text

DOCS = {
    "valid": "kpis:\n  won: {label: Won, model: deals, aggregate: count, filter: \"stage = 'won'\"}\n",
    "valid with every core section": """
project: {name: p, timezone: UTC}
sources: {w: {type: duckdb, path: x.duckdb}}
models: {deals: {table: deals, time: ts, dimensions: {region: region}}}
kpis: {n: {label: N, model: deals, aggregate: count}, r: {label: R, formula: n / n, unit: percent}}
process: [{id: sales, label: Sales}]
""",
    "unknown field": "kpis:\n  won: {label: Won, modle: deals, aggregate: count}\n",
    "bad enum": "kpis:\n  won: {label: Won, model: deals, aggregate: summ, column: x}\n",
    "bad name": "kpis:\n  2won: {label: Won, model: deals, aggregate: count}\n",
    "wrong type": "kpis:\n  won: {label: [a, b], model: deals, aggregate: count}\n",
    "unknown section": "kpi:\n  won: {label: Won}\n",
    # not JSON: the accelerator cannot take them, jsonschema judges them (both valid for it)
    "valid, but NaN as a target": "kpis:\n  won: {label: Won, model: deals, aggregate: count, target: .nan}\n",
    # keys JSON would rename silently (1 -> "1", ~ -> "null"): the accelerator must not judge them
    "an integer key": "models:\n  m: {table: t, time: ts, dimensions: {1: region}}\n",
    "a null key": "kpis:\n  ~: {label: K, formula: n}\n",
    "not a mapping": "- a\n- b\n",
}


def issues(doc, registry):
    return [(i.message, str(i.location), i.hint) for i in schema.validate_document(doc, "f.yml", registry)]


@pytest.mark.parametrize("name", sorted(DOCS))
def test_same_issues_with_and_without_the_accelerator(name, monkeypatch):
    registry = default_registry()
    doc, yaml_issues = load_yaml_text(DOCS[name], "f.yml")
    assert not yaml_issues
    fast = issues(doc, registry)
    monkeypatch.setattr(schema, "jsonschema_rs", None)
    assert fast == issues(doc, registry)
    assert (not fast) == name.startswith("valid")


def test_a_valid_document_never_reaches_jsonschema(monkeypatch):
    registry = default_registry()
    doc, _ = load_yaml_text(DOCS["valid with every core section"], "f.yml")

    def refuse(_registry):
        raise AssertionError("jsonschema was asked about a valid document")

    monkeypatch.setattr(schema, "_validator", refuse)
    assert schema.validate_document(doc, "f.yml", registry) == []
