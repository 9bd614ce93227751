"""Plugin discovery: the one place plugins are found, loaded and checked.

Built-in and third-party plugins are loaded the same way, from the
``kpiengine`` entry-point group: the connectors in ``plugins/``, the core spec
sections, funnels and alerting all arrive through it. A plugin that fails to
import, or registers a type or section name already taken, is reported (naming
the plugin and its distribution) and skipped: the other plugins keep working.
"""
from __future__ import annotations

import difflib
import importlib.metadata as md
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .sections import MERGE_KINDS, SpecSection

ENTRY_POINT_GROUP = "kpiengine"


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    module: str
    source_types: list[str] = field(default_factory=list)
    sink_types: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginProblem:
    plugin: str
    distribution: str | None
    message: str

    def __str__(self) -> str:
        dist = f" (distribution {self.distribution})" if self.distribution else ""
        return f"plugin '{self.plugin}'{dist}: {self.message}"


class PluginRegistry:
    """A plugin manager plus the source and sink types its plugins registered."""

    def __init__(self, pm: pluggy.PluginManager, dists: dict[str, tuple[str | None, str | None]],
                 problems: list[PluginProblem]):
        self.pm = pm
        self.problems = problems
        self._dists = dists
        self.source_types: dict[str, type] = {}
        self.sink_types: dict[str, type] = {}
        self._owner: dict[tuple[str, str], str] = {}
        sections: dict[str, SpecSection] = {}
        self._collect("source", "kpiengine_source_types", self.source_types, self._type_problem)
        self._collect("sink", "kpiengine_sink_types", self.sink_types, self._type_problem)
        self._collect("section", "kpiengine_spec_sections", sections, self._section_problem)
        #: Every spec section, in the order they are built and checked.
        self.spec_sections: list[SpecSection] = sorted(sections.values(), key=lambda s: (s.order, s.name))

    def _collect(self, kind: str, hook_name: str, into: dict[str, Any], invalid) -> None:
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        # Built-in plugins claim their names first, so a third-party plugin earlier on sys.path
        # cannot silently take over "postgres" or "kpis" (it is reported as the duplicate instead).
        impls = sorted(impls, key=lambda i: self._dists.get(i.plugin_name, (None, None))[0] != "kpiengine")
        for impl in impls:
            plugin_name = impl.plugin_name
            try:
                items = impl.function() or []
            except Exception as exc:  # a broken plugin must not take the others down
                self._problem(plugin_name, f"{hook_name}() failed: {exc!r}")
                continue
            for item in items:
                name = getattr(item, "type_name" if kind != "section" else "name", "")
                problem = invalid(item, name)
                if problem:
                    self._problem(plugin_name, f"{problem}; skipped")
                    continue
                if name in into:
                    other = self._owner[(kind, name)]
                    self._problem(plugin_name, f"{kind} {'type ' if kind != 'section' else ''}'{name}' is already "
                                               f"registered by plugin '{other}'; this one is ignored")
                    continue
                into[name] = item
                self._owner[(kind, name)] = plugin_name

    @staticmethod
    def _type_problem(cls: Any, name: str) -> str | None:
        return None if name else f"{cls!r} has no type_name"

    @staticmethod
    def _section_problem(section: Any, name: str) -> str | None:
        if not isinstance(section, SpecSection):
            return f"{section!r} is not a kpiengine.sections.SpecSection"
        if not name:
            return f"{section!r} has no name"
        if section.merge not in MERGE_KINDS:
            return f"section '{name}' has merge={section.merge!r}; expected one of {', '.join(MERGE_KINDS)}"
        return None

    def section(self, name: str) -> SpecSection | None:
        return next((s for s in self.spec_sections if s.name == name), None)

    def section_owner(self, name: str) -> str | None:
        return self._owner.get(("section", name))

    def _problem(self, plugin: str, message: str) -> None:
        self.problems.append(PluginProblem(plugin, self._dists.get(plugin, (None, None))[0], message))

    # -- lookups with did-you-mean ------------------------------------------------
    def source_type(self, name: str) -> type:
        return self._lookup("source", name, self.source_types)

    def sink_type(self, name: str) -> type:
        return self._lookup("sink", name, self.sink_types)

    def _lookup(self, kind: str, name: str, table: dict[str, type]) -> type:
        if name in table:
            return table[name]
        raise PluginError(unknown_type_message(kind, name, table))

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda p: p[0]):
            if plugin is None:
                continue
            dist, version = self._dists.get(name, (None, None))
            infos.append(PluginInfo(
                name=name, distribution=dist, version=version,
                module=getattr(plugin, "__name__", repr(plugin)),
                source_types=sorted(t for (k, t), o in self._owner.items() if k == "source" and o == name),
                sink_types=sorted(t for (k, t), o in self._owner.items() if k == "sink" and o == name),
                sections=sorted(t for (k, t), o in self._owner.items() if k == "section" and o == name),
                hooks=sorted(h.name for h in self.pm.get_hookcallers(plugin) or []),
            ))
        return infos


def unknown_type_message(kind: str, name: str, table: dict[str, Any]) -> str:
    installed = ", ".join(sorted(table)) or "none"
    close = difflib.get_close_matches(name, list(table), n=1)
    guess = f", did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} type '{name}'{guess} Installed: {installed}"


def get_plugin_manager(*, load_entrypoints: bool = True, extra_plugins: list[tuple[str, Any]] | None = None
                       ) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs added and, by default, every installed plugin loaded."""
    pm, _dists, _problems = _build(load_entrypoints, extra_plugins)
    return pm


def _build(load_entrypoints: bool, extra_plugins):
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    dists: dict[str, tuple[str | None, str | None]] = {}
    problems: list[PluginProblem] = []
    if load_entrypoints:
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.metadata["Name"] if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            dists[ep.name] = (dist, version)
            if pm.has_plugin(ep.name):
                problems.append(PluginProblem(ep.name, dist, "a plugin with this name is already loaded; skipped"))
                continue
            try:
                module = ep.load()
            except Exception as exc:
                problems.append(PluginProblem(ep.name, dist, f"failed to import {ep.value}: {exc!r}"))
                continue
            _register(pm, module, ep.name, dist, problems)
    for name, module in extra_plugins or []:
        dists.setdefault(name, (None, None))
        _register(pm, module, name, None, problems)
    return pm, dists, problems


def _register(pm, module, name, dist, problems) -> None:
    try:
        pm.register(module, name=name)
        pm.check_pending()  # a hookimpl with no matching spec is an error, not silently ignored
    except (ValueError, pluggy.PluginValidationError) as exc:
        if pm.is_registered(module):
            pm.unregister(module)
        problems.append(PluginProblem(name, dist, f"invalid plugin: {exc}"))


def get_registry(*, load_entrypoints: bool = True, extra_plugins: list[tuple[str, Any]] | None = None
                 ) -> PluginRegistry:
    """Load plugins and collect the source and sink types they add."""
    pm, dists, problems = _build(load_entrypoints, extra_plugins)
    return PluginRegistry(pm, dists, problems)


_default: PluginRegistry | None = None


def default_registry() -> PluginRegistry:
    """The process-wide registry of installed plugins (loaded once)."""
    global _default
    if _default is None:
        _default = get_registry()
    return _default
