"""The ``checks:`` section: data checks declared next to the models, run by ``kpi check`` like any rule.

The checks Soda and dbt tests make, on the data a KPI is computed from::

    checks:
      orders:                                    # a model
        - {type: volume, min_ratio: 50%, days: 14}   # rows of the judged day vs the median of the days before
        - {type: nulls, column: region, max_share: 5%}
        - {type: unique, column: order_id}           # duplicate keys (over the whole model)
        - {type: range, column: amount, min: 0, max: 100000}
        - {type: required, dimension: region, values: [east, west]}
        - {type: unique, column: order_id, severity: critical, name: ids}

Each check becomes a rule (``kpiengine.alerting.model_rules``): its measure is
judged on the model's last complete day, and it is routed like any alert. A
``critical`` check that fails marks every KPI computed from the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ...errors import Location, SpecIssue
from ...sections import CheckContext, SpecSection, named_map
from ..located import LDict, LList
from ..model import Project
from ..sqlsafety import check_expression
from ..suggest import did_you_mean

CHECK_TYPES = ("volume", "nulls", "unique", "range", "required")
SEVERITIES = ("info", "warning", "critical")

_share = {"type": ["number", "string"], "description": "a fraction (0.05) or a percent (5%)"}
CHECK = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": list(CHECK_TYPES)},
        "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "column": {"type": "string", "description": "nulls, unique, range: the column or expression checked"},
        "dimension": {"type": "string", "description": "required: the model's dimension"},
        "values": {"type": "array", "items": {"type": ["string", "number", "boolean"]},
                   "description": "required: the values the judged day must have"},
        "min": {"type": "number"}, "max": {"type": "number"},
        "max_share": _share,
        "min_ratio": _share,
        "days": {"type": "integer", "minimum": 3, "maximum": 366, "description": "volume: days of history"},
        "severity": {"enum": list(SEVERITIES), "default": "warning"},
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}
_NEEDS = {"nulls": ("column",), "unique": ("column",), "range": ("column",), "required": ("dimension", "values"),
          "volume": ()}


@dataclass
class DataCheck:
    model: str
    name: str
    type: str
    column: str | None = None
    dimension: str | None = None
    values: list[Any] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    max_share: float = 0.0
    min_ratio: float = 0.5
    days: int = 14
    severity: str = "warning"
    description: str = ""
    location: Location | None = None

    @property
    def label(self) -> str:
        what = self.column or self.dimension or "rows"
        return f"{self.model}: {self.type} of {what}"


def _share_value(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _severity(value: Any) -> str:
    return value if isinstance(value, str) and value in SEVERITIES else "warning"


def parse_checks(value: Any, issues: list[SpecIssue] | None = None) -> dict[str, list[DataCheck]]:
    """model -> its checks; malformed entries are skipped (the schema and :meth:`ChecksSection.check` say why)."""
    out: dict[str, list[DataCheck]] = {}
    if not isinstance(value, dict):  # the schema reports a section that is not a mapping
        return out
    for model, items in value.items():
        if not isinstance(items, list):
            continue
        seen: set[str] = set()
        for i, node in enumerate(items):
            if not isinstance(node, dict) or not isinstance(node.get("type"), str) or node["type"] not in CHECK_TYPES:
                continue
            loc = items.loc_of(i) if isinstance(items, LList) else None
            name = str(node.get("name") or "_".join(str(x) for x in (node["type"], node.get("column") or
                                                                       node.get("dimension")) if x))
            if name in seen:
                if issues is not None:
                    issues.append(SpecIssue(f"checks of model '{model}': check name '{name}' is used twice", loc,
                                            hint="give one of them `name: ...`", code="checks"))
                continue
            seen.add(name)
            check = DataCheck(model=str(model), name=name, type=node["type"], location=loc,
                              column=_text(node.get("column")), dimension=_text(node.get("dimension")),
                              values=list(node["values"]) if isinstance(node.get("values"), list) else [],
                              severity=_severity(node.get("severity")),
                              description=str(node.get("description", "")))
            for key in ("min", "max"):
                if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
                    setattr(check, key, float(node[key]))
            for key in ("max_share", "min_ratio"):
                if key in node and _share_value(node[key]) is not None:
                    setattr(check, key, _share_value(node[key]))
            if isinstance(node.get("days"), int) and not isinstance(node.get("days"), bool):
                check.days = node["days"]
            out.setdefault(str(model), []).append(check)
    return out


class ChecksSection(SpecSection):
    name = "checks"
    item = "model's checks"
    description = "data checks per model: volume, nulls, unique keys, value ranges, required values"
    order = 25  # after models, before the alert rules they become

    def schema(self) -> dict[str, Any]:
        return named_map({"type": "array", "items": CHECK}, "model name -> its data checks")

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        project.parsed[self.name] = parse_checks(value, issues)

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        raw = project.section(self.name, {})
        if not isinstance(raw, dict):  # reported by the schema
            return
        for model, items in raw.items():
            where = (raw.key_locs.get(model) or raw.loc_of(model)) if isinstance(raw, LDict) else None
            spec = project.models.get(model)
            if spec is None:
                yield SpecIssue(f"checks for unknown model '{model}'", where, code="checks",
                                hint=did_you_mean(model, project.models) or "checks are keyed by a model name")
                continue
            if not isinstance(items, list):
                continue
            dialect = _dialect(project, spec.source, context)
            for i, node in enumerate(items):
                if not isinstance(node, dict):
                    continue
                loc = items.loc_of(i) if isinstance(items, LList) else where
                yield from _check_issues(model, spec, node, loc, dialect)


def _dialect(project: Project, source: str, context: CheckContext) -> str:
    try:
        return context.dialect_of(source)
    except Exception:  # an unknown source is reported by the models section
        return "duckdb"


def _check_issues(model: str, spec, node: dict, loc, dialect: str) -> Iterable[SpecIssue]:
    kind = node.get("type")
    if not isinstance(kind, str) or kind not in CHECK_TYPES:  # the schema names the allowed types
        return
    where = f"check {kind!r} of model '{model}'"
    for key in _NEEDS.get(kind, ()):
        if key not in node:
            yield SpecIssue(f"{where} needs `{key}:`", loc, code="checks",
                            hint={"column": "the column checked, e.g. `column: order_id`",
                                  "dimension": "one of the model's dimensions",
                                  "values": "e.g. `values: [east, west]`"}[key])
    if kind == "range" and node.get("min") is None and node.get("max") is None:
        yield SpecIssue(f"{where} needs `min:`, `max:` or both", loc, code="checks", hint="e.g. `min: 0`")
    for key in ("max_share", "min_ratio"):
        if key in node and (_share_value(node[key]) is None or not 0 <= _share_value(node[key]) <= 1):
            yield SpecIssue(f"{where}: `{key}` must be a share between 0 and 100% (got {node[key]!r})", loc,
                            code="checks", hint="e.g. 5% or 0.05")
    if isinstance(node.get("dimension"), str) and node["dimension"] not in spec.dimensions:
        yield SpecIssue(f"{where}: model '{model}' has no dimension '{node['dimension']}'", loc, code="checks",
                        hint=did_you_mean(str(node["dimension"]), spec.dimensions)
                        or f"dimensions: {', '.join(spec.dimensions) or 'none'}")
    if isinstance(node.get("column"), str):
        for problem in check_expression(node["column"], dialect, what="column"):
            yield SpecIssue(f"{where} column: {problem}", loc, code="unsafe-sql",
                            hint="a column name or one row-level SQL expression")
