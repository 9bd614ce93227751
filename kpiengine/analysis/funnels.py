"""Funnels: the `funnels:` section of a spec, its checks, and the numbers a funnel gives.

A funnel is an ordered list of two or more steps, each an event of a model
(with an optional filter), joined on an entity key (lead, customer, account).
The SQL is built in :mod:`kpiengine.funnel_sql`; this module parses and checks
the spec (every problem is a located :class:`~kpiengine.errors.SpecIssue`),
runs a funnel on its source and turns the aggregates into per-step figures,
and exposes each funnel's steps and conversions as ordinary KPIs (see
:func:`attach_funnels`) so alert rules and formulas can use them.

Counting rules (documented in docs/funnels.md):

* An entity *enters* at its earliest step-1 event; its breakdown values are
  those of that event.
* Ordered funnels (default): step k is the earliest step-k event at or after the
  step k-1 event, within ``window`` of the entry and within the step's
  ``within`` of step k-1 (greedy: each step takes the first qualifying event).
* Unordered funnels: step k is the earliest step-k event in [entry, entry + window];
  an entity reaches step k when it has every step 1..k.
* Cohort view (default): everything is attributed to the period of the entry.
  Event view: each step is counted in the period its own event happened.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

from ..errors import KpiEngineError, Location, SpecError, SpecIssue
from ..run.engine import Engine
from ..run.normalize import normalize_date, normalize_number, normalize_value, sort_key
from ..run.watermarks import cohort_maturing, period_complete
from ..spec.model import GRAINS, KpiSpec, ModelSpec, Project
from ..spec.sqlsafety import check_expression
from ..spec.suggest import closest
from ..sql.funnel_sql import compile_funnel, entity_query
from ..sql.periods import next_period

PRODUCTS = ("free", "traffic", "hit", "profit", "brand")
VIEWS = ("cohort", "event")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)?\s*$",
                       re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_STEP_KEYS = {"name", "label", "model", "filter", "entity", "within", "product", "description"}
_FUNNEL_KEYS = {"label", "description", "entity", "steps", "window", "ordered", "breakdown", "view", "owner",
                "process", "kpis", "touch"}

# Durations are checked by parse_duration (precise message); the schema only says what is accepted.
_duration_schema = {"type": ["number", "string"], "examples": ["30d", "12h", "2w", 30]}
FUNNELS_SCHEMA_DEFS: dict[str, Any] = {
    "funnels": {
        "type": "object",
        "description": "Funnels: ordered steps joined on an entity key; see docs/funnels.md",
        "additionalProperties": {
            "type": "object",
            "required": ["steps"],
            "additionalProperties": False,
            "properties": {
                "label": {"type": "string"},
                "description": {"type": "string"},
                "entity": {"type": "string", "description": "what is counted (lead, customer): a label"},
                "window": {**_duration_schema, "description": "conversion window from the first step"},
                "ordered": {"type": "boolean", "default": True},
                "breakdown": {"type": "array", "items": {"type": "string"},
                              "description": "dimensions of the entry step's model used by default"},
                "view": {"enum": list(VIEWS), "default": "cohort"},
                "touch": {"enum": ["first", "last"], "default": "first",
                          "description": "last: each conversion is credited to the latest entry event before it"},
                "owner": {"type": "string"},
                "process": {"type": "string"},
                "kpis": {"type": "boolean", "default": True,
                         "description": "expose the steps and conversions as KPIs"},
                "steps": {
                    "type": "array", "minItems": 2,
                    "items": {
                        "type": "object", "required": ["name", "model"], "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "pattern": _NAME.pattern},
                            "label": {"type": "string"},
                            "description": {"type": "string"},
                            "model": {"type": "string"},
                            "filter": {"type": "string"},
                            "entity": {"type": "string", "description": "entity key column in this model"},
                            "within": {**_duration_schema, "description": "window from the previous step"},
                            "product": {"enum": list(PRODUCTS)},
                        },
                    },
                },
            },
        },
    }
}


class FunnelError(KpiEngineError):
    pass


@dataclass
class FunnelStep:
    name: str
    model: str
    entity: str  # column or SQL expression of the entity key in the step's model
    label: str = ""
    filter: str | None = None
    within_seconds: float | None = None  # window from the previous step
    product: str | None = None
    location: Location | None = None


@dataclass
class FunnelSpec:
    name: str
    steps: list[FunnelStep]
    label: str = ""
    description: str = ""
    entity_label: str = "entity"
    window_seconds: float | None = None  # from the first step
    ordered: bool = True
    breakdown: list[str] = field(default_factory=list)
    view: str = "cohort"
    owner: str | None = None
    process: str | None = None
    kpis: bool = True
    location: Location | None = None
    touch: str = "first"  # "last": the conversion is credited to the latest entry event before it

    @property
    def source(self) -> str | None:
        return getattr(self, "_source", None)


def parse_duration(value: Any) -> float:
    """'30d', '30 days', '12h', '2w', or a number of days -> seconds."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value) * 86400
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration")
    unit = (m.group(2) or "d").lower()
    unit = "m" if unit.startswith("min") or unit == "m" else unit[0]
    return float(m.group(1)) * _UNIT_SECONDS[unit]


