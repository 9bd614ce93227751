"""Where SQL runs: compile a request, execute it on each source, evaluate formulas.

The engine opens each source plugin once per request, runs one query per model
(see :mod:`kpiengine.compiler`), normalises the driver's values, and joins the
per-model results on (period, dimension values) with NULL equal to NULL, so
formula inputs from different models meet even when a dimension is NULL.
"""
from __future__ import annotations

import difflib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from ..errors import KpiEngineError, PluginError, SpecError, SpecIssue
from ..plugins import default_registry
from ..results import KpiValue
from ..sources import open_ahead
from ..spec.calendar_periods import remember_periods
from ..spec.gcpause import paused_gc
from ..spec.leaves import leaf_models
from ..spec.model import REQUEST_GRAINS, Project
from . import querycache
from .gaps import fill_of
from .normalize import normalize_date, normalize_number, normalize_value
from .request_rows import read_request, unreadable_message

# What compiles a request (sqlglot, the spec's checks) is imported where a request is compiled: a run
# whose plan the spec cache holds reads it and needs none of it (docs/performance.md).
if TYPE_CHECKING:
    from ..sql.compiler import CompiledQuery
    from ..sql.onequery import RequestQuery

from .watermarks import (
    Watermark,
    derive,
    direct_models,
    local_now,
    mark_complete,
    query_watermarks,
    read_watermarks,
)

# Aggregates whose value over no rows is 0 (an absent group means "none happened").
_ADDITIVE = {"count", "count_distinct", "sum"}


@dataclass
class ResultSet:
    grain: str
    by: list[str]
    start: date | None
    end: date | None
    kpis: list[str]
    rows: list[KpiValue] = field(default_factory=list)
    queries: list[CompiledQuery] = field(default_factory=list)
    spec_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None
    watermarks: dict[str, Any] = field(default_factory=dict)  # model -> run.watermarks.Watermark

    def stale_notes(self) -> list[str]:
        """One line per stale model of this result (empty when every model is fresh)."""
        return [w.note() for w in self.watermarks.values() if w.stale]

    def value(self, kpi: str, period_start: date, **dims) -> float | None:
        for r in self.rows:
            if r.kpi == kpi and r.period_start == period_start and r.dimensions == dims:
                return r.value
        return None

    def periods(self) -> list[date]:
        return sorted({r.period_start for r in self.rows})


