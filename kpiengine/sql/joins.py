"""Joins below the aggregation: a KPI's model LEFT JOINed to the dimension tables its breakdown reaches.

:mod:`kpiengine.spec.entities` decides the path (many-to-one and one-to-one
hops only, shortest and unambiguous); this module turns it into sqlglot:

* the fact model stays ``m``, each joined model gets ``j1``, ``j2``... in the
  order of first use, and two dimensions that share a path prefix share its
  joins (``rep.team`` and ``rep.region`` join ``reps`` once);
* joins are ``LEFT JOIN ... ON m.key = j1.key`` (every key column, ``AND``ed):
  a fact whose foreign key is NULL or matches nothing keeps its row, and its
  joined dimension is NULL, a group of its own; since a hop only ever reaches
  a key declared primary or unique, a fact row matches at most one row, so no
  measure is counted twice;
* once a query joins, every unqualified column of the fact model's own
  expressions (time, filters, columns, dimensions) is qualified with ``m``, so
  a ``region`` on both sides is never ambiguous.

A query filter (``kpi run --where "rep.team = 'a'"``) names dimensions, not
columns: each column of the parsed filter is replaced by that dimension's
expression, joined the same way as a breakdown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlglot import exp

from ..spec.entities import (
    DimensionPath,
    Hop,
    column_dimension,
    has_entities,
    resolve_dimension,
    where_dimensions,
)
from ..spec.model import ModelSpec, Project
from ..spec.sqlsafety import parse_expression

BASE_ALIAS = "m"


@dataclass
class JoinPlan:
    """The joins one model query needs, and where each dimension it reads comes from."""

    model: str
    paths: dict[str, DimensionPath] = field(default_factory=dict)  # dimension name -> path
    aliases: dict[tuple[Hop, ...], str] = field(default_factory=dict)  # path prefix -> join alias, in order

    @property
    def joins(self) -> bool:
        return bool(self.aliases)

    def alias_of(self, path: DimensionPath) -> str:
        return self.aliases[path.hops] if path.hops else BASE_ALIAS

    def describe(self) -> list[str]:
        """One line per joined dimension: ``rep.team: deals -[rep]-> reps.team``."""
        return [p.describe() for p in self.paths.values() if p.hops]


def plan_joins(project: Project, model: ModelSpec, names: list[str]) -> JoinPlan:
    """Resolve every dimension name (raises DimensionRefError) and give each needed hop an alias."""
    plan = JoinPlan(model=model.name)
    for name in names:
        if name in plan.paths:
            continue
        if name in model.dimensions or not has_entities(project):
            path = DimensionPath(name, model.name, name)
        else:
            path = resolve_dimension(project, model.name, name)
        plan.paths[name] = path
        for i in range(1, len(path.hops) + 1):
            prefix = path.hops[:i]
            plan.aliases.setdefault(prefix, f"j{len(plan.aliases) + 1}")
    return plan


def plan_request(project: Project, model: ModelSpec, by: list[str], where: str | None, dialect: str) -> JoinPlan:
    """The joins a query over ``model`` needs for a breakdown and a query filter (raises DimensionRefError)."""
    return plan_joins(project, model, list(by) + (where_dimensions(where, dialect) if where else []))


def qualify(tree: exp.Expression, alias: str) -> exp.Expression:
    """Qualify every unqualified column of ``tree`` with ``alias`` (in place) and return it."""
    for col in list(tree.find_all(exp.Column)):
        if not col.table:
            col.set("table", exp.to_identifier(alias))
    return tree


def dimension_expression(project: Project, plan: JoinPlan, name: str, dialect: str) -> exp.Expression:
    """The SQL of a dimension: the fact model's own (unqualified), or a joined model's qualified by its alias."""
    path = plan.paths[name]
    target = project.models[path.model]
    tree = parse_expression(str(target.dimensions[path.dimension]), dialect)
    return qualify(tree, plan.alias_of(path)) if path.hops else tree


def where_condition(project: Project, plan: JoinPlan, text: str, dialect: str) -> exp.Expression:
    """A query filter over dimension names, rewritten over the expressions of those dimensions."""
    tree = parse_expression(text, dialect)

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.Paren(this=dimension_expression(project, plan, column_dimension(node), dialect))
        return node

    return exp.Paren(this=tree.transform(swap, copy=False))


def attach(select: exp.Select, project: Project, plan: JoinPlan, dialect: str,
           relation_of: Callable[[ModelSpec, str], exp.Expression]) -> exp.Select:
    """Add the plan's LEFT JOINs to ``select`` (a query over the fact model aliased ``m``)."""
    if not plan.joins:
        return select
    # The fact model's expressions were written against its own columns: pin them to m first.
    for key in ("expressions", "where", "group", "having"):
        value = select.args.get(key)
        for node in (value if isinstance(value, list) else [value] if value is not None else []):
            qualify(node, BASE_ALIAS)
    for prefix, alias in plan.aliases.items():
        hop = prefix[-1]
        left = plan.aliases[prefix[:-1]] if len(prefix) > 1 else BASE_ALIAS
        source, target = project.models[hop.source], project.models[hop.target]
        relation = relation_of(target, dialect)
        relation.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        pairs = zip(source.entities[hop.entity].key, target.entities[hop.entity].key)
        on = exp.and_(*[exp.EQ(this=qualify(parse_expression(a, dialect), left),
                               expression=qualify(parse_expression(b, dialect), alias)) for a, b in pairs])
        select = select.join(relation, on=on, join_type="left", copy=False)
    return select
