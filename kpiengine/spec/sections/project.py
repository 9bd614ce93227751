"""The ``project:`` section: name, time zone, default source, history file."""
from __future__ import annotations

import zoneinfo
from urllib.parse import urlsplit
from typing import Any, Iterable

from ...errors import SpecIssue
from ...sections import SINGLE, CheckContext, SpecSection
from ..located import LDict, expand_env, expand_path, loc_of
from ..dialect import dialect_issues
from ..model import Project
from ..suggest import did_you_mean
from ..typed import well_typed

_text = {"type": "string"}

PROJECT = {
    "type": "object",
    "properties": {
        "name": _text,
        "timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Berlin"},
        "default_source": {"type": "string"},
        "history": {"type": "string", "description": "history store file, relative to the spec folder"},
        "description": _text,
        "sql_dialect": {"type": "string", "default": "duckdb",
                        "description": "the SQL dialect filters, dimension expressions and sql models are written "
                                       "in (a sqlglot name: duckdb, postgres, mysql, sqlite, spark, snowflake, "
                                       "bigquery, trino, tsql...); transpiled to each source's own"},
        "url": {"type": "string", "description": "the dashboard's address (where `kpi serve` is reached, e.g. "
                "https://kpi.example.com or ${KPI_DASHBOARD_URL}): every notification links to its KPI, period "
                "and dimension values there; default: kpi serve's own address, http://127.0.0.1:8765"},
        "allow_model_sql": {"type": "boolean", "default": False,
                            "description": "trust models' `sql:` SELECTs (they run read-only, but are not "
                                           "allow-listed like filters); only for specs the operator reviews"},
    },
    "additionalProperties": False,
}


class ProjectSection(SpecSection):
    name = "project"
    merge = SINGLE
    description = "the project's name, time zone, default source and history file"
    order = 0

    def schema(self) -> dict[str, Any]:
        return PROJECT

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        if not isinstance(value, LDict):
            return
        project.project_loc = loc_of(value)
        fields = well_typed(value, PROJECT["properties"])
        if fields.get("name"):
            project.name = str(fields["name"])
        project.timezone = str(fields.get("timezone") or "UTC")
        project.default_source = fields.get("default_source")
        project.history_path = expand_path(fields.get("history"), issues) or ".kpiengine/history.db"
        project.allow_model_sql = fields.get("allow_model_sql") is True
        project.sql_dialect = str(fields.get("sql_dialect") or "duckdb")
        project.url = str(expand_env(fields["url"], issues)).strip() if fields.get("url") else None
        project.url_loc = value.value_locs.get("url")

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        loc = project.project_loc
        if project.url is not None:
            parts = urlsplit(project.url) if not any(c in project.url for c in " \r\n\t") else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                yield SpecIssue("project url must be an http(s) address such as https://kpi.example.com",
                                project.url_loc or loc, hint="the address where `kpi serve` is reached; notifications link to it",
                                code="project")
        try:
            zoneinfo.ZoneInfo(project.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
            shown = project.timezone if len(project.timezone) <= 60 else project.timezone[:57] + "..."
            yield SpecIssue(f"unknown time zone '{shown}'", loc,
                            hint="use an IANA name such as UTC, Europe/Berlin or Asia/Shanghai", code="timezone")
        yield from dialect_issues(project, context.dialect_of)
        if project.default_source and project.default_source not in project.sources:
            yield SpecIssue(f"default_source '{project.default_source}' is not a defined source", loc,
                            hint=did_you_mean(project.default_source, project.sources) or
                            "define it under `sources:`", code="reference")
