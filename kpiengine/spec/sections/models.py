"""The ``models:`` section: tables, SELECTs and files of a warehouse, with their time column and dimensions."""
from __future__ import annotations

from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...errors import SpecIssue
from ...sections import NAME_PATTERN, CheckContext, SpecSection, named_map
from ..durations import parse_seconds
from ..entities import ENTITIES_SCHEMA, entity_issues, parse_entities
from ..located import LDict, expand_path, field_loc
from ..model import ModelSpec, Project
from ..sqlsafety import check_expression, check_select
from ..suggest import did_you_mean
from ..typed import well_typed

MODEL = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "table": {"type": "string", "description": "table name, optionally schema-qualified"},
        "sql": {"type": "string", "description": "one read-only SELECT"},
        "file": {"type": "string", "description": "CSV or Parquet file (DuckDB sources)"},
        "time": {"type": "string", "description": "column or expression with the event time"},
        "time_format": {"type": "string", "description": "strptime format when the time is text, e.g. %d-%m-%Y"},
        "entity": {"type": "string"},
        "entities": ENTITIES_SCHEMA,
        "description": {"type": "string"},
        "freshness": {"type": "string", "description": "column or expression whose maximum is how far the data "
                      "reaches (a loaded-at column), or one trusted SELECT returning it; default: the time"},
        "max_delay": {"type": ["string", "number"], "description": "how far the data may lag behind now before "
                      "the model is stale: 30m, 6h, 1d, 1w (or seconds)"},
        "time_zone": {"type": "string", "description": "IANA zone of naive timestamps (default UTC), e.g. "
                      "Europe/Berlin for a local-time export"},
        "local_date": {"type": "boolean", "description": "the time column is a calendar date in the project "
                       "time zone: never moved across midnight"},
        "dimensions": {"type": "object", "propertyNames": {"type": "string", "pattern": NAME_PATTERN},
                       "additionalProperties": {"type": "string"}},
    },
    "oneOf": [{"required": ["table"]}, {"required": ["sql"]}, {"required": ["file"]}],
    "additionalProperties": False,
}

_FILE_SUFFIXES = (".csv", ".parquet", ".csv.gz", ".tsv", ".pq")


class ModelsSection(SpecSection):
    name = "models"
    description = "warehouse tables, SELECTs or files with their event time and dimensions"
    order = 20

    def schema(self) -> dict[str, Any]:
        return named_map(MODEL)

    def describe_schema_error(self, error: Any, where: str) -> tuple[str, str | None] | None:
        if error.validator == "oneOf" and "table" in error.schema.get("properties", {}):
            return (f"model {where} must have exactly one of `table:`, `sql:` or `file:`",
                    "use table for a warehouse table, sql for one SELECT, file for CSV/Parquet")
        return None

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        for name, body in (value or {}).items():
            if not isinstance(body, dict) or not isinstance(name, str):
                continue
            fields = well_typed(body, MODEL["properties"])
            default_source = project.default_source if isinstance(project.default_source, str) else None
            project.models[name] = ModelSpec(
                name=name, source=fields.get("source") or default_source or "", table=fields.get("table"),
                sql=fields.get("sql"), file=expand_path(fields.get("file"), issues), time=fields.get("time") or "",
                time_format=fields.get("time_format"), entity=fields.get("entity"),
                dimensions=dict(fields.get("dimensions") or {}), description=fields.get("description") or "",
                freshness=fields.get("freshness"), max_delay=_delay(fields.get("max_delay")),
                time_zone=fields.get("time_zone"), local_date=bool(fields.get("local_date", False)),
                location=value.key_locs.get(name), raw=body,
                entities=parse_entities(fields.get("entities"), issues))

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        for model in project.models.values():
            yield from _model_issues(project, model, context)
        yield from entity_issues(project, lambda m: _dialect(project, m, context))


def _dialect(project: Project, model: ModelSpec, context: CheckContext) -> str:
    src = project.sources.get(model.source)
    src_cls = context.registry.source_types.get(src.type) if src else None
    return getattr(src_cls, "dialect", None) or "duckdb"


def _delay(value: Any) -> float | None:
    try:
        return None if value is None else parse_seconds(value)
    except ValueError:  # reported by the check with its location
        return None


