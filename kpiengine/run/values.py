"""The values of a dimension and their row counts, run on the model's source (``kpi list values``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError, SpecIssue
from ..spec.dimensions import known_dimensions
from ..spec.entities import DimensionRefError, reachable_dimensions, resolve_dimension
from ..spec.suggest import did_you_mean
from ..sql.compiler import CompileError
from ..sql.values import values_query
from .engine import Engine
from .normalize import normalize_number, normalize_value, sort_key


@dataclass
class DimensionValues:
    dimension: str
    model: str
    values: list[tuple[Any, int]] = field(default_factory=list)  # most rows first, then by value
    sql: str = ""


def counting_model(project, dimension: str, model: str | None) -> str:
    """The model whose rows are counted: the one asked for, else the first fact model reaching the dimension."""
    if model is not None:
        if model not in project.models:
            raise SpecError([SpecIssue(f"unknown model '{model}'", hint=did_you_mean(model, project.models) or
                                       f"models: {', '.join(project.models)}", code="reference")])
        try:
            resolve_dimension(project, model, dimension)
        except DimensionRefError as exc:
            raise SpecError([SpecIssue(str(exc), hint=exc.hint, code="dimension")]) from None
        return model
    facts = [m.name for m in project.models.values() if m.time] + [m.name for m in project.models.values()
                                                                  if not m.time]
    for name in facts:
        if dimension in reachable_dimensions(project, name):
            return name
    for name in facts:  # a path written in full (lead.rep.team) is not listed but resolves
        try:
            resolve_dimension(project, name, dimension)
            return name
        except DimensionRefError:
            continue
    raise SpecError([SpecIssue(f"no model has or reaches dimension '{dimension}'",
                               hint=(did_you_mean(dimension, known_dimensions(project)) or "") +
                               " `kpi list dimensions` shows them", code="dimension")])


def dimension_values(engine: Engine, dimension: str, model: str | None = None, *, limit: int | None = None
                     ) -> DimensionValues:
    project = engine.project
    name = counting_model(project, dimension, model)
    spec = project.models[name]
    dialect = engine.dialect_of(spec.source)
    try:
        query = values_query(project, spec, dimension, dialect)
    except CompileError as exc:
        raise SpecError([SpecIssue(str(exc), hint=exc.hint, code="compile")]) from None
    sql = query.sql(dialect=dialect)
    rows = engine.run_sql(spec.source, sql).rows
    values = sorted(((normalize_value(v), int(normalize_number(n))) for v, n in rows),
                    key=lambda vn: (-vn[1], sort_key((vn[0],))))
    return DimensionValues(dimension=dimension, model=name, values=values[:limit] if limit else values, sql=sql)
