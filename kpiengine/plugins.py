"""Plugin discovery: the one place plugins are found, loaded and checked.

Built-in and third-party plugins are loaded the same way, from the
``kpiengine`` entry-point group: the connectors in ``plugins/``, the core spec
sections, funnels and alerting all arrive through it. A plugin that fails to
import, or registers a type or section name already taken, is reported (naming
the plugin and its distribution) and skipped: the other plugins keep working.

Loading is lazy. Listing the entry points costs a few milliseconds; importing
every plugin (drivers, SMTP, the spec sections and their sqlglot) costs far
more, and most commands need one source plugin. A registry therefore loads
everything the first time something needs the complete picture (``spec_sections``,
``source_types``, ``problems``, ``kpi plugins``), which keeps the duplicate and
problem reporting exactly as before. Given an :meth:`PluginRegistry.index` of
who provides what (saved by the spec cache after a complete load, for the same
installed plugins), it loads only the plugin that owns a looked-up type or
implements a hook.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib.metadata as md
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .sections import MERGE_KINDS, SpecSection

ENTRY_POINT_GROUP = "kpiengine"
_KINDS = {"source": "kpiengine_source_types", "sink": "kpiengine_sink_types", "section": "kpiengine_spec_sections"}


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
    """A plugin manager plus the source and sink types and spec sections its plugins registered."""

    def __init__(self, *, load_entrypoints: bool = True, extra_plugins: list[tuple[str, Any]] | None = None,
                 index: dict[str, dict[str, list[str]]] | None = None):
        self._load_entrypoints = load_entrypoints
        self._extra = list(extra_plugins or [])
        self._index = index  # plugin name -> {"source": [...], "sink": [...], "section": [...], "hooks": [...]}
        self._complete = False
        self._reset()

    def _reset(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._problems: list[PluginProblem] = []
        self._tables: dict[str, dict[str, Any]] = {kind: {} for kind in _KINDS}
        self._owner: dict[tuple[str, str], str] = {}
        self._spec_sections: list[SpecSection] = []
        self._collected: set[tuple[str, str]] = set()  # (kind, plugin) already collected by a lazy lookup

    # -- loading ------------------------------------------------------------------
    def load_all(self) -> "PluginRegistry":
        """Import every installed plugin and collect what they register (idempotent)."""
        if self._complete:
            return self
        self._reset()
        if self._load_entrypoints:
            for ep in entry_points():
                self._load_entry_point(ep)
        for name, module in self._extra:
            self._dists.setdefault(name, (None, None))
            self._register(module, name, None)
        for kind in _KINDS:
            self._collect(kind, getattr(self._pm.hook, _KINDS[kind]).get_hookimpls())
        sections = self._tables["section"]
        self._spec_sections = sorted(sections.values(), key=lambda s: (s.order, s.name))
        self._complete = True
        return self

    def _load_entry_point(self, ep) -> Any:
        dist, version = _dist_of(ep)
        self._dists[ep.name] = (dist, version)
        if self._pm.has_plugin(ep.name):
            self._problems.append(PluginProblem(ep.name, dist, "a plugin with this name is already loaded; skipped"))
            return None
        try:
            module = ep.load()
        except Exception as exc:
            self._problems.append(PluginProblem(ep.name, dist, f"failed to import {ep.value}: {exc!r}"))
            return None
        return self._register(module, ep.name, dist)

    def _register(self, module, name, dist) -> Any:
        try:
            self._pm.register(module, name=name)
            self._pm.check_pending()  # a hookimpl with no matching spec is an error, not silently ignored
        except (ValueError, pluggy.PluginValidationError) as exc:
            if self._pm.is_registered(module):
                self._pm.unregister(module)
            self._problems.append(PluginProblem(name, dist, f"invalid plugin: {exc}"))
            return None
        return module

    def _load_only(self, plugin_names: list[str]) -> bool:
        """Load just these entry points (an index said they are the ones needed); False if that failed."""
        wanted = set(plugin_names) - {name for name, _ in self._pm.list_name_plugin()}
        if not wanted:
            return True
        found = [ep for ep in entry_points() if ep.name in wanted]
        if len(found) != len(wanted):  # the index is out of date: only a complete load is trustworthy
            return False
        for ep in found:
            if self._load_entry_point(ep) is None:
                return False
        return True

    def _collect(self, kind: str, impls) -> None:
        hook_name = _KINDS[kind]
        into = self._tables[kind]
        invalid = self._section_problem if kind == "section" else self._type_problem
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

    def _problem(self, plugin: str, message: str) -> None:
        self._problems.append(PluginProblem(plugin, self._dists.get(plugin, (None, None))[0], message))

    # -- the complete picture (loads every plugin) ---------------------------------
    @property
    def pm(self) -> pluggy.PluginManager:
        return self.load_all()._pm

    @property
    def problems(self) -> list[PluginProblem]:
        return self.load_all()._problems

    @property
    def source_types(self) -> dict[str, type]:
        return self.load_all()._tables["source"]

    @property
    def sink_types(self) -> dict[str, type]:
        return self.load_all()._tables["sink"]

    @property
    def spec_sections(self) -> list[SpecSection]:
        """Every spec section, in the order they are built and checked."""
        return self.load_all()._spec_sections

    def section(self, name: str) -> SpecSection | None:
        return next((s for s in self.spec_sections if s.name == name), None)

    def section_owner(self, name: str) -> str | None:
        return self.load_all()._owner.get(("section", name))

    def index(self) -> dict[str, dict[str, list[str]]]:
        """Who provides what, for a later registry of the same installed plugins to load lazily."""
        self.load_all()
        out: dict[str, dict[str, list[str]]] = {}
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            entry = {kind: sorted(t for (k, t), o in self._owner.items() if k == kind and o == name)
                     for kind in _KINDS}
            entry["hooks"] = sorted(h.name for h in self._pm.get_hookcallers(plugin) or [])
            out[name] = entry
        return out

    # -- targeted lookups (load only the owner when an index is known) -------------
    def source_type(self, name: str) -> type:
        return self._typed("source", name)

    def sink_type(self, name: str) -> type:
        return self._typed("sink", name)

    def _typed(self, kind: str, name: str) -> type:
        table = self._tables[kind]
        if not self._complete and name not in table:
            owners = [p for p, entry in (self._index or {}).items() if name in entry.get(kind, ())]
            if len(owners) == 1 and (kind, owners[0]) not in self._collected and self._load_only(owners):
                self._collected.add((kind, owners[0]))
                self._collect(kind, [i for i in getattr(self._pm.hook, _KINDS[kind]).get_hookimpls()
                                     if i.plugin_name == owners[0]])
            if name not in table:
                self.load_all()
        table = self._tables[kind]
        if name in table:
            return table[name]
        raise PluginError(unknown_type_message(kind, name, table))

    def hook_impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        """The implementations of a hook, importing only the plugins that implement it when indexed."""
        if not self._complete:
            owners = [p for p, entry in (self._index or {}).items() if hook_name in entry.get("hooks", ())]
            if self._index is None or self._extra or not self._load_only(owners):
                self.load_all()
        return getattr(self._pm.hook, hook_name).get_hookimpls()

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, entry in sorted(self.index().items()):
            dist, version = self._dists.get(name, (None, None))
            plugin = self._pm.get_plugin(name)
            infos.append(PluginInfo(
                name=name, distribution=dist, version=version, module=getattr(plugin, "__name__", repr(plugin)),
                source_types=entry["source"], sink_types=entry["sink"], sections=entry["section"],
                hooks=entry["hooks"]))
        return infos


def entry_points() -> list:
    return list(md.entry_points(group=ENTRY_POINT_GROUP))


def _dist_of(ep) -> tuple[str | None, str | None]:
    return (ep.dist.metadata["Name"], ep.dist.version) if ep.dist is not None else (None, None)


def installed_fingerprint() -> str:
    """A hash of the installed plugins (entry points and their distributions' versions), without importing them."""
    digest = hashlib.sha256()
    seen: dict[int, tuple[str | None, str | None]] = {}
    for ep in sorted(entry_points(), key=lambda e: (e.name, e.value)):
        if ep.dist is not None and id(ep.dist) not in seen:
            seen[id(ep.dist)] = _dist_of(ep)
        dist = seen.get(id(ep.dist), (None, None)) if ep.dist is not None else (None, None)
        digest.update(repr((ep.name, ep.value, dist)).encode() + b"\0")
    return digest.hexdigest()[:16]


def unknown_type_message(kind: str, name: str, table: dict[str, Any]) -> str:
    installed = ", ".join(sorted(table)) or "none"
    close = difflib.get_close_matches(name, list(table), n=1)
    guess = f", did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} type '{name}'{guess} Installed: {installed}"


def get_plugin_manager(*, load_entrypoints: bool = True, extra_plugins: list[tuple[str, Any]] | None = None
                       ) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs added and, by default, every installed plugin loaded."""
    return get_registry(load_entrypoints=load_entrypoints, extra_plugins=extra_plugins).pm


def get_registry(*, load_entrypoints: bool = True, extra_plugins: list[tuple[str, Any]] | None = None
                 ) -> PluginRegistry:
    """Load every plugin and collect the source and sink types and sections they add."""
    return PluginRegistry(load_entrypoints=load_entrypoints, extra_plugins=extra_plugins).load_all()


_default: PluginRegistry | None = None


def default_registry() -> PluginRegistry:
    """The process-wide registry of installed plugins (each plugin imported once, when first needed)."""
    global _default
    if _default is None:
        _default = PluginRegistry()
    return _default


def prime_default_registry(index: dict[str, dict[str, list[str]]]) -> PluginRegistry:
    """Tell the process-wide registry who provides what, so lookups import only the owner (see the spec cache)."""
    registry = default_registry()
    if not registry._complete and registry._index is None:
        registry._index = index
    return registry
