"""Entities: the keys that link models, and which dimensions of other models a model can reach through them.

A star schema keeps a rep's team on the ``reps`` table and a lead's origin on
``leads``; the facts carry only ``rep_id`` and ``lead_id``. A model declares its
entities (``primary``, ``unique`` or ``foreign``, a key of one or more columns),
and a dimension written ``rep.team`` means "the ``team`` of the model whose
primary (or unique) entity is ``rep``, joined through the keys".

This module is the planner's brain and knows no SQL: it finds the join path
(a list of :class:`Hop`) from a KPI's model to the dimension, shortest first,
and refuses what would be wrong rather than slow:

* a hop is allowed only towards a model where the entity is ``primary`` or
  ``unique`` (many-to-one or one-to-one), so a join can never repeat a fact
  row and inflate a measure; a one-to-many path is refused with its reason;
* two shortest paths of the same length are ambiguous: the error lists both,
  written so that the user can pick one (``lead.rep.team``).

``kpiengine.sql.joins`` turns a path into LEFT JOINs; validation, ``kpi run``,
``kpi list`` and the breakdown checks ask the functions here, so they agree.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlglot import exp

from ..errors import Location, SpecIssue
from .located import LDict, LList
from .sqlsafety import check_expression, parse_expression

ENTITY_TYPES = ("primary", "unique", "foreign")
#: Longest join path searched (facts -> leads -> campaigns -> owners); deeper stars are rare and slow to plan.
MAX_HOPS = 4

_key = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
ENTITIES_SCHEMA = {
    "type": "object",
    "description": "entities of the model: name -> {type: primary|unique|foreign, key: column or [columns]}",
    "propertyNames": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
    "additionalProperties": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"enum": list(ENTITY_TYPES)},
            "key": {**_key, "description": "column or expression (a list for a composite key); default: NAME_id"},
            "description": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


@dataclass
class EntitySpec:
    name: str
    type: str  # primary | unique | foreign
    key: list[str]  # columns or row-level expressions, in the order every model lists them
    location: Location | None = None

    @property
    def is_unique(self) -> bool:
        return self.type in ("primary", "unique")


@dataclass(frozen=True)
class Hop:
    """One LEFT JOIN: from ``source`` (a model) to ``target`` through ``entity``."""

    entity: str
    source: str
    target: str


@dataclass
class DimensionPath:
    """Where a breakdown dimension comes from: the model that has it and the hops to reach it."""

    name: str  # as written: "region" or "rep.team"
    model: str  # the model whose dimension it is
    dimension: str  # its name in that model
    hops: tuple[Hop, ...] = ()

    def describe(self) -> str:
        if not self.hops:
            return f"{self.name}: {self.model}.{self.dimension}"
        trail = self.hops[0].source + "".join(f" -[{h.entity}]-> {h.target}" for h in self.hops)
        return f"{self.name}: {trail}.{self.dimension}"


class DimensionRefError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def parse_entities(raw: Any, issues: list[SpecIssue]) -> dict[str, EntitySpec]:
    """The typed entities of a model's ``entities:`` (already schema-checked; wrong shapes are skipped)."""
    out: dict[str, EntitySpec] = {}
    if not isinstance(raw, dict):
        return out
    for name, body in raw.items():
        if not isinstance(name, str) or not isinstance(body, dict) or body.get("type") not in ENTITY_TYPES:
            continue
        key = body.get("key", f"{name}_id")
        if isinstance(key, str):
            keys = [key]
        else:
            keys = [k for k in key if isinstance(k, str)] if isinstance(key, list) else []
        if not keys:
            continue
        loc = raw.key_locs.get(name) if isinstance(raw, LDict) else None
        out[name] = EntitySpec(name=name, type=body["type"], key=[str(k) for k in keys], location=loc)
    return out