class Engine:
    def __init__(self, project: Project, registry=None, *, timeout: float | None = None, now: float | None = None):
        self.project = project
        self.registry = registry or default_registry()
        self.timeout = timeout
        self.now = now  # the clock completeness and freshness are judged at (None: the real one)
        self._watermarks: dict[str, Watermark] = {}

    def watermarks(self, models: Iterable[str] | None = None) -> dict[str, Watermark]:
        """How far each model's data reaches: asked once per source per engine, then cached."""
        wanted = list(self.project.models) if models is None else list(dict.fromkeys(models))
        missing = [m for m in wanted if m not in self._watermarks and m in self.project.models]
        if missing:
            self._watermarks.update(query_watermarks(self, missing, self.now))
        return {m: self._watermarks[m] for m in wanted if m in self._watermarks}

    def know_watermarks(self, marks: dict[str, Watermark]) -> None:
        """Watermarks read some other way in this command (an incremental run's day counts): not asked again."""
        self._watermarks.update(marks)

    # -- resolution ---------------------------------------------------------------
    def resolve_kpis(self, kpis: Iterable[str] | None, by: Iterable[str] = ()) -> list[str]:
        """The KPIs asked for; by default every KPI that supports the breakdown ``by``.

        Retired KPIs are computed too: their history goes on, so a review can see what
        happened after the decision (they are not alerted and not on the dashboard's main view).
        """
        from ..spec.dimensions import (  # lazy: the spec's checks, only when a request is compiled
            known_dimensions,
            supports,
        )
        from ..spec.suggest import did_you_mean  # lazy: as above
        from ..spec.timedims import is_time_dimension  # lazy: as above

        if not kpis:
            by = list(by)
            declared = [d for d in by if not is_time_dimension(d)]  # day_of_week, hour...: every model has them
            names = [k.name for k in self.project.kpis.values() if supports(self.project, k.name, declared)]
            if not names:
                known = known_dimensions(self.project)
                unknown = [d for d in by if d not in known]
                close = did_you_mean(unknown[0], known) if unknown else None
                raise SpecError([SpecIssue(
                    f"unknown dimension '{unknown[0]}'" if unknown else
                    f"no KPI can be broken down by {', '.join(by)} together",
                    hint=(f"{close} " if close else "") + f"dimensions: {', '.join(known) or 'none'} "
                    "(`kpi list dimensions` shows which KPIs have each)", code="dimension")])
            return names
        names = list(dict.fromkeys(kpis))
        issues = []
        for name in names:
            if name not in self.project.kpis:
                close = difflib.get_close_matches(name, list(self.project.kpis), n=1)
                issues.append(SpecIssue(f"unknown KPI '{name}'",
                                        hint=f"did you mean '{close[0]}'?" if close else
                                        f"known KPIs: {', '.join(sorted(self.project.kpis))}", code="reference"))
        if issues:
            raise SpecError(issues)
        return names

    def _check_request(self, names: list[str], grain: str, by: list[str], where: str | None = None) -> None:
        from ..spec.calendars import (  # lazy: the spec's checks, when compiling
            calendar_of,
            custom_grains,
        )
        from ..spec.dimensions import check_breakdown, check_where  # lazy: as above

        if grain not in REQUEST_GRAINS and calendar_of(self.project, grain) is None:  # custom: spec.calendars
            grains = list(REQUEST_GRAINS) + custom_grains(self.project)
            close = difflib.get_close_matches(grain, grains, n=1)
            raise SpecError([SpecIssue(f"unknown period '{grain}'",
                                       hint=(f"did you mean '{close[0]}'? " if close else "") +
                                       f"expected one of: {', '.join(grains)}", code="period")])
        if len(set(by)) != len(by):
            raise SpecError([SpecIssue(f"dimension listed twice in breakdown {by}", code="dimension")])
        issues = check_breakdown(self.project, names, by)
        if where is not None:
            issues += check_where(self.project, names, where)
        if issues:
            raise SpecError(issues)

    def source_class(self, source_name: str):
        spec = self.project.sources.get(source_name)
        if spec is None:
            raise KpiEngineError(f"unknown source '{source_name}'")
        try:
            return self.registry.source_type(spec.type)
        except PluginError as exc:
            raise KpiEngineError(str(exc)) from None

    def open_source(self, source_name: str):
        spec = self.project.sources[source_name]
        source = self.source_class(source_name)(source_name, dict(spec.options))
        # Only the files the spec names are readable through the source (DuckDB locks out the rest).
        source.allow_files(self.files_named(source_name))
        return source

    def open_ahead(self, source_names: Iterable[str]) -> None:
        """Start opening these sources in a thread of the command's connection scope, for the queries
        that follow; only sources that say they can (``Source.opens_ahead``). A source that cannot be
        opened reports why when a query connects to it, as without this."""
        connects = []
        for name in sorted(set(source_names)):
            try:
                ahead = getattr(self.source_class(name), "opens_ahead", False)
            except KpiEngineError:  # an unknown source or type: the query's own connect says so
                ahead = False
            if ahead:
                source = self.open_source(name)
                connects.append(lambda source=source: (source.connect(), source.close()))
        open_ahead(connects)

    def run_sql(self, source_name: str, sql: str):
        """One statement on a source, connected for it alone (or the command's shared connection)."""
        source = self.open_source(source_name)
        try:
            source.connect()
            return source.execute(sql, timeout=self.timeout)
        finally:
            source.close()

    def files_named(self, source_name: str) -> list[str]:
        """Files the spec's models read through a source: file models, and literal paths in trusted SQL."""
        files = []
        for model in self.project.models.values():
            if model.source != source_name:
                continue
            if model.file:
                from ..sql.compiler import (
                    model_file_path,  # lazy: only file models need it
                )

                files.append(model_file_path(self.project, model))
            elif model.sql and self.project.allow_model_sql:
                from ..spec.sqlsafety import (
                    files_read_by,  # lazy: only trusted SQL models need it
                )

                files += files_read_by(model.sql, self.source_class(source_name).dialect or "duckdb")
        return files

    def dialect_of(self, source_name: str) -> str:
        cls = self.source_class(source_name)
        spec = self.project.sources[source_name]
        probe = cls(source_name, dict(spec.options))  # dialect may depend on options (SQLAlchemy URL)
        return probe.dialect_for()

    # -- compile ------------------------------------------------------------------
    def compile(self, kpis: Iterable[str] | None = None, grain: str = "week", by: Iterable[str] = (),
                start: date | None = None, end: date | None = None, dialect: str | None = None,
                where: str | None = None) -> list[CompiledQuery]:
        from ..spec.offsets import (
            OffsetError,  # lazy: compiling needs sqlglot, a cached plan does not
        )
        from ..sql.calendar_sql import plan_calendar_queries  # lazy: as above
        from ..sql.compiler import CompileError, plan_queries  # lazy: as above
        from ..sql.rolling import plan_window_queries  # lazy: as above
        from ..sql.semiadditive import plan_semiadditive_queries  # lazy: as above

        by = list(by)
        names = self.resolve_kpis(kpis, by)
        self._check_request(names, grain, by, where)
        dialect_of = (lambda _src: dialect) if dialect else self.dialect_of
        try:
            with paused_gc():  # thousands of KPIs build many long-lived trees: see spec.gcpause
                return (plan_calendar_queries(self.project, names, grain, dialect_of)
                        + plan_queries(self.project, names, grain, by, start, end, dialect_of, where=where)
                        + plan_window_queries(self.project, names, grain, by, start, end, dialect_of, where=where)
                        + plan_semiadditive_queries(self.project, names, grain, by, start, end, dialect_of,
                                                    where=where))
        except (CompileError, OffsetError) as exc:
            raise SpecError([SpecIssue(str(exc), hint=exc.hint, code="compile")]) from None

    def plan(self, kpis: Iterable[str] | None, grain: str, by: list[str], start: date | None, end: date | None,
             where: str | None = None, one_query: bool = True) -> tuple[list[str], list]:
        """The KPIs a request means and its queries; from the spec cache when this spec version compiled it.

        With ``one_query`` (the default) each source gets one statement computing every KPI it holds,
        formulas included (:mod:`kpiengine.sql.onequery`); a request one statement cannot express
        (a formula over two sources) keeps the per-model queries, whose formulas run in Python.
        """
        key = (querycache.request_key(kpis, grain, by, start, end, None) + (f" where {where}" if where else "")
               + (" one" if one_query else ""))
        cached = querycache.lookup(self.project, key)
        if cached is not None:
            return cached
        with paused_gc():  # one pause for every step: each pause's end costs a full collection
            names = self.resolve_kpis(kpis, by)
            queries = self.compile(names, grain, by, start, end, where=where)
            if one_query and queries:
                queries = self.request_queries(names, queries, grain, start, end) or queries
            return names, querycache.store(self.project, key, names, queries) or queries

    def compile_statements(self, kpis: Iterable[str] | None = None, grain: str = "week", by: Iterable[str] = (),
                           start: date | None = None, end: date | None = None, dialect: str | None = None,
                           where: str | None = None) -> list:
        """What ``compute`` runs: one statement per source, or the per-model queries when it cannot be one."""
        by = list(by)
        with paused_gc():  # one pause for both steps: each pause's end costs a full collection
            names = self.resolve_kpis(kpis, by)
            parts = self.compile(names, grain, by, start, end, dialect=dialect, where=where)
            return (self.request_queries(names, parts, grain, start, end) or parts) if parts else parts

    def request_queries(self, names: list[str], queries: list[CompiledQuery], grain: str, start: date | None,
                        end: date | None) -> list[RequestQuery] | None:
        """One statement per source for the request (None: it needs the per-model path)."""
        from ..spec.offsets import (
            OffsetError,  # lazy: compiling needs sqlglot, a cached plan does not
        )
        from ..sql.compiler import CompileError  # lazy: as above
        from ..sql.onequery import NotOneQuery, plan_request  # lazy: as above

        calendars = [q for q in queries if getattr(q, "calendar_grain", None)]  # run first: they are no KPIs
        scans = [q for q in queries if not getattr(q, "calendar_grain", None)]
        if not scans:
            return None
        try:  # (both callers pause the collector around it)
            return calendars + plan_request(self.project, names, scans, grain, start, end)
        except NotOneQuery:
            return None
        except (CompileError, OffsetError) as exc:
            raise SpecError([SpecIssue(str(exc), hint=exc.hint, code="compile")]) from None

    # -- compute ------------------------------------------------------------------
    def compute(self, kpis: Iterable[str] | None = None, grain: str = "week", by: Iterable[str] = (),
                start: date | None = None, end: date | None = None, where: str | None = None,
                fill: str | None = None, one_query: bool = True) -> ResultSet:
        """KPI values per period and dimension values.

        ``where``: a query filter over dimension names (``rep.team = 'a'``), applied to every model read;
        ``fill`` (zero|null) fills every KPI's gaps. ``one_query=False``: the per-model queries, formulas
        evaluated in Python, the same values (see :meth:`plan`).
        """
        t0 = time.perf_counter()
        by = list(by)
        names, queries = self.plan(kpis, grain, by, start, end, where, one_query=one_query)
        fills = fill_of(self.project, names, fill)
        if queries and _is_request(queries[0]) and any(fills.values()):
            from ..sql.windows import offset_chains  # lazy: only gap filling asks

            if any(offset_chains(self.project, names)):
                # A filled period reads its offsets' values at other periods: assembled in Python.
                names, queries = self.plan(kpis, grain, by, start, end, where, one_query=False)
        t_compile = time.perf_counter() - t0
        per_kpi: dict[str, list[KpiValue]] = {}
        aggregates: dict[str, dict[tuple, Any]] = {}  # kpi -> {(period, dims...): value}
        kinds: dict[str, str] = {}
        model_keys: dict[str, set[tuple]] = {}
        t1 = time.perf_counter()
        by_source: dict[str, list] = {}
        for q in queries:
            by_source.setdefault(q.source, []).append(q)
        leaves = {m for n in names for m in leaf_models(self.project, n)}
        # the watermarks of the models not asked yet, on the connections the values are read through
        ask, derived = direct_models(self.project, [m for m in leaves if m not in self._watermarks])
        t_marks = 0.0
        now_local = local_now(self.project, self.now)
        for source_name in list(by_source) + [s for s in ask if s not in by_source]:
            source = self.open_source(source_name)
            try:
                source.connect()
                for q in by_source.get(source_name, []):
                    result = source.execute(q.sql, timeout=self.timeout)
                    if getattr(q, "calendar_grain", None):  # a custom grain's periods (sql/calendar_sql.py)
                        remember_periods(q.calendar_grain, result.rows)
                    elif _is_request(q):
                        per_kpi.update(read_request(self.project, q, result.rows, start, end, fills))
                    else:
                        keys = self._read(q, result.rows, aggregates, kinds)
                        model_keys.setdefault(q.model, set()).update(keys)
                todo = [m for m in ask.get(source_name, []) if m.name not in self._watermarks]
                if todo:
                    t2 = time.perf_counter()
                    self._watermarks.update(read_watermarks(self, source, source_name, todo, now_local))
                    t_marks += time.perf_counter() - t2
            finally:
                source.close()
        derive(self.project, {m: p for m, p in derived.items() if m not in self._watermarks}, self._watermarks,
               now_local)
        t_query = time.perf_counter() - t1 - t_marks
        if per_kpi:
            rows = [v for name in names for v in per_kpi.get(name, ())]
        else:
            from .assemble import (
                assemble,  # lazy: only the per-model path puts values together in Python
            )

            rows = assemble(self.project, names, grain, by, aggregates, model_keys, start, end, fills,
                            programs=self._formula_programs(names))
        t2 = time.perf_counter()
        marks = self.watermarks(leaves)
        mark_complete(self.project, rows, marks, start=start, end=end)
        t_marks += time.perf_counter() - t2
        return ResultSet(grain=grain, by=by, start=start, end=end, kpis=names, rows=rows, queries=queries,
                         spec_version=self.project.version, watermarks=marks,
                         timings={"compile_s": t_compile, "query_s": t_query, "watermark_s": t_marks,
                                  "total_s": time.perf_counter() - t0})

    def _formula_programs(self, names: list[str]):
        """The request's formulas as plain trees (``assemble.formula_programs``), kept with the spec cache
        so that assembling from a cached plan imports no sqlglot; None without a cache, or when a formula
        reads another period (then ``assemble`` evaluates the sqlglot trees)."""
        cache = getattr(self.project, "cache", None)
        if cache is None:
            return None
        if not any(self.project.kpis[n].is_formula for n in names):
            return {}
        key = repr(tuple(names))
        found = cache.get(_FORMULAS, key)
        if found is None:  # stored in a dict: None is a result (offsets), a missing entry is not
            from .assemble import formula_programs  # lazy: only the per-model path puts values together

            found = {"programs": formula_programs(self.project, names)}
            cache.put(_FORMULAS, key, found)
        return found["programs"]

    @staticmethod
    def _read(q: CompiledQuery, rows, aggregates, kinds) -> set[tuple]:
        ndims = len(q.dim_aliases)
        keys = set()
        for row in rows:
            if row[0] is None:
                raise KpiEngineError(_unreadable_time_message(q, row))
            key = (normalize_date(row[0]),) + tuple(normalize_value(v) for v in row[1:1 + ndims])
            keys.add(key)
            pos = 1 + ndims
            for col in q.columns:
                vals = [normalize_number(v) for v in row[pos:pos + len(col.aliases)]]
                pos += len(col.aliases)
                if col.aggregate == "avg":
                    total, count = vals
                    value = None if not count else float(total) / count
                else:
                    value = vals[0]
                    if value is None and col.aggregate in _ADDITIVE:
                        value = 0
                aggregates.setdefault(col.kpi, {})[key] = value
                kinds[col.kpi] = col.aggregate
        return keys


#: the spec cache's kind for the formulas of a request as plain trees (Engine._formula_programs)
_FORMULAS = "formulas"


def _is_request(q) -> bool:
    return hasattr(q, "outputs")  # a one-statement request (sql.onequery), also when read from the plan cache


def _unreadable_time_message(q: CompiledQuery, row) -> str:
    return unreadable_message(q.model, q.grain, q.time_format, row[-1] if q.time_format else None)