def _loc(node: Any, key: Any = None) -> Location | None:
    if key is not None and hasattr(node, "loc_of"):
        return node.loc_of(key)
    return getattr(node, "loc", None)


def entry_keys(project: Project) -> list[tuple]:
    """(model, entity) of each funnel whose entries are read by a primary or unique key: the funnel
    takes that model's row as the entity's first entry, so the key must be unique in the data."""
    from ..sql.funnel_sql import entry_key  # lazy: sqlglot

    funnels, _ = parse_funnels(project)
    out = []
    for funnel in funnels.values():
        entity = entry_key(project, funnel)
        if entity is not None:
            out.append((project.models[funnel.steps[0].model], entity))
    return out


def parse_funnels(project: Project, *, schema_checked: bool = False
                  ) -> tuple[dict[str, FunnelSpec], list[SpecIssue]]:
    """Parse and check every funnel; return the valid ones and every problem found.

    ``schema_checked``: the section already passed FUNNELS_SCHEMA_DEFS (the loader
    does that), so unknown keys and values outside the enums are not reported twice.
    """
    out: dict[str, FunnelSpec] = {}
    issues: list[SpecIssue] = []
    section = project.section("funnels", {})
    for name, body in section.items():
        where = _loc(section, name)
        before = len(issues)

        def issue(msg: str, loc: Location | None, hint: str | None = None) -> None:
            issues.append(SpecIssue(f"funnel '{name}': {msg}", loc or where, hint, code="funnel"))

        if not _NAME.match(str(name)):
            issue("the name must be letters, digits and _ (it becomes part of KPI names)", where)
        if not isinstance(body, dict):
            issue("must be a mapping with `steps:`", where, "see docs/funnels.md")
            continue
        for key in body:
            if key not in _FUNNEL_KEYS and not schema_checked:
                issue(f"unknown key '{key}'", _loc(body, key), f"allowed: {', '.join(sorted(_FUNNEL_KEYS))}")
        window = None
        if body.get("window") is not None:
            try:
                window = parse_duration(body["window"])
            except ValueError as exc:
                issue(f"window: {exc}", _loc(body, "window"), "write e.g. `30d`, `12h`, `2w` or a number of days")
        ordered = body.get("ordered", True)
        if not isinstance(ordered, bool):
            issue("ordered must be true or false", _loc(body, "ordered"))
            ordered = True
        view = body.get("view", "cohort")
        if view not in VIEWS and not schema_checked:
            issue(f"view '{view}' is not one of {', '.join(VIEWS)}", _loc(body, "view"),
                  "cohort counts by the entry date (default); event counts each step when it happened")
        steps_node = body.get("steps")
        steps: list[FunnelStep] = []
        if not isinstance(steps_node, list) or len(steps_node) < 2:
            issue("needs `steps:` with two or more steps", _loc(body, "steps"),
                  "each step: {name, model, filter?, entity?, within?, product?}")
            steps_node = steps_node if isinstance(steps_node, list) else []
        seen: dict[str, Location | None] = {}
        sources: set[str] = set()
        for i, st in enumerate(steps_node):
            sloc = _loc(steps_node, i)
            if not isinstance(st, dict):
                issue(f"step {i + 1} must be a mapping", sloc)
                continue
            for key in st:
                if key not in _STEP_KEYS and not schema_checked:
                    issue(f"step {i + 1}: unknown key '{key}'", _loc(st, key),
                          f"allowed: {', '.join(sorted(_STEP_KEYS))}")
            sname = str(st.get("name") or "")
            if not _NAME.match(sname):
                issue(f"step {i + 1}: `name` must be letters, digits and _", _loc(st, "name") or sloc)
            elif sname in seen:
                issue(f"step name '{sname}' is used twice (first at {seen[sname]})", _loc(st, "name"))
            seen.setdefault(sname, _loc(st, "name"))
            model_name = st.get("model")
            model = project.models.get(str(model_name)) if model_name else None
            if model is None:
                close = closest(model_name, project.models)
                issue(f"step '{sname}': unknown model '{model_name}'", _loc(st, "model") or sloc,
                      f"did you mean '{close}'?" if close else f"models: {', '.join(sorted(project.models))}")
                continue
            sources.add(model.source)
            entity = st.get("entity") or model.entity
            if not entity:
                issue(f"step '{sname}': model '{model.name}' has no `entity:` and the step sets none",
                      _loc(st, "entity") or sloc, "add `entity: <key column>` to the step or to the model")
            else:
                for p in check_expression(str(entity), "duckdb", what="entity"):
                    issue(f"step '{sname}': {p}", _loc(st, "entity") or sloc)
            if not model.time:
                issue(f"step '{sname}': model '{model.name}' has no `time:` column", sloc,
                      "a funnel orders events by the model's time")
            flt = st.get("filter")
            if flt is not None:
                for p in check_expression(str(flt), "duckdb", what="filter"):
                    issue(f"step '{sname}': {p}", _loc(st, "filter"))
            within = None
            if st.get("within") is not None:
                if i == 0:
                    issue("the first step cannot have `within:` (it is the window from the previous step)",
                          _loc(st, "within"), "use the funnel's `window:` for a window from the first step")
                elif not ordered:
                    issue(f"step '{sname}': `within:` needs an ordered funnel", _loc(st, "within"),
                          "unordered steps only use the funnel's `window:`")
                else:
                    try:
                        within = parse_duration(st["within"])
                    except ValueError as exc:
                        issue(f"step '{sname}': within: {exc}", _loc(st, "within"),
                              "write e.g. `14d`, `12h` or a number of days")
            product = st.get("product")
            if product is not None and product not in PRODUCTS and not schema_checked:
                issue(f"step '{sname}': product '{product}' is not one of {', '.join(PRODUCTS)}",
                      _loc(st, "product"), "the product matrix: free, traffic, hit, profit, brand")
            steps.append(FunnelStep(sname, model.name, str(entity or ""), str(st.get("label") or sname),
                                    None if flt is None else str(flt), within, product, sloc))
        if len(sources) > 1:
            issue(f"steps read different sources ({', '.join(sorted(sources))})", _loc(body, "steps"),
                  "a funnel runs as one query: put its models on one source")
        breakdown = body.get("breakdown") or []
        if isinstance(breakdown, str):
            breakdown = [breakdown]
        if steps and steps[0].model in project.models:
            entry_model = project.models[steps[0].model]
            for d in breakdown:
                if d not in entry_model.dimensions:
                    issue(f"breakdown '{d}' is not a dimension of the entry step's model '{entry_model.name}'",
                          _loc(body, "breakdown"),
                          f"available: {', '.join(entry_model.dimensions) or 'none'}")
        process = body.get("process")
        if process is not None and project.process and process not in project.process:
            issue(f"unknown process node '{process}'", _loc(body, "process"))
        touch = body.get("touch", "first")
        if touch not in ("first", "last"):
            issue(f"touch '{touch}' is not first or last", _loc(body, "touch"),
                  "first (default): the entity's first entry event; last: the latest entry event before the conversion")
        elif touch == "last" and (len(steps_node) != 2 or not ordered):
            issue("touch: last needs an ordered funnel of exactly two steps (entry and conversion)", _loc(body, "touch"),
                  "split the funnel, or drop `touch:`")
        if len(issues) > before:
            continue
        spec = FunnelSpec(str(name), steps, str(body.get("label") or name), str(body.get("description") or ""),
                          str(body.get("entity") or "entity"), window, ordered, [str(d) for d in breakdown],
                          str(view), body.get("owner"), process, bool(body.get("kpis", True)), where)
        spec.touch = str(touch)
        spec._source = next(iter(sources))  # type: ignore[attr-defined]
        out[str(name)] = spec
    for fname, spec in out.items():
        if spec.kpis:
            for kname in _kpi_names(spec):
                if kname in project.kpis and not getattr(project.kpis[kname], "_from_funnel", False):
                    issues.append(SpecIssue(
                        f"funnel '{fname}' defines KPI '{kname}', which is already a KPI", spec.location,
                        "rename the funnel or the step, or set `kpis: false` on the funnel", code="funnel"))
    return out, issues