def entity_issues(project: Any, dialect_of) -> Iterable[SpecIssue]:
    """Located problems of every model's entities: unsafe keys, two primaries, keys of different widths."""
    widths: dict[str, tuple[int, str]] = {}
    for model in project.models.values():
        primaries = [e.name for e in model.entities.values() if e.type == "primary"]
        if len(primaries) > 1:
            yield SpecIssue(f"model '{model.name}' declares {len(primaries)} primary entities "
                            f"({', '.join(primaries)})", model.entities[primaries[1]].location,
                            hint="a row is one thing: keep one primary entity and make the others unique or foreign",
                            code="entity")
        for entity in model.entities.values():
            raw_key = _raw_key(model, entity.name)
            for text in entity.key:
                for problem in check_expression(text, dialect_of(model), what=f"entity {entity.name} key"):
                    yield SpecIssue(f"model '{model.name}' entity '{entity.name}': {problem}",
                                    raw_key or entity.location, hint="a column name or a row-level expression",
                                    code="unsafe-sql")
            seen = widths.get(entity.name)
            if seen is None:
                widths[entity.name] = (len(entity.key), model.name)
            elif seen[0] != len(entity.key):
                yield SpecIssue(f"entity '{entity.name}' has a key of {len(entity.key)} column(s) in model "
                                f"'{model.name}' but {seen[0]} in model '{seen[1]}'", raw_key or entity.location,
                                hint="list the same key columns, in the same order, wherever the entity appears",
                                code="entity")


def _raw_key(model: Any, name: str) -> Location | None:
    raw = model.raw.get("entities") if isinstance(model.raw, LDict) else None
    body = raw.get(name) if isinstance(raw, LDict) else None
    if isinstance(body, LDict):
        key = body.get("key")
        return key.loc if isinstance(key, LList) else body.loc_of("key")
    return None


# -- the graph ------------------------------------------------------------------------------------

@dataclass
class _Graph:
    safe: dict[str, list[Hop]] = field(default_factory=dict)  # many-to-one / one-to-one hops per model
    fanout: dict[str, list[Hop]] = field(default_factory=dict)  # hops that would repeat a row
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)


_GRAPHS: dict[int, tuple[Any, _Graph]] = {}


def _graph(project: Any) -> _Graph:
    # Keyed by identity: a Project is mutable (no hash) and lives for one command; the weakref
    # makes a recycled id() of a dead project miss.
    hit = _GRAPHS.get(id(project))
    if hit is not None and hit[0]() is project:
        return hit[1]
    graph = _Graph()
    holders: dict[str, list[str]] = {}  # entity -> models where it is primary or unique
    for model in project.models.values():
        for e in getattr(model, "entities", {}).values():
            if e.is_unique:
                holders.setdefault(e.name, []).append(model.name)
    for model in project.models.values():
        for e in getattr(model, "entities", {}).values():
            for target in holders.get(e.name, []):
                if target != model.name:
                    graph.safe.setdefault(model.name, []).append(Hop(e.name, model.name, target))
        # The other way round: from a primary/unique holder to a model where the entity is foreign.
        for e in getattr(model, "entities", {}).values():
            if e.type == "foreign":
                for holder in holders.get(e.name, []):
                    graph.fanout.setdefault(holder, []).append(Hop(e.name, holder, model.name))
    if len(_GRAPHS) > 64:
        _GRAPHS.clear()
    _GRAPHS[id(project)] = (weakref.ref(project), graph)
    return graph


def has_entities(project: Any) -> bool:
    return any(getattr(m, "entities", None) for m in project.models.values())


def _paths(project: Any, start: str, edges: dict[str, list[Hop]]) -> list[tuple[Hop, ...]]:
    """Every simple path (no model twice) from ``start``, up to MAX_HOPS, shortest first."""
    out: list[tuple[Hop, ...]] = []
    frontier: list[tuple[Hop, ...]] = [()]
    for _ in range(MAX_HOPS):
        nxt = []
        for path in frontier:
            here = path[-1].target if path else start
            visited = {start} | {h.target for h in path}
            for hop in edges.get(here, []):
                if hop.target not in visited:
                    nxt.append(path + (hop,))
        out += nxt
        frontier = nxt
    return out


def _written(hops: tuple[Hop, ...], dimension: str) -> str:
    return ".".join([h.entity for h in hops] + [dimension])


def resolve_dimension(project: Any, model_name: str, ref: str) -> DimensionPath:
    """Where dimension ``ref`` of a KPI over ``model_name`` comes from; DimensionRefError when nowhere."""
    graph = _graph(project)
    hit = graph.cache.get((model_name, ref))
    if hit is None:
        try:
            hit = _resolve(project, graph, model_name, ref)
        except DimensionRefError as exc:
            hit = exc
        graph.cache[(model_name, ref)] = hit
    if isinstance(hit, DimensionRefError):
        raise hit
    return hit


