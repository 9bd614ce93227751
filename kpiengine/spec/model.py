"""The in-memory form of a KPI project: what the YAML files mean once loaded.

``kpiengine.loader.load_project(folder)`` builds a :class:`Project` from every
YAML file in a folder and validates it; everything downstream (compiler,
engine, alerting, funnels, dashboard) reads these dataclasses, never raw YAML.
Each object keeps the :class:`~kpiengine.errors.Location` it was declared at,
so later errors can still point into the spec.

The core sections fill the typed fields below. Sections owned by features
(funnels, rules, sinks, routes, a plugin's own) keep their merged raw value,
with locations, in :attr:`Project.sections`; the feature reads it from there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Location

GRAINS = ("day", "week", "month", "quarter", "year")
ALL_GRAIN = "all"  # a request over the whole range at once: one row per dimension values
REQUEST_GRAINS = GRAINS + (ALL_GRAIN,)
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max", "percentile", "percentile_disc",
              "last", "first")  # last/first: semi-additive, the sum at the period's last/first time
UNITS = ("count", "percent", "currency", "duration", "number")
DIRECTIONS = ("higher", "lower")


@dataclass
class SourceSpec:
    name: str
    type: str
    options: dict[str, Any]  # ${VAR} already expanded; never print (see Source.secret_options)
    location: Location | None = None


@dataclass
class ModelSpec:
    name: str
    source: str
    table: str | None = None  # schema-qualified name allowed: "sales.leads"
    sql: str | None = None  # one read-only SELECT
    file: str | None = None  # CSV or Parquet path (DuckDB sources), relative to the spec folder
    time: str = ""  # column or expression giving the event time; "" for a dimension table
    time_format: str | None = None  # strptime format when the time column is text, e.g. "%d-%m-%Y"
    entity: str | None = None  # entity key (lead id, customer id)
    dimensions: dict[str, str] = field(default_factory=dict)  # name -> column or SQL expression
    description: str = ""
    # how far the data reaches and how fresh it must be (docs/periods.md)
    freshness: str | None = None  # column/expression whose MAX is the watermark, or one trusted SELECT
    max_delay: float | None = None  # seconds the watermark may lag behind now before the model is stale
    time_zone: str | None = None  # zone of naive timestamps (default UTC)
    local_date: bool = False  # the time column is a calendar date in the project time zone: no conversion
    # generated models (funnels): their data reaches as far as the models they are built from, and a
    # cohort's counts keep growing for `maturity_window` seconds after its period (None: no window)
    reach_from: list[str] = field(default_factory=list)
    cohort: bool = False
    maturity_window: float | None = None
    location: Location | None = None
    raw: Any = field(default=None, repr=False, compare=False)  # the located YAML it was built from
    #: name -> kpiengine.spec.entities.EntitySpec: the keys that join it to other models
    entities: dict[str, Any] = field(default_factory=dict)

    @property
    def source_zone(self) -> str:
        """The zone the model's naive timestamps are in ("" when they are local wall-clock time already)."""
        return "" if self.local_date else (self.time_zone or "UTC")


@dataclass
class KpiSpec:
    name: str
    label: str
    description: str = ""
    owner: str | None = None
    unit: str = "number"
    direction: str = "higher"
    playbook: str = ""
    process: str | None = None  # id of the process node it is measured at
    # aggregate KPIs
    model: str | None = None
    aggregate: str | None = None
    column: str | None = None  # column or SQL expression; None for count(*)
    percentile: float | None = None
    filter: str | None = None
    window: str | None = None  # rolling/cumulative: "28d", "4 periods", "cumulative", "mtd" (sql.rolling)
    fill: str | None = None  # gap filling from a period spine: "zero" | "null" (run.assemble)
    # formula KPIs
    formula: str | None = None
    format: str | None = None
    target: Any = None  # a number, or {dimension: {value: number}} (see alerting)
    dimensions: list[str] = field(default_factory=list)  # breakdowns it must support (validated)
    tags: list[str] = field(default_factory=list)
    # the lifecycle (kpiengine.spec.lifecycle): set in advance, proven in execution, corrected in review
    status: str = "active"  # proposed | active | strengthened | weakened | retired
    since: str | None = None  # the day the current status began (YYYY-MM-DD)
    targets: list[Any] = field(default_factory=list)  # TargetEntry per period, oldest first
    review: list[Any] = field(default_factory=list)  # ReviewEntry per decision, oldest first
    location: Location | None = None
    raw: Any = field(default=None, repr=False, compare=False)  # the located YAML it was built from

    @property
    def is_formula(self) -> bool:
        return self.formula is not None


@dataclass
class ProcessNode:
    id: str
    label: str
    level: int
    parent: str | None = None
    description: str = ""
    children: list[str] = field(default_factory=list)
    location: Location | None = None


@dataclass
class Project:
    name: str
    folder: str
    timezone: str = "UTC"
    default_source: str | None = None
    history_path: str = ".kpiengine/history.db"
    allow_model_sql: bool = False  # models' `sql:` is a trust level of its own (project.allow_model_sql)
    url: str | None = None  # the dashboard's address, which notifications link to (project.url)
    url_loc: Location | None = None
    sql_dialect: str = "duckdb"  # what filters, dimensions and sql models are written in (sqlglot dialect name)
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    kpis: dict[str, KpiSpec] = field(default_factory=dict)
    process: dict[str, ProcessNode] = field(default_factory=dict)
    version: str = ""  # content hash of the spec files: stored with every run
    files: list[str] = field(default_factory=list)
    unread_files: list[str] = field(default_factory=list)  # spec files that could not be parsed
    schema_broken: set[str] = field(default_factory=set)  # sections the JSON Schema found errors in
    warnings: list[Any] = field(default_factory=list)  # SpecIssues of severity "warning" found when loading
    project_loc: Location | None = None  # where `project:` is written, when it is
    #: merged raw value of every section by name (LDict/LList with locations; None when absent)
    sections: dict[str, Any] = field(default_factory=dict)
    #: typed objects a plugin section's build step made from its raw value, by section name
    parsed: dict[str, Any] = field(default_factory=dict)
    #: the spec cache entry it was loaded through (:mod:`kpiengine.spec.cache`), for results derived from it
    cache: Any = field(default=None, repr=False, compare=False)

    def section(self, name: str, default: Any = None) -> Any:
        """The merged raw value of a section (``project.section("rules", {})``)."""
        value = self.sections.get(name)
        return default if value is None else value

    def process_path(self, node_id: str | None) -> list[str]:
        """Labels from the root down to ``node_id`` (Sales > Lead generation > Leads)."""
        path: list[str] = []
        seen = set()
        while node_id and node_id in self.process and node_id not in seen:
            seen.add(node_id)
            node = self.process[node_id]
            path.append(node.label)
            node_id = node.parent
        return list(reversed(path))

    def kpi_path(self, kpi: str) -> list[str]:
        return self.process_path(self.kpis[kpi].process) if kpi in self.kpis else []