def _trust_issues(project: Project, model: ModelSpec, dialect: str) -> Iterable[SpecIssue]:
    """``max_delay``, ``time_zone`` and ``freshness``: how far the data reaches and how it is read."""
    raw = model.raw if isinstance(model.raw, LDict) else {}
    if raw.get("max_delay") is not None and model.max_delay is None:
        yield SpecIssue(f"model '{model.name}': max_delay {raw.get('max_delay')!r} is not a duration",
                        field_loc(model, "max_delay"), hint="write e.g. `max_delay: 1d` (s, m, h, d, w)", code="model")
    if model.time_zone:
        try:
            ZoneInfo(model.time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
            yield SpecIssue(f"model '{model.name}': unknown time zone {model.time_zone!r}",
                            field_loc(model, "time_zone"), hint="an IANA zone such as Europe/Berlin or UTC",
                            code="model")
        if model.local_date:
            yield SpecIssue(f"model '{model.name}': give either time_zone or local_date, not both",
                            field_loc(model, "local_date"), code="model")
    if model.freshness:
        if model.freshness.lstrip()[:6].lower() == "select":
            if not project.allow_model_sql:
                yield SpecIssue(f"model '{model.name}': a freshness query is trusted SQL, which this project "
                                "does not allow", field_loc(model, "freshness"),
                                hint="set `project: {allow_model_sql: true}`, or name a loaded-at column",
                                code="trust")
            else:
                for problem in check_select(model.freshness, dialect):
                    yield SpecIssue(f"model '{model.name}' freshness: {problem}", field_loc(model, "freshness"),
                                    hint="one read-only SELECT returning one timestamp", code="unsafe-sql")
        else:
            for problem in check_expression(model.freshness, dialect, what="freshness"):
                yield SpecIssue(f"model '{model.name}' freshness: {problem}", field_loc(model, "freshness"),
                                hint="a column name (loaded_at) or one row-level SQL expression",
                                code="unsafe-sql")


def _model_issues(project: Project, model: ModelSpec, context: CheckContext) -> Iterable[SpecIssue]:
    if not model.source:
        yield SpecIssue(f"model '{model.name}' has no source and the project has no default_source",
                        model.location, hint="add `source: NAME` or `project: {default_source: NAME}`",
                        code="reference")
        return
    if model.source not in project.sources:
        yield SpecIssue(f"model '{model.name}' uses unknown source '{model.source}'", field_loc(model, "source"),
                        hint=did_you_mean(model.source, project.sources) or "define it under `sources:`",
                        code="reference")
        return
    src = project.sources[model.source]
    src_cls = context.registry.source_types.get(src.type)
    dialect = getattr(src_cls, "dialect", None) or "duckdb"
    if model.file and src_cls is not None and not getattr(src_cls, "supports_files", False):
        yield SpecIssue(f"model '{model.name}' reads a file but source '{src.name}' ({src.type}) cannot read files",
                        field_loc(model, "file"), hint="use a duckdb source for CSV/Parquet files", code="model")
    if model.file and not model.file.lower().endswith(_FILE_SUFFIXES):
        yield SpecIssue(f"model '{model.name}': file must be .csv, .tsv or .parquet", field_loc(model, "file"),
                        code="model")
    if model.sql is not None and not project.allow_model_sql and model.raw is not None:  # written, not generated
        yield SpecIssue(f"model '{model.name}' uses `sql:`, which this project does not trust",
                        field_loc(model, "sql"),
                        hint="a model's SELECT runs as written (read-only): if you review these specs, set "
                             "`project: {allow_model_sql: true}`; otherwise use `table:` with filters",
                        code="trust")
    elif model.sql is not None:
        for problem in check_select(model.sql, dialect):
            yield SpecIssue(f"model '{model.name}': {problem}", field_loc(model, "sql"),
                            hint="a model's sql is one read-only SELECT without ';'", code="unsafe-sql")
    if model.table is not None:
        parts = str(model.table).split(".")
        if not all(p and p.replace("_", "").replace("$", "").isalnum() for p in parts) or len(parts) > 3:
            yield SpecIssue(f"model '{model.name}': invalid table name {model.table!r}", field_loc(model, "table"),
                            hint="write schema.table with letters, digits and _; use sql: for anything else",
                            code="model")
    dims_raw = model.raw.get("dimensions") if isinstance(model.raw, LDict) else None
    expressions = [("time", model.time or None, field_loc(model, "time")), ("entity", model.entity, field_loc(model, "entity"))]
    expressions += [(f"dimensions.{k}", v, dims_raw.loc_of(k) if isinstance(dims_raw, LDict) else
                     field_loc(model, "dimensions")) for k, v in model.dimensions.items()]
    for what, text, loc in expressions:
        if text is None:
            continue
        for problem in check_expression(str(text), dialect, what=what):
            yield SpecIssue(f"model '{model.name}' {what}: {problem}", loc,
                            hint="a column name or one row-level SQL expression", code="unsafe-sql")
    yield from _trust_issues(project, model, dialect)
    if model.time_format and "%" not in model.time_format:
        yield SpecIssue(f"model '{model.name}': time_format {model.time_format!r} has no % directives",
                        field_loc(model, "time_format"), hint="e.g. %d-%m-%Y for 31-01-2026", code="model")
