"""The ``kpis:`` section: aggregates over a model, and formulas over other KPIs."""
from __future__ import annotations

import math
from typing import Any, Iterable

from ...errors import SpecIssue
from ...sections import CheckContext, SpecSection, named_map
from ..dimensions import available_dimensions, check_breakdown
from ..formula import FormulaError, parse_formula, references
from ..lifecycle import (
    PERIOD_KEY,
    REVIEW_SCHEMA,
    STATUSES,
    TARGETS_SCHEMA,
    lifecycle_issues,
    parse_number,
    parse_review,
    parse_targets,
)
from ..located import field_loc
from ..model import AGGREGATES, DIRECTIONS, UNITS, KpiSpec, Project
from ..offsets import window_issues
from ..sqlsafety import check_expression
from ..suggest import did_you_mean
from ..typed import well_typed

_text = {"type": "string"}

KPI = {
    "type": "object",
    "required": ["label"],
    "properties": {
        "label": _text,
        "description": _text,
        "owner": _text,
        "unit": {"enum": list(UNITS)},
        "direction": {"enum": list(DIRECTIONS)},
        "playbook": _text,
        "process": {"type": "string"},
        "model": {"type": "string"},
        "aggregate": {"enum": list(AGGREGATES)},
        "column": {"type": "string"},
        "percentile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "filter": {"type": "string"},
        "window": {"type": "string", "description": "rolling or cumulative aggregate: 28d, 4 periods, "
                   "cumulative, wtd, mtd, qtd, ytd"},
        "fill": {"enum": ["zero", "null"], "description": "periods without rows: 0 for counts and sums (zero) or null"},
        "formula": {"type": "string"},
        "format": _text,
        "target": {"description": "a number, a percent such as 5%, or {dimension: {value: number or percent}}"},
        "dimensions": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "status": {"enum": list(STATUSES)},
        "since": {"description": "the day the current status began, YYYY-MM-DD (YAML may read it as a date)"},
        "targets": TARGETS_SCHEMA,
        "review": REVIEW_SCHEMA,
    },
    "oneOf": [{"required": ["model", "aggregate"]}, {"required": ["formula"]}],
    "additionalProperties": False,
}

_FIELDS = set(KpiSpec.__dataclass_fields__) - {"name", "location", "raw"}


class KpisSection(SpecSection):
    name = "kpis"
    item = "KPI"
    description = "key indicators: aggregates over a model, or formulas over other KPIs"
    order = 30

    def schema(self) -> dict[str, Any]:
        return named_map(KPI)

    def describe_schema_error(self, error: Any, where: str) -> tuple[str, str | None] | None:
        if error.validator == "pattern" and error.validator_value == PERIOD_KEY:
            return (f"{where}: {error.instance!r} is not a period",
                    "a target is set for one period: 2026, 2026-Q4, 2026-10, 2026-W43 or 2026-10-05")
        if error.validator == "oneOf" and "formula" in error.schema.get("properties", {}):
            return (f"KPI {where} must have either `formula:` or both `model:` and `aggregate:` (not both kinds)",
                    "an aggregate KPI reads a model; a formula KPI combines other KPIs")
        return None

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        for name, body in (value or {}).items():
            if not isinstance(body, dict):
                continue
            if not isinstance(name, str):
                continue  # the schema says a name is text
            kwargs = {k: v for k, v in well_typed(body, KPI["properties"]).items() if k in _FIELDS}
            kwargs.setdefault("label", name)
            for listy in ("dimensions", "tags"):
                if not isinstance(kwargs.get(listy, []), list):
                    kwargs[listy] = []
            kwargs["targets"] = parse_targets(body.get("targets"), name)[0]  # checks report the rest
            if "target" in body:  # `5%` means 0.05 here as in rules; a bad one is reported by check()
                kwargs["target"] = parse_kpi_target(body["target"])[0]
            kwargs["review"] = parse_review(body.get("review"), name)[0]
            if kwargs.get("status") not in STATUSES:
                kwargs.pop("status", None)  # the schema reports it
            project.kpis[name] = KpiSpec(name=name, location=value.key_locs.get(name), raw=body, **kwargs)

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        graph: dict[str, list[str]] = {}
        for kpi in project.kpis.values():
            yield from _kpi_issues(project, kpi, context, graph)
        yield from _cycle_issues(project, graph)
        for kpi in project.kpis.values():
            if kpi.dimensions:
                yield from check_breakdown(project, [kpi.name], kpi.dimensions)
            resolved = kpi.name in graph or kpi.model in project.models  # else its dimensions are unknown
            yield from lifecycle_issues(kpi, available_dimensions(project, kpi.name) if resolved else None)