def validate_funnels(project: Project) -> list[SpecIssue]:
    """Called by the loader's validation (after the JSON Schema): every other problem in `funnels:`."""
    return parse_funnels(project, schema_checked=True)[1]


def get_funnel(project: Project, name: str) -> FunnelSpec:
    funnels, issues = parse_funnels(project)
    if issues:
        raise SpecError(issues)
    if name not in funnels:
        close = closest(name, funnels)
        hint = f"did you mean '{close}'?" if close else (
            f"funnels: {', '.join(sorted(funnels))}" if funnels else "the spec has no `funnels:` section")
        raise SpecError([SpecIssue(f"unknown funnel '{name}'", hint=hint, code="reference")])
    return funnels[name]


# --------------------------------------------------------------------------- results


@dataclass
class StepFigures:
    name: str
    label: str
    product: str | None
    entities: int
    conversion_from_previous: float | None  # fraction; None for the first step or no entities before
    conversion_from_top: float | None
    drop_off: int | None  # entities lost since the previous step
    median_seconds: float | None  # median time from the previous step (ordered) / from entry (unordered)

    def to_dict(self) -> dict:
        return {"step": self.name, "label": self.label, "product": self.product, "entities": self.entities,
                "conversion_from_previous": self.conversion_from_previous,
                "conversion_from_top": self.conversion_from_top, "drop_off": self.drop_off,
                "median_seconds": self.median_seconds,
                "median_days": None if self.median_seconds is None else self.median_seconds / 86400}


