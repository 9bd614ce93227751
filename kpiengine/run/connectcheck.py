"""``kpi validate --connect``: do the models' tables and columns exist in the warehouse?"""
from __future__ import annotations

from sqlglot import exp

from ..errors import SourceError, SpecIssue
from ..spec.sqlsafety import parse_expression
from .engine import Engine


def _columns_used(text: str | None, dialect: str) -> set[str]:
    if not text:
        return set()
    return {c.name.lower() for c in parse_expression(str(text), dialect).find_all(exp.Column)}


def check_connections(project, registry=None) -> list[SpecIssue]:
    engine = Engine(project, registry)
    issues: list[SpecIssue] = []
    by_source: dict[str, list] = {}
    for model in project.models.values():
        if model.table:
            by_source.setdefault(model.source, []).append(model)
    for source_name, models in by_source.items():
        source = engine.open_source(source_name)
        try:
            dialect = source.dialect_for()
            source.connect()
            for model in models:
                columns = source.table_columns(str(model.table))
                if columns is None:
                    issues.append(SpecIssue(f"model '{model.name}': table '{model.table}' not found in source "
                                            f"'{source_name}'", model.location,
                                            hint="check the table name and schema, and the source's database",
                                            code="connect"))
                    continue
                have = {c.lower() for c in columns}
                used = {"time": _columns_used(model.time, dialect), "entity": _columns_used(model.entity, dialect)}
                for dim, text in model.dimensions.items():
                    used[f"dimension {dim}"] = _columns_used(text, dialect)
                for kpi in project.kpis.values():
                    if kpi.model == model.name:
                        used[f"KPI {kpi.name}"] = _columns_used(kpi.column, dialect) | \
                            _columns_used(kpi.filter, dialect)
                for where, cols in used.items():
                    for col in sorted(cols - have):
                        issues.append(SpecIssue(
                            f"model '{model.name}' {where}: column '{col}' does not exist in '{model.table}'",
                            model.location, hint=f"columns: {', '.join(sorted(have))}", code="connect"))
        except SourceError as exc:
            issues.append(SpecIssue(exc.detail, project.sources[source_name].location, hint=exc.hint,
                                    code="connect"))
        finally:
            source.close()
    return issues
