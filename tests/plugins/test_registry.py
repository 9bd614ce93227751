"""kpiengine.plugins: one broken or clashing plugin is reported by name and never stops the others.

Each test installs a throwaway distribution into tmp_path (a real ``.dist-info``
folder with ``entry_points.txt``, found by importlib.metadata on sys.path), so
discovery runs exactly as it does for a plugin installed with pip.
"""
from __future__ import annotations

import sys
import textwrap
import uuid

import pytest

from kpiengine.errors import PluginError
from kpiengine.plugins import PluginProblem, get_registry

BUILT_IN_SOURCES = {"duckdb", "sqlite", "postgres", "mysql", "sqlalchemy", "spark"}


@pytest.fixture
def install(tmp_path, monkeypatch):
    """install(dist_name, {entry_point_name: module_source}) -> {entry_point_name: module_name}."""
    imported: list[str] = []

    def make(dist_name: str, plugins: dict[str, str], *, first: bool = True) -> dict[str, str]:
        root = tmp_path / dist_name
        info = root / f"{dist_name.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
        modules = {}
        lines = ["[kpiengine]"]
        for ep_name, code in plugins.items():
            module = f"kpitest_{ep_name}_{uuid.uuid4().hex[:8]}"  # fresh name: nothing cached in sys.modules
            (root / f"{module}.py").write_text(textwrap.dedent(code))
            lines.append(f"{ep_name} = {module}")
            modules[ep_name] = module
            imported.append(module)
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        if first:
            monkeypatch.syspath_prepend(str(root))
        else:
            monkeypatch.setattr(sys, "path", sys.path + [str(root)])
        return modules

    yield make
    for module in imported:
        sys.modules.pop(module, None)


def problems_of(registry, plugin: str) -> list[PluginProblem]:
    return [p for p in registry.problems if p.plugin == plugin]


def test_plugin_failing_at_import_is_reported_and_the_others_load(install):
    install("kpi-broken-plugin", {"brokenkpi": 'raise ImportError("libwarehouse.so not found")\n'})
    registry = get_registry()
    [problem] = problems_of(registry, "brokenkpi")
    assert problem.distribution == "kpi-broken-plugin"
    assert "failed to import" in problem.message and "libwarehouse.so not found" in problem.message
    assert str(problem).startswith("plugin 'brokenkpi' (distribution kpi-broken-plugin): ")
    assert BUILT_IN_SOURCES <= set(registry.source_types)
    assert not registry.pm.has_plugin("brokenkpi")


@pytest.mark.parametrize("first_on_path", [True, False], ids=["before-built-ins", "after-built-ins"])
def test_duplicate_source_type_is_reported_and_the_built_in_keeps_it(install, first_on_path):
    install("kpi-clash", {"clash": """
        from kpiengine import hookimpl
        from kpiengine_plugins.sqlite_source import SQLiteSource

        class OtherSQLite(SQLiteSource):
            pass

        @hookimpl
        def kpiengine_source_types():
            return [OtherSQLite]
    """}, first=first_on_path)
    registry = get_registry()
    [problem] = problems_of(registry, "clash")
    assert problem.distribution == "kpi-clash"
    assert "source type 'sqlite' is already registered by plugin 'sqlite'" in problem.message
    assert registry.source_types["sqlite"].__name__ == "SQLiteSource"
    assert BUILT_IN_SOURCES <= set(registry.source_types)


def test_misspelled_hook_is_reported_by_check_pending(install):
    install("kpi-typo", {"typo": """
        from kpiengine import hookimpl

        @hookimpl
        def kpiengine_source_type():  # missing "s": matches no hookspec
            return []
    """})
    registry = get_registry()
    [problem] = problems_of(registry, "typo")
    assert problem.distribution == "kpi-typo"
    assert "kpiengine_source_type" in problem.message and "invalid plugin" in problem.message
    assert not registry.pm.has_plugin("typo")  # unregistered, not half-loaded
    assert BUILT_IN_SOURCES <= set(registry.source_types)


def test_hook_that_raises_and_class_without_type_name(install):
    install("kpi-faulty", {
        "raiser": """
            from kpiengine import hookimpl

            @hookimpl
            def kpiengine_source_types():
                raise RuntimeError("config file missing")
        """,
        "nameless": """
            from kpiengine import hookimpl
            from kpiengine.sources import Source

            class Nameless(Source):
                pass

            @hookimpl
            def kpiengine_source_types():
                return [Nameless]
        """,
    })
    registry = get_registry()
    [raised] = problems_of(registry, "raiser")
    assert "kpiengine_source_types() failed" in raised.message and "config file missing" in raised.message
    [nameless] = problems_of(registry, "nameless")
    assert "no type_name" in nameless.message and nameless.distribution == "kpi-faulty"
    assert BUILT_IN_SOURCES <= set(registry.source_types)


def test_unknown_source_type_suggests_the_closest_and_lists_installed():
    registry = get_registry()
    with pytest.raises(PluginError) as info:
        registry.source_type("postgress")
    installed = ", ".join(sorted(registry.source_types))
    assert str(info.value) == f"unknown source type 'postgress', did you mean 'postgres'? Installed: {installed}"
    with pytest.raises(PluginError) as info:
        registry.source_type("zzz")
    assert str(info.value) == f"unknown source type 'zzz' Installed: {installed}"


def test_plugin_info_names_distribution_and_types():
    infos = {p.name: p for p in get_registry().plugins()}
    assert infos["postgres"].distribution == "kpiengine"
    assert infos["postgres"].source_types == ["postgres"]
    assert infos["postgres"].module == "kpiengine_plugins.postgres_source"
    assert "kpiengine_source_types" in infos["postgres"].hooks