@dataclass
class FunnelRow:
    period_start: date
    dimensions: dict[str, Any]
    steps: list[StepFigures]
    complete: bool = True  # the period is over for the data (docs/periods.md)
    maturing: bool = False  # cohort view: over, but younger than the window: its entities can still convert


@dataclass
class FunnelResult:
    funnel: FunnelSpec
    view: str
    grain: str
    by: list[str]
    rows: list[FunnelRow]
    sql: str = ""

    def row(self, period_start: date, **dims) -> FunnelRow | None:
        for r in self.rows:
            if r.period_start == period_start and all(r.dimensions.get(k) == v for k, v in dims.items()):
                return r
        return None

    def to_dict(self) -> dict:
        f = self.funnel
        return {"funnel": f.name, "label": f.label, "view": self.view, "grain": self.grain, "by": self.by,
                "attribution": ("cohort: steps counted in the period the entity entered" if self.view == "cohort"
                                else "event: each step counted in the period it happened"),
                "ordered": f.ordered, "window_days": None if f.window_seconds is None else f.window_seconds / 86400,
                "steps": [{"name": s.name, "label": s.label, "product": s.product, "model": s.model,
                           "within_days": None if s.within_seconds is None else s.within_seconds / 86400}
                          for s in f.steps],
                "rows": [{"period_start": r.period_start.isoformat(), "dimensions": r.dimensions,
                          "steps": [s.to_dict() for s in r.steps],
                          **({} if r.complete else {"complete": False}), **({"maturing": True} if r.maturing else {})}
                         for r in self.rows]}


