"""Compiled SQL kept with the spec cache: a request already compiled for this spec version is not compiled again.

Compiling builds sqlglot trees and renders them, and resolving "every KPI that
supports this breakdown" parses formulas; for a repeated ``kpi run`` both give
what they gave last time. The result of a request (which KPIs it means, the
queries with their SQL as text) is stored beside the project's cache entry
(:class:`kpiengine.spec.cache.SpecCache`), under the same key: a new spec
version, kpiengine version or plugin set is a new key, so a stored plan is
never used for anything it was not made from.

A stored query keeps every attribute the engine reads, with sqlglot trees
replaced by their SQL text (:class:`FrozenQuery`), so reading one back imports
neither the compiler nor sqlglot.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any, Iterable

from ..spec.gcpause import paused_gc

KIND = "plan"


class FrozenRecord:
    """A dataclass instance of the compiler detached from its class: the same attributes, plain values."""

    def __init__(self, **fields: Any):
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"FrozenRecord({self.__dict__!r})"


class FrozenQuery(FrozenRecord):
    """A compiled query as the cache keeps it: attributes and properties (``sql``, ``kpis``) by value."""

    def pretty(self) -> str:
        """The SQL on one line: a stored plan keeps no tree to lay out (``kpi compile`` compiles afresh)."""
        return self.sql


def freeze(query: Any) -> FrozenQuery:
    fields = {f.name: _detach(getattr(query, f.name)) for f in dataclasses.fields(query)
              if not _is_tree(getattr(query, f.name))}
    for name, attr in vars(type(query)).items():  # properties such as .sql and .kpis, computed once
        if isinstance(attr, property) and not name.startswith("_"):
            fields[name] = _detach(getattr(query, name))
    return FrozenQuery(**fields)


def _is_tree(value: Any) -> bool:
    return type(value).__module__.startswith("sqlglot")


def _detach(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return FrozenRecord(**{f.name: _detach(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, list):
        return [_detach(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_detach(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    if _is_tree(value):
        raise TypeError(f"cannot keep a {type(value).__name__} tree in the plan cache")
    return value


def request_key(kpis: Iterable[str] | None, grain: str, by: Iterable[str], start: date | None, end: date | None,
                dialect: str | None) -> str:
    return repr((tuple(kpis) if kpis else None, grain, tuple(by), start, end, dialect))


def lookup(project, key: str) -> tuple[list[str], list[Any]] | None:
    """(resolved KPI names, queries) stored for this request and spec version, or None."""
    cache = getattr(project, "cache", None)
    return cache.get(KIND, key) if cache is not None else None


def store(project, key: str, names: list[str], queries: list[Any]) -> list[FrozenQuery] | None:
    """Keep a request's plan; returns the stored queries (their SQL already rendered), or None."""
    cache = getattr(project, "cache", None)
    if cache is None:
        return None
    try:
        with paused_gc():  # rendering thousands of KPIs' SQL: see spec.gcpause
            frozen = [freeze(q) for q in queries]
    except TypeError:  # a query kind that keeps a tree the engine needs: compile it every time
        return None
    cache.put(KIND, key, (list(names), frozen))
    return frozen
