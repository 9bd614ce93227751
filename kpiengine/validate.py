"""Semantic checks a JSON Schema cannot express: references, cycles, SQL safety, dimensions.

Every check appends located :class:`SpecIssue` objects with a hint; nothing
raises, so one ``kpi validate`` reports every mistake at once.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Iterable

import jsonschema

from .errors import Location, SpecIssue
from .formula import FormulaError, parse_formula, references
from .plugins import unknown_type_message
from .spec import KpiSpec, Project
from .sqlsafety import check_expression, check_select
from .yamlsrc import LDict, loc_of


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _field_loc(obj: Any, field: str) -> Location | None:
    raw = getattr(obj, "raw", None)
    if isinstance(raw, LDict):
        return raw.loc_of(field)
    return getattr(obj, "location", None)


def validate_project(project: Project, registry=None) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    if registry is None:
        from .plugins import default_registry

        registry = default_registry()
    _check_project(project, issues)
    _check_sources(project, registry, issues)
    _check_models(project, registry, issues)
    _check_kpis(project, issues)
    issues.extend(_optional_section_checks(project, registry))
    return issues


def _check_project(project: Project, issues: list[SpecIssue]) -> None:
    import zoneinfo

    loc = getattr(project, "project_loc", None)
    try:
        zoneinfo.ZoneInfo(project.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        issues.append(SpecIssue(f"unknown time zone '{project.timezone}'", loc,
                                hint="use an IANA name such as UTC, Europe/Berlin or Asia/Shanghai", code="timezone"))
    if project.default_source and project.default_source not in project.sources:
        issues.append(SpecIssue(f"default_source '{project.default_source}' is not a defined source", loc,
                                hint=did_you_mean(project.default_source, project.sources) or
                                "define it under `sources:`", code="reference"))


def _check_sources(project: Project, registry, issues: list[SpecIssue]) -> None:
    for src in project.sources.values():
        loc = src.location
        if src.type not in registry.source_types:
            issues.append(SpecIssue(unknown_type_message("source", src.type, registry.source_types), loc,
                                    hint="install the plugin that provides it (`kpi plugins` lists what is installed)",
                                    code="plugin"))
            continue
        schema = getattr(registry.source_types[src.type], "options_schema", None) or {"type": "object"}
        for err in jsonschema.Draft202012Validator(schema).iter_errors(dict(src.options)):
            key = err.absolute_path[0] if err.absolute_path else None
            where = src.options.loc_of(key) if isinstance(src.options, LDict) and key is not None else src.location
            msg = err.message
            hint = None
            if err.validator == "additionalProperties":
                extra = sorted(set(err.instance) - set(schema.get("properties", {})))
                if extra and isinstance(src.options, LDict):
                    where = src.options.key_locs.get(extra[0], where)
                msg = f"unknown option '{extra[0] if extra else '?'}' for a {src.type} source"
                hint = (did_you_mean(extra[0], schema.get("properties", {})) if extra else None) or \
                    "allowed: " + ", ".join(schema.get("properties", {}))
            elif err.validator in ("type", "enum") and key in getattr(registry.source_types[src.type], "secret_options", ()):
                msg = f"option '{key}' of source '{src.name}' is invalid ({err.validator})"  # never echo a secret
            issues.append(SpecIssue(f"source '{src.name}': {msg}", where, hint=hint, code="source-options"))


def _check_models(project: Project, registry, issues: list[SpecIssue]) -> None:
    for model in project.models.values():
        if not model.source:
            issues.append(SpecIssue(f"model '{model.name}' has no source and the project has no default_source",
                                    model.location, hint="add `source: NAME` or `project: {default_source: NAME}`",
                                    code="reference"))
            continue
        if model.source not in project.sources:
            issues.append(SpecIssue(f"model '{model.name}' uses unknown source '{model.source}'",
                                    _field_loc(model, "source"),
                                    hint=did_you_mean(model.source, project.sources) or "define it under `sources:`",
                                    code="reference"))
            continue
        src = project.sources[model.source]
        src_cls = registry.source_types.get(src.type)
        dialect = getattr(src_cls, "dialect", None) or "duckdb"
        if model.file and src_cls is not None and not getattr(src_cls, "supports_files", False):
            issues.append(SpecIssue(f"model '{model.name}' reads a file but source '{src.name}' ({src.type}) "
                                    "cannot read files", _field_loc(model, "file"),
                                    hint="use a duckdb source for CSV/Parquet files", code="model"))
        if model.file and not model.file.lower().endswith((".csv", ".parquet", ".csv.gz", ".tsv", ".pq")):
            issues.append(SpecIssue(f"model '{model.name}': file must be .csv, .tsv or .parquet",
                                    _field_loc(model, "file"), code="model"))
        if model.sql is not None:
            for problem in check_select(model.sql, dialect):
                issues.append(SpecIssue(f"model '{model.name}': {problem}", _field_loc(model, "sql"),
                                        hint="a model's sql is one read-only SELECT without ';'", code="unsafe-sql"))
        if model.table is not None:
            parts = str(model.table).split(".")
            if not all(p and p.replace("_", "").replace("$", "").isalnum() for p in parts) or len(parts) > 3:
                issues.append(SpecIssue(f"model '{model.name}': invalid table name {model.table!r}",
                                        _field_loc(model, "table"),
                                        hint="write schema.table with letters, digits and _; use sql: for anything else",
                                        code="model"))
        for field, text in [("time", model.time), ("entity", model.entity)] + \
                [(f"dimensions.{k}", v) for k, v in model.dimensions.items()]:
            if text is None:
                continue
            for problem in check_expression(str(text), dialect, what=field):
                loc = _field_loc(model, field.split(".")[0])
                if field.startswith("dimensions.") and isinstance(getattr(model, "raw", None), LDict):
                    dims = model.raw.get("dimensions")
                    if isinstance(dims, LDict):
                        loc = dims.loc_of(field.split(".", 1)[1])
                issues.append(SpecIssue(f"model '{model.name}' {field}: {problem}", loc,
                                        hint="a column name or one row-level SQL expression", code="unsafe-sql"))
        if model.time_format and "%" not in model.time_format:
            issues.append(SpecIssue(f"model '{model.name}': time_format {model.time_format!r} has no % directives",
                                    _field_loc(model, "time_format"), hint="e.g. %d-%m-%Y for 31-01-2026",
                                    code="model"))


def _check_kpis(project: Project, issues: list[SpecIssue]) -> None:
    parsed: dict[str, list[str]] = {}
    for kpi in project.kpis.values():
        if kpi.process and kpi.process not in project.process:
            issues.append(SpecIssue(f"KPI '{kpi.name}' is attached to unknown process node '{kpi.process}'",
                                    _field_loc(kpi, "process"),
                                    hint=did_you_mean(kpi.process, project.process) or "define it under `process:`",
                                    code="reference"))
        if kpi.is_formula:
            try:
                tree = parse_formula(kpi.formula)
            except FormulaError as exc:
                issues.append(SpecIssue(f"KPI '{kpi.name}': {exc}", _field_loc(kpi, "formula"), hint=exc.hint,
                                        code="formula"))
                continue
            refs = references(tree)
            parsed[kpi.name] = refs
            for ref in refs:
                if ref not in project.kpis:
                    issues.append(SpecIssue(f"unknown KPI '{ref}' in the formula of '{kpi.name}'",
                                            _field_loc(kpi, "formula"),
                                            hint=did_you_mean(ref, project.kpis) or
                                            "define it under `kpis:` or fix the name", code="reference"))
            continue
        if kpi.model is None:
            continue
        if kpi.model not in project.models:
            issues.append(SpecIssue(f"KPI '{kpi.name}' reads unknown model '{kpi.model}'", _field_loc(kpi, "model"),
                                    hint=did_you_mean(kpi.model, project.models) or "define it under `models:`",
                                    code="reference"))
            continue
        model = project.models[kpi.model]
        src = project.sources.get(model.source)
        dialect = _dialect_of(src)
        if kpi.aggregate not in (None, "count") and not kpi.column:
            issues.append(SpecIssue(f"KPI '{kpi.name}': aggregate '{kpi.aggregate}' needs `column:`",
                                    _field_loc(kpi, "aggregate"), hint="name the column (or expression) to aggregate",
                                    code="kpi"))
        if kpi.aggregate == "percentile" and kpi.percentile is None:
            issues.append(SpecIssue(f"KPI '{kpi.name}': aggregate 'percentile' needs `percentile:` (0 < p < 1)",
                                    _field_loc(kpi, "aggregate"), hint="e.g. percentile: 0.9", code="kpi"))
        if kpi.percentile is not None and kpi.aggregate != "percentile":
            issues.append(SpecIssue(f"KPI '{kpi.name}': `percentile:` only applies to aggregate: percentile",
                                    _field_loc(kpi, "percentile"), code="kpi"))
        for field in ("column", "filter"):
            text = getattr(kpi, field)
            if text is None:
                continue
            for problem in check_expression(str(text), dialect, what=field):
                issues.append(SpecIssue(f"KPI '{kpi.name}' {field}: {problem}", _field_loc(kpi, field),
                                        hint="one row-level SQL expression over the model's columns, e.g. "
                                             "stage = 'won' AND amount > 0", code="unsafe-sql"))
    _check_cycles(project, parsed, issues)
    _check_dimensions(project, issues)


def _dialect_of(src) -> str:
    if src is None:
        return "duckdb"
    from .plugins import default_registry

    cls = default_registry().source_types.get(src.type)
    return getattr(cls, "dialect", None) or "duckdb"


def _check_cycles(project: Project, graph: dict[str, list[str]], issues: list[SpecIssue]) -> None:
    WHITE, GREY, BLACK = 0, 1, 2
    color = {k: WHITE for k in graph}
    reported: set[frozenset] = set()

    def visit(node: str, stack: list[str]) -> None:
        color[node] = GREY
        stack.append(node)
        for ref in graph.get(node, []):
            if ref not in graph:
                continue
            if color[ref] == GREY:
                cycle = stack[stack.index(ref):] + [ref]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    kpi = project.kpis[ref]
                    issues.append(SpecIssue(f"formula cycle: {' -> '.join(cycle)}", _field_loc(kpi, "formula"),
                                            hint="a KPI cannot depend on itself; break the cycle with an aggregate KPI",
                                            code="cycle"))
            elif color[ref] == WHITE:
                visit(ref, stack)
        stack.pop()
        color[node] = BLACK

    for name in graph:
        if color[name] == WHITE:
            visit(name, [])


def leaf_models(project: Project, kpi_name: str, _seen: frozenset = frozenset()) -> set[str]:
    """Models an aggregate or formula KPI ultimately reads."""
    kpi = project.kpis.get(kpi_name)
    if kpi is None or kpi_name in _seen:
        return set()
    if not kpi.is_formula:
        return {kpi.model} if kpi.model else set()
    try:
        refs = references(parse_formula(kpi.formula))
    except FormulaError:
        return set()
    out: set[str] = set()
    for ref in refs:
        out |= leaf_models(project, ref, _seen | {kpi_name})
    return out


def available_dimensions(project: Project, kpi_name: str) -> set[str]:
    """Dimensions every model of a KPI has: the breakdowns it supports."""
    models = [project.models[m] for m in leaf_models(project, kpi_name) if m in project.models]
    if not models:
        return set()
    dims = set(models[0].dimensions)
    for m in models[1:]:
        dims &= set(m.dimensions)
    return dims


def check_breakdown(project: Project, kpi_names: Iterable[str], by: Iterable[str]) -> list[SpecIssue]:
    """Issues for breaking ``kpi_names`` down by ``by`` (used by validate, run and rules)."""
    issues = []
    for name in kpi_names:
        missing = [d for d in by if d not in available_dimensions(project, name)]
        for dim in missing:
            lacking = sorted(m for m in leaf_models(project, name)
                             if m in project.models and dim not in project.models[m].dimensions)
            kpi = project.kpis[name]
            issues.append(SpecIssue(
                f"KPI '{name}' cannot be broken down by '{dim}': model(s) {', '.join(lacking)} have no such dimension",
                _field_loc(kpi, "dimensions") if kpi.dimensions else kpi.location,
                hint=(did_you_mean(dim, available_dimensions(project, name)) or "") +
                f" available for '{name}': {', '.join(sorted(available_dimensions(project, name))) or 'none'}",
                code="dimension"))
    return issues


def _check_dimensions(project: Project, issues: list[SpecIssue]) -> None:
    for kpi in project.kpis.values():
        if kpi.dimensions:
            issues.extend(check_breakdown(project, [kpi.name], kpi.dimensions))


def _optional_section_checks(project: Project, registry) -> list[SpecIssue]:
    """Sections owned by other modules validate themselves: funnels first, then alerting.

    A valid funnel's outputs become KPIs (``<funnel>_<step>``, ``..._rate``) before
    the alerting rules are checked, so a rule may watch a funnel step.
    """
    out: list[SpecIssue] = []
    funnel_issues: list[SpecIssue] = []
    try:
        funnels = importlib.import_module("kpiengine.funnels")
    except ImportError:
        funnels = None
    if funnels is not None and project.funnels:
        funnel_issues = _guarded("kpiengine.funnels", lambda: funnels.validate_funnels(project))
        out.extend(funnel_issues)
        if not funnel_issues and not any(i.code != "internal" for i in out):
            def dialect_of(source: str) -> str:
                spec = project.sources.get(source)
                cls = registry.source_types.get(spec.type) if spec else None
                return getattr(cls, "dialect", None) or "duckdb"

            out.extend(_guarded("kpiengine.funnels", lambda: funnels.attach_funnels(project, dialect_of) or []))
    try:
        alerting = importlib.import_module("kpiengine.alerting.rules")
    except ImportError:
        alerting = None
    if alerting is not None and hasattr(alerting, "validate_alerting"):
        out.extend(_guarded("kpiengine.alerting.rules", lambda: alerting.validate_alerting(project, None)))
    return out


def _guarded(module: str, fn) -> list[SpecIssue]:
    try:
        return list(fn())
    except Exception as exc:  # a bug there must not hide the other findings
        return [SpecIssue(f"internal error while checking {module}: {exc!r}", code="internal")]