def assemble(funnel: FunnelSpec, view: str, grain: str, by: list[str], rows, sql: str = "") -> FunnelResult:
    """Aggregated rows (period, dims..., step, entities, median_seconds) -> per-step figures."""

    groups: dict[tuple, dict[int, tuple[int, float | None]]] = {}
    nd = len(by)
    for r in rows:
        period = normalize_date(r[0])
        dims = tuple(normalize_value(v) for v in r[1:1 + nd])
        step, n, med = int(r[1 + nd]), int(normalize_number(r[2 + nd]) or 0), normalize_number(r[3 + nd])
        groups.setdefault((period,) + dims, {})[step] = (n, None if med is None else float(med))
    out = []
    for key in sorted(groups, key=sort_key):
        counts = groups[key]
        figures = []
        top = counts.get(1, (0, None))[0]
        prev = None
        for k, st in enumerate(funnel.steps, start=1):
            n, med = counts.get(k, (0, None))
            figures.append(StepFigures(
                st.name, st.label, st.product, n,
                None if k == 1 or not prev else n / prev,
                None if not top else n / top,
                None if k == 1 or prev is None else prev - n,
                med))
            prev = n
        out.append(FunnelRow(key[0], dict(zip(by, key[1:])), figures))
    return FunnelResult(funnel, view, grain, list(by), out, sql)


def run_funnel(engine, name: str, grain: str = "month", by: list[str] | None = None, start: date | None = None,
               end: date | None = None, view: str | None = None) -> FunnelResult:
    """Compile the funnel for its source's dialect, run it there, and assemble the figures."""

    funnel = get_funnel(engine.project, name)
    by = list(funnel.breakdown if by is None else by)
    view = view or funnel.view
    _check_request(engine.project, funnel, grain, by, view)
    dialect = engine.dialect_of(funnel.source)
    try:
        query = compile_funnel(engine.project, funnel, grain, by, start, end, view, dialect)
    except (ValueError, KpiEngineError) as exc:
        raise SpecError([SpecIssue(f"funnel '{name}': {exc}", funnel.location, getattr(exc, "hint", None),
                                   code="compile")]) from None
    sql = query.sql()
    result = engine.run_sql(funnel.source, sql)
    out = assemble(funnel, view, grain, by, query.long_rows(result.rows), sql)
    mark_funnel(engine, out, start, end)
    return out


def mark_funnel(engine, result: FunnelResult, start: date | None = None, end: date | None = None) -> None:
    """Mark each row complete or not, and cohorts younger than the window as maturing (cohort view only)."""
    f = result.funnel
    if not hasattr(engine, "watermarks"):  # a stand-in engine (tests of the assembly) knows no watermarks
        return
    marks = engine.watermarks(list(dict.fromkeys(s.model for s in f.steps)))
    known = [w for w in marks.values() if not w.error]
    if not known:
        return
    covers = [w.covers for w in known]
    now = known[0].now
    least = min((c for c in covers if c is not None), default=None)
    for row in result.rows:
        done = (period_complete(row.period_start, result.grain, covers, now)
                and (start is None or start <= row.period_start)
                and (end is None or next_period(row.period_start, result.grain) <= end))
        row.maturing = bool(done and result.view == "cohort"
                            and cohort_maturing(row.period_start, result.grain, f.window_seconds, least))
        row.complete = done and not row.maturing


def _check_request(project: Project, funnel: FunnelSpec, grain: str, by: list[str], view: str) -> None:
    issues = []
    if grain not in GRAINS:
        issues.append(SpecIssue(f"unknown period '{grain}'", hint=f"expected one of: {', '.join(GRAINS)}",
                                code="period"))
    if view not in VIEWS:
        issues.append(SpecIssue(f"unknown view '{view}'", hint="cohort (by entry date) or event (by event date)",
                                code="funnel"))
    entry = project.models[funnel.steps[0].model]
    for d in by:
        if d not in entry.dimensions:
            issues.append(SpecIssue(
                f"funnel '{funnel.name}' cannot break down by '{d}': not a dimension of its entry step's model "
                f"'{entry.name}'", funnel.location, f"available: {', '.join(entry.dimensions) or 'none'}",
                code="dimension"))
    if len(set(by)) != len(by):
        issues.append(SpecIssue(f"dimension listed twice in breakdown {by}", code="dimension"))
    if issues:
        raise SpecError(issues)


# --------------------------------------------------------------------------- funnels as KPIs


def _kpi_names(f: FunnelSpec) -> list[str]:
    names = [f"{f.name}_{s.name}" for s in f.steps]
    names += [f"{f.name}_{s.name}_rate" for s in f.steps[1:]]
    names += [f"{f.name}_{s.name}_from_top" for s in f.steps[2:]]
    return names


def funnel_model_name(f: FunnelSpec) -> str:
    return f"funnel__{f.name}"


