"""Every built-in source type arrives through the kpiengine_source_types hook, like a third-party one."""
from __future__ import annotations

import importlib

import jsonschema
import pytest
from sqlglot.dialects.dialect import Dialect

from kpiengine.plugins import get_registry
from kpiengine.sources import Source

BUILT_IN = {  # type name -> module of the built-in plugin providing it
    "duckdb": "kpiengine_plugins.duckdb_source",
    "sqlite": "kpiengine_plugins.sqlite_source",
    "postgres": "kpiengine_plugins.postgres_source",
    "mysql": "kpiengine_plugins.mysql_source",
    "sqlalchemy": "kpiengine_plugins.sqlalchemy_source",
    "spark": "kpiengine_plugins.spark_source",
}
# Options that make a source instance well-formed enough to ask its dialect.
MINIMAL_OPTIONS = {"sqlalchemy": {"url": "postgresql+psycopg://u@h/db"}, "sqlite": {"path": "x.sqlite"}}


@pytest.fixture(scope="module")
def registry():
    return get_registry()


@pytest.mark.parametrize("type_name", sorted(BUILT_IN))
def test_registered_through_its_entry_point(registry, type_name):
    module = importlib.import_module(BUILT_IN[type_name])
    [cls] = [c for c in module.kpiengine_source_types() if c.type_name == type_name]
    assert registry.source_types[type_name] is cls
    assert issubclass(cls, Source)
    info = {p.name: p for p in registry.plugins()}[type_name]
    assert info.distribution == "kpiengine" and info.source_types == [type_name]
    assert not [p for p in registry.problems if p.plugin == type_name]


@pytest.mark.parametrize("type_name", sorted(BUILT_IN))
def test_declares_a_strict_options_schema_and_a_known_dialect(registry, type_name):
    cls = registry.source_types[type_name]
    schema = cls.options_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    # Every secret the class names is an option it accepts (so the validator can keep it out of messages).
    assert set(cls.secret_options) <= set(schema["properties"])
    dialect = cls(type_name, MINIMAL_OPTIONS.get(type_name, {})).dialect_for()
    Dialect.get_or_raise(dialect)
    assert cls.description


def test_misspelled_option_is_rejected_by_the_schema(registry):
    validator = jsonschema.Draft202012Validator(registry.source_types["postgres"].options_schema)
    errors = list(validator.iter_errors({"host": "db", "hots": "db"}))
    assert [e.validator for e in errors] == ["additionalProperties"] and "'hots'" in errors[0].message