def parse_kpi_target(raw: Any) -> tuple[Any, str | None]:
    """A KPI's ``target:`` as numbers (a percent such as ``5%`` is 0.05, as in rule thresholds):
    one number, or ``{dimension: {value: number}}``; (None, why) when it is neither."""
    def number(v: Any) -> float:
        x = parse_number(v)
        if not math.isfinite(x):
            raise ValueError(f"{v!r} is not a finite number")
        return x

    if isinstance(raw, dict):
        if len(raw) != 1 or not isinstance(next(iter(raw.values())), dict):
            return None, "a per-dimension target names one dimension: {region: {east: 20%, west: 18%}}"
        (dim, per_value), = raw.items()
        out = {}
        for k, v in per_value.items():
            try:
                out[str(k)] = number(v)
            except (TypeError, ValueError):
                return None, f"the target for {dim}={k} must be a number or a percent such as 5% (got {v!r})"
        return {str(dim): out}, None
    try:
        return number(raw), None
    except (TypeError, ValueError):
        return None, f"`target` must be a number or a percent such as 5% (got {raw!r})"


def _kpi_issues(project: Project, kpi: KpiSpec, context: CheckContext, graph: dict[str, list[str]]
                ) -> Iterable[SpecIssue]:
    raw = kpi.raw.get("target") if isinstance(kpi.raw, dict) else None
    if raw is not None:
        problem = parse_kpi_target(raw)[1]
        if problem:
            yield SpecIssue(f"KPI '{kpi.name}': {problem}", field_loc(kpi, "target"),
                            hint="e.g. `target: 0.05`, `target: 5%` or `target: {region: {east: 20%}}`",
                            code="target")
    if kpi.process and kpi.process not in project.process:
        yield SpecIssue(f"KPI '{kpi.name}' is attached to unknown process node '{kpi.process}'",
                        field_loc(kpi, "process"),
                        hint=did_you_mean(kpi.process, project.process) or "define it under `process:`",
                        code="reference")
    yield from window_issues(kpi)
    if kpi.is_formula:
        try:
            tree = parse_formula(kpi.formula)
        except FormulaError as exc:
            yield SpecIssue(f"KPI '{kpi.name}': {exc}", field_loc(kpi, "formula"), hint=exc.hint, code="formula")
            return
        graph[kpi.name] = refs = references(tree)
        for ref in refs:
            if ref not in project.kpis:
                yield SpecIssue(f"unknown KPI '{ref}' in the formula of '{kpi.name}'", field_loc(kpi, "formula"),
                                hint=did_you_mean(ref, project.kpis) or "define it under `kpis:` or fix the name",
                                code="reference")
        return
    if kpi.model is None:
        return
    if kpi.model not in project.models:
        yield SpecIssue(f"KPI '{kpi.name}' reads unknown model '{kpi.model}'", field_loc(kpi, "model"),
                        hint=did_you_mean(kpi.model, project.models) or "define it under `models:`",
                        code="reference")
        return
    if not project.models[kpi.model].time:
        yield SpecIssue(f"KPI '{kpi.name}' reads model '{kpi.model}', which has no `time:`", field_loc(kpi, "model"),
                        hint="a KPI counts events per period: give the model its event time column; a table "
                             "without one is a dimension table, reached from other models through `entities:`",
                        code="kpi")
    dialect = context.dialect_of(project.models[kpi.model].source)
    if kpi.aggregate not in (None, "count") and not kpi.column:
        yield SpecIssue(f"KPI '{kpi.name}': aggregate '{kpi.aggregate}' needs `column:`", field_loc(kpi, "aggregate"),
                        hint="name the column (or expression) to aggregate", code="kpi")
    if kpi.aggregate in ("percentile", "percentile_disc") and kpi.percentile is None:
        yield SpecIssue(f"KPI '{kpi.name}': aggregate '{kpi.aggregate}' needs `percentile:` (0 < p < 1)",
                        field_loc(kpi, "aggregate"), hint="e.g. percentile: 0.9", code="kpi")
    if kpi.percentile is not None and kpi.aggregate not in ("percentile", "percentile_disc"):
        yield SpecIssue(f"KPI '{kpi.name}': `percentile:` only applies to aggregate: percentile or percentile_disc",
                        field_loc(kpi, "percentile"), code="kpi")
    for field in ("column", "filter"):
        text = getattr(kpi, field)
        if text is None:
            continue
        for problem in check_expression(str(text), dialect, what=field):
            yield SpecIssue(f"KPI '{kpi.name}' {field}: {problem}", field_loc(kpi, field),
                            hint="one row-level SQL expression over the model's columns, e.g. "
                                 "stage = 'won' AND amount > 0", code="unsafe-sql")


def _cycle_issues(project: Project, graph: dict[str, list[str]]) -> Iterable[SpecIssue]:
    WHITE, GREY, BLACK = 0, 1, 2
    color = {k: WHITE for k in graph}
    reported: set[frozenset] = set()
    found: list[SpecIssue] = []

    def visit(node: str, stack: list[str]) -> None:
        color[node] = GREY
        stack.append(node)
        for ref in graph.get(node, []):
            if ref not in graph:
                continue
            if color[ref] == GREY:
                cycle = stack[stack.index(ref):] + [ref]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    found.append(SpecIssue(f"formula cycle: {' -> '.join(cycle)}",
                                           field_loc(project.kpis[ref], "formula"),
                                           hint="a KPI cannot depend on itself; break the cycle with an aggregate KPI",
                                           code="cycle"))
            elif color[ref] == WHITE:
                visit(ref, stack)
        stack.pop()
        color[node] = BLACK

    for name in graph:
        if color[name] == WHITE:
            visit(name, [])
    return found