def funnel_kpis(project: Project) -> dict[str, KpiSpec]:
    """Each funnel's outputs as KPIs (cohort attribution: counted in the period the entity entered).

    * ``<funnel>_<step>``: entities that reached the step (sum of a 0/1 flag on the
      per-entity model :func:`funnel_models` builds);
    * ``<funnel>_<step>_rate``: conversion from the previous step (formula);
    * ``<funnel>_<step>_from_top``: conversion from the first step (formula, steps 3+;
      for step 2 it equals ``_rate``).

    Breakdowns: the entry step's dimensions. Funnels with ``kpis: false`` are skipped.
    """
    funnels, _ = parse_funnels(project)
    out: dict[str, KpiSpec] = {}
    for f in funnels.values():
        if not f.kpis:
            continue
        first = f"{f.name}_{f.steps[0].name}"
        for k, s in enumerate(f.steps, start=1):
            kpi = KpiSpec(name=f"{f.name}_{s.name}", label=f"{f.label}: {s.label}",
                          description=f"Entities of funnel '{f.name}' that reached step {k} ({s.label}), "
                                      f"counted in the period they entered the funnel.",
                          owner=f.owner, unit="count", direction="higher", process=f.process,
                          model=funnel_model_name(f), aggregate="sum", column=f"reached_{k}",
                          dimensions=[], tags=["funnel", f.name] + ([s.product] if s.product else []),
                          location=s.location)
            out[kpi.name] = kpi
        for k, s in enumerate(f.steps[1:], start=2):
            prev = f"{f.name}_{f.steps[k - 2].name}"
            here = f"{f.name}_{s.name}"
            out[f"{here}_rate"] = KpiSpec(
                name=f"{here}_rate", label=f"{f.label}: {f.steps[k - 2].label} -> {s.label}",
                description=f"Conversion from step {k - 1} to step {k} of funnel '{f.name}' (cohort).",
                owner=f.owner, unit="percent", direction="higher", process=f.process,
                formula=f"{here} / {prev}", tags=["funnel", f.name], location=s.location)
            if k >= 3:
                out[f"{here}_from_top"] = KpiSpec(
                    name=f"{here}_from_top", label=f"{f.label}: {f.steps[0].label} -> {s.label}",
                    description=f"Conversion from the first step to step {k} of funnel '{f.name}' (cohort).",
                    owner=f.owner, unit="percent", direction="higher", process=f.process,
                    formula=f"{here} / {first}", tags=["funnel", f.name], location=s.location)
    for kpi in out.values():
        kpi._from_funnel = True  # type: ignore[attr-defined]
    return out


def funnel_models(project: Project, dialect_of: Callable[[str], str] | None = None) -> dict[str, ModelSpec]:
    """Per-entity models behind :func:`funnel_kpis`: one row per entity with its entry time and 0/1 flags.

    ``dialect_of(source_name)`` gives the sqlglot dialect of a source (``Engine.dialect_of``);
    the model's SQL is generated for that dialect.
    """
    if dialect_of is None:
        dialect_of = Engine(project).dialect_of
    funnels, _ = parse_funnels(project)
    out = {}
    for f in funnels.values():
        if not f.kpis:
            continue
        dialect = dialect_of(f.source)
        entry = project.models[f.steps[0].model]
        dims = list(entry.dimensions)
        sql = entity_query(project, f, dims, dialect).sql(dialect=dialect)
        out[funnel_model_name(f)] = ModelSpec(
            name=funnel_model_name(f), source=f.source, sql=sql, time="entered_at", entity="entity",
            dimensions={d: f"d_{d}" for d in dims},
            description=f"One row per entity of funnel '{f.name}' (generated)", location=f.location,
            # its watermark is that of the step models (no MAX over the whole funnel); its counts are cohorts
            reach_from=list(dict.fromkeys(s.model for s in f.steps)), cohort=True,
            maturity_window=f.window_seconds)
    return out


def attach_funnels(project: Project, dialect_of: Callable[[str], str] | None = None) -> None:
    """Add every funnel's per-entity model and KPIs to ``project`` (call after validation)."""
    if not project.section("funnels"):
        return
    models = funnel_models(project, dialect_of)
    kpis = funnel_kpis(project)
    for name, m in models.items():
        project.models.setdefault(name, m)
    for name, k in kpis.items():
        project.kpis.setdefault(name, k)
