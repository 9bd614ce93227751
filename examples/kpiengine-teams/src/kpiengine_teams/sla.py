"""An ``sla:`` spec section: service levels a team promises on its KPIs.

It shows how a plugin adds a top-level section to kpiengine's spec without
touching the core: a JSON Schema fragment (``kpi schema`` and editors pick it
up), a build step from the located YAML into typed objects, and semantic
checks whose errors point at ``file:line:column`` like kpiengine's own::

    sla:
      conversion_floor:
        kpi: conversion
        at_least: 15%
        owner: sales-lead@example.com
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable

from kpiengine.errors import Location, SpecIssue
from kpiengine.sections import CheckContext, SpecSection, named_map

_LEVEL = {"type": ["number", "string"], "pattern": r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*%?\s*$",
          "description": "a number, or a percent such as 15%"}


@dataclass(frozen=True)
class ServiceLevel:
    name: str
    kpi: str
    at_least: float | None
    at_most: float | None
    owner: str | None
    location: Location | None


def parse_level(value: Any) -> float:
    """15% -> 0.15, 3 -> 3.0 (the schema already checked the text)."""
    text = str(value).strip()
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


class SlaSection(SpecSection):
    name = "sla"
    item = "service level"
    description = "service levels promised on KPIs (example plugin kpiengine-teams)"
    order = 90  # after the KPIs of every other section (funnel steps included) exist

    def schema(self) -> dict[str, Any]:
        return named_map({
            "type": "object", "required": ["kpi"], "additionalProperties": False,
            "properties": {"kpi": {"type": "string"}, "at_least": _LEVEL, "at_most": _LEVEL,
                           "owner": {"type": "string"}},
        }, "service levels promised on KPIs")

    def build(self, project, value, issues: list[SpecIssue]) -> None:
        levels = {}
        for name, body in (value or {}).items():
            if not isinstance(body, dict) or not isinstance(body.get("kpi"), str):
                continue  # the schema reported it
            try:
                low = parse_level(body["at_least"]) if "at_least" in body else None
                high = parse_level(body["at_most"]) if "at_most" in body else None
            except ValueError:
                continue  # the schema reported it
            levels[name] = ServiceLevel(name, body["kpi"], low, high, body.get("owner"), value.loc_of(name))
        project.parsed[self.name] = levels

    def check(self, project, context: CheckContext) -> Iterable[SpecIssue]:
        raw = project.section(self.name, {})
        for level in project.parsed.get(self.name, {}).values():
            body = raw[level.name]
            if level.kpi not in project.kpis:
                close = difflib.get_close_matches(level.kpi, list(project.kpis), n=1)
                yield SpecIssue(f"service level '{level.name}' promises on unknown KPI '{level.kpi}'",
                                body.loc_of("kpi"), hint=f"did you mean '{close[0]}'?" if close else
                                "name a KPI defined under `kpis:`", code="sla")
            if (level.at_least is None) == (level.at_most is None):
                yield SpecIssue(f"service level '{level.name}' needs exactly one of `at_least:` or `at_most:`",
                                level.location, hint="e.g. at_least: 15%", code="sla")
