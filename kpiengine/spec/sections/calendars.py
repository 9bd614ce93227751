"""The ``calendars:`` section: custom grains (fiscal quarters, 4-4-5 weeks) from a calendar table.

See :mod:`kpiengine.spec.calendars` for what a calendar is and how a request uses it.
"""
from __future__ import annotations

from typing import Any, Iterable

from ...errors import SpecIssue
from ...sections import CheckContext, SpecSection, named_map
from ..calendars import calendar_issues, parse_calendars
from ..model import Project

CALENDAR = {
    "type": "object",
    "required": ["model", "periods"],
    "properties": {
        "model": {"type": "string", "description": "the model with one row per day"},
        "date": {"type": "string", "description": "its day column (default `date`)"},
        "periods": {"type": "object", "minProperties": 1,
                    "propertyNames": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                    "additionalProperties": {"type": "string"},
                    "description": "custom grain -> the column holding the first day of that day's period"},
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}


class CalendarsSection(SpecSection):
    name = "calendars"
    description = "custom calendars: grains such as fiscal_quarter from a table of days"
    order = 22  # after models (it names one), before the KPIs and rules that may ask for its grains

    def schema(self) -> dict[str, Any]:
        return named_map(CALENDAR, "calendar name -> its model, day column and custom grains")

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        project.parsed[self.name] = parse_calendars(value)

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        return calendar_issues(project, context.dialect_of)