def _resolve(project: Any, graph: _Graph, model_name: str, ref: str) -> DimensionPath:
    model = project.models[model_name]
    parts = ref.split(".")
    dim, entities = parts[-1], parts[:-1]
    if not entities:
        if dim in model.dimensions:
            return DimensionPath(ref, model_name, dim)
        raise DimensionRefError(f"model '{model_name}' has no dimension '{ref}'",
                                f"available: {', '.join(sorted(reachable_dimensions(project, model_name))) or 'none'}")
    if len(entities) == 1 and entities[0] in model.entities and model.entities[entities[0]].is_unique \
            and dim in model.dimensions:
        return DimensionPath(ref, model_name, dim)  # the model's own entity: no join
    if any(not p for p in parts):
        raise DimensionRefError(f"'{ref}' is not a dimension name", "write entity.dimension, e.g. rep.team")

    def matches(path: tuple[Hop, ...]) -> bool:
        return (len(path) >= len(entities) and [h.entity for h in path[-len(entities):]] == entities
                and dim in project.models[path[-1].target].dimensions)

    found = [p for p in _paths(project, model_name, graph.safe) if matches(p)]
    if found:
        shortest = [p for p in found if len(p) == len(found[0])]
        if len(shortest) > 1:
            options = "; ".join(f"{_written(p, dim)} ({' -> '.join([model_name] + [h.target for h in p])})"
                                for p in shortest)
            raise DimensionRefError(f"dimension '{ref}' of model '{model_name}' is ambiguous: "
                                    f"{len(shortest)} join paths of {len(shortest[0])} hop(s) reach it",
                                    f"name the path in full, one of: {options}")
        path = shortest[0]
        return DimensionPath(ref, path[-1].target, dim, path)
    # Nothing safe: say why, a fan-out join or a missing entity or dimension.
    mixed = {**{k: list(v) for k, v in graph.safe.items()}}
    for k, hops in graph.fanout.items():
        mixed.setdefault(k, []).extend(hops)
    risky = [p for p in _paths(project, model_name, mixed) if matches(p)]
    if risky:
        bad = next(h for h in risky[0] if h in graph.fanout.get(h.source, []))
        trail = model_name + "".join(f" -[{h.entity}]-> {h.target}" for h in risky[0])
        raise DimensionRefError(
            f"dimension '{ref}' of model '{model_name}' is reached only through a one-to-many join ({trail}): "
            f"'{bad.entity}' is {project.models[bad.target].entities[bad.entity].type} in model '{bad.target}', "
            f"so one row of '{bad.source}' matches many rows there and its measures would be counted several times",
            f"break '{bad.target}' KPIs down by {ref.split('.')[-1]} instead, or declare '{bad.entity}' "
            f"primary/unique in '{bad.target}' if it really is one row per key")
    holders = [m.name for m in project.models.values() if entities[-1] in m.entities]
    if not holders:
        raise DimensionRefError(f"unknown entity '{entities[-1]}' in dimension '{ref}'",
                                "declare it under a model's `entities:`; known entities: " +
                                (", ".join(sorted({e for m in project.models.values() for e in m.entities}))
                                 or "none"))
    available = sorted(reachable_dimensions(project, model_name))
    raise DimensionRefError(f"model '{model_name}' reaches no dimension '{ref}'",
                            f"available: {', '.join(available) or 'none'}")


def reachable_dimensions(project: Any, model_name: str) -> set[str]:
    """Every dimension name a KPI over ``model_name`` can be broken down by: its own, and ``entity.dim``."""
    model = project.models.get(model_name)
    if model is None:
        return set()
    names = set(model.dimensions)
    if not model.entities:
        return names
    graph = _graph(project)
    key = (model_name, "\0reachable")
    hit = graph.cache.get(key)
    if hit is not None:
        return set(hit)
    candidates: set[str] = set()  # (deal.region on deals itself resolves too, but is not offered: noise)
    for path in _paths(project, model_name, graph.safe):
        candidates |= {f"{path[-1].entity}.{d}" for d in project.models[path[-1].target].dimensions}
    for name in candidates:
        try:
            resolve_dimension(project, model_name, name)
            names.add(name)
        except DimensionRefError:
            pass  # ambiguous: not offered, but the full path may still be written
    graph.cache[key] = frozenset(names)
    return names


def where_dimensions(text: str, dialect: str) -> list[str]:
    """The dimension names a query filter reads: ``rep.team = 'a' AND region = 'east'`` -> rep.team, region."""
    tree = parse_expression(text, dialect)
    names = []
    for col in tree.find_all(exp.Column):
        names.append(column_dimension(col))
    return list(dict.fromkeys(names))


def column_dimension(col: Any) -> str:
    """The dimension a column node of a filter names (``rep.team`` parses as table rep, column team)."""
    parts = [p.name for p in col.parts]
    return ".".join(parts)
