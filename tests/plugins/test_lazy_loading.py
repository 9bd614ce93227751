"""A registry imports only the plugins a command needs, and still reports everything when asked.

Each check runs in a fresh interpreter, so ``sys.modules`` shows exactly what
was imported.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kpiengine.plugins import PluginRegistry, get_registry


def _fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_an_indexed_lookup_imports_only_the_owner():
    index = get_registry().index()
    seen = _fresh(f"""
import json, sys
from kpiengine.plugins import PluginRegistry
reg = PluginRegistry(index={index!r})
cls = reg.source_type("duckdb")
impls = reg.hook_impls("kpiengine_run_finished")
print(json.dumps({{"cls": cls.__qualname__, "impls": len(impls),
                  "loaded": sorted(m for m in sys.modules if m.startswith("kpiengine_plugins.")),
                  "heavy": sorted(m for m in ("smtplib", "sqlglot", "jsonschema", "psycopg", "pyspark")
                                  if m in sys.modules)}}))
""")
    assert seen == {"cls": "DuckDBSource", "impls": 0, "loaded": ["kpiengine_plugins.duckdb_source"], "heavy": []}


def test_the_complete_picture_is_the_same_after_lazy_lookups():
    eager = get_registry()
    lazy = PluginRegistry(index=eager.index())
    assert lazy.sink_type("console").__name__ == "ConsoleSink"
    assert lazy.source_type("sqlite") is eager.source_types["sqlite"]
    # asking for everything loads everything, with the same owners and no invented duplicates
    assert sorted(lazy.source_types) == sorted(eager.source_types)
    assert [s.name for s in lazy.spec_sections] == [s.name for s in eager.spec_sections]
    assert [(p.name, p.source_types, p.sink_types, p.sections) for p in lazy.plugins()] == \
           [(p.name, p.source_types, p.sink_types, p.sections) for p in eager.plugins()]
    assert [str(p) for p in lazy.problems] == [str(p) for p in eager.problems]


def test_a_stale_index_falls_back_to_a_complete_load():
    # The index names a plugin that is not installed (or no longer provides the type): load everything.
    stale = {"gone": {"source": ["duckdb"], "sink": [], "section": [], "hooks": []}}
    lazy = PluginRegistry(index=stale)
    assert lazy.source_type("duckdb").__name__ == "DuckDBSource"
    wrong_owner = {"sqlite": {"source": ["duckdb"], "sink": [], "section": [], "hooks": []}}
    lazy = PluginRegistry(index=wrong_owner)
    assert lazy.source_type("duckdb").__name__ == "DuckDBSource"


def test_without_an_index_a_lookup_loads_everything_and_unknown_types_say_so():
    lazy = PluginRegistry()
    with pytest.raises(Exception, match="unknown source type 'duckbd', did you mean 'duckdb'"):
        lazy.source_type("duckbd")
    assert "email" in lazy.sink_types
