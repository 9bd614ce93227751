"""KPI values for the dashboard: from the history store, else computed live by the engine.

History is the record of what `kpi run` saw, so it wins whenever it holds the
requested grain and breakdown. A breakdown nobody ran (say ``by rep`` for the
bubble chart) is computed on the warehouse instead, and the page says so.
The dashboard is read-only: it never creates the history file nor records runs.
"""
from __future__ import annotations

import math
import os
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import date

from ..errors import KpiEngineError
from ..run.engine import Engine
from ..run.history import HistoryStore
from ..run.watermarks import mark_complete
from ..spec.dimensions import available_dimensions, supports
from ..spec.entities import where_dimensions
from ..spec.model import Project
from .values import ValueTable, same_value  # noqa: F401 (re-exported for the feeds)


def history_file(project: Project) -> str | None:
    """Path of the project's history file when it exists (same rule as HistoryStore.for_project)."""
    path = os.environ.get("KPIENGINE_HISTORY") or project.history_path
    if path == ":memory:":
        return None
    if not os.path.isabs(path):
        path = os.path.join(project.folder, path)
    return path if os.path.exists(path) else None


def latest_run(project: Project) -> dict | None:
    """The newest successful run (id, finished_at, grain, by), read without creating anything."""
    path = history_file(project)
    if not path:
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT id, finished_at, grain, by_dims FROM runs WHERE status = 'ok' "
                              "ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    if not row:
        return None
    return {"id": row[0], "finished_at": row[1], "grain": row[2], "by": row[3]}


def supporting(project: Project, kpis: list[str], by: list[str]) -> list[str]:
    """The KPIs that can be broken down by every dimension in ``by``."""
    if not by:
        return list(kpis)

    return [k for k in kpis if all(d in available_dimensions(project, k) for d in by)]


def where_capable(project: Project, kpis: list[str], where: str) -> list[str]:
    """The KPIs the engine can compute under ``where``: every dimension it names reachable from the KPI.

    The engine refuses the whole request otherwise; the page leaves those KPIs out and says so.
    """
    dims = where_dimensions(where, "duckdb")
    return [name for name in kpis if supports(project, name, dims)]


def sql_literal(value) -> str:
    """A dimension value as a SQL literal of its own type: 'east' (quotes doubled), 3, 2.5, TRUE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):  # NaN and infinity have no literal all engines read alike
            raise ValueError(f"{value!r} has no SQL literal")
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def has_literals(typed: dict) -> bool:
    """Whether every value of a segment can be written into a query filter (NaN and infinity cannot)."""
    try:
        for value in typed.values():
            if value is not None:
                sql_literal(value)
    except ValueError:
        return False
    return True


def segment_where(typed: dict, where: str | None = None) -> str:
    """The query filter of a segment ({"region": "east", "rep": None}), joined to the page's own ``where``."""
    parts = [f"{d} IS NULL" if v is None else f"{d} = {sql_literal(v)}" for d, v in typed.items()]
    if where:
        parts.append(f"({where})")
    return " AND ".join(parts)


@dataclass
class Loaded:
    table: ValueTable
    origin: str  # history | warehouse | mixed | none
    error: str | None = None
    missing: list[str] = field(default_factory=list)  # KPIs with no value anywhere


class _Judged:
    """One (KPI, period) for ``mark_complete``: completeness is the same for every breakdown value."""

    __slots__ = ("kpi", "period_start", "grain", "complete", "maturing")

    def __init__(self, kpi: str, period_start: date, grain: str):
        self.kpi, self.period_start, self.grain = kpi, period_start, grain


class ValueLoader:
    """Loads values for one request; keeps one engine so sources open once per kind of query."""

    def __init__(self, project: Project, *, allow_engine: bool = True, registry=None, where: str | None = None,
                 shared=None):
        self.project = project
        self.shared = shared  # a SharedResults: values another address of the live page loaded a moment ago
        self.allow_engine = allow_engine
        self.registry = registry
        self.where = where  # a checked query filter (options.parse_where): values computed with it, never stored
        self._engine = None
        self._store = None
        self._marks = None
        self._typed: dict[tuple, dict] = {}  # segment -> its values as the data types them (see load)
        path = history_file(project)
        if path:
            self._store = HistoryStore(path)

    def engine(self):
        if self._engine is None:
            self._engine = Engine(self.project, self.registry)
        return self._engine

    def watermarks(self) -> dict:
        """How far each model's data reaches, as the latest runs stored it (else asked live, once)."""
        if self._marks is None:
            marks = {}
            if self._store is not None:
                try:
                    marks = self._store.watermarks(self.project)
                except sqlite3.Error:
                    marks = {}
            if not marks and self.allow_engine:
                try:
                    marks = self.engine().watermarks()
                except KpiEngineError:
                    marks = {}
            self._marks = marks
        return self._marks

    def load(self, kpis: list[str], grain: str, by: list[str], start: date | None, end: date | None,
             segment: dict | None = None) -> Loaded:
        """Values of ``kpis`` by ``by``; with a ``segment`` ({"region": "east"}) only that segment's values.

        A segment is read from history as one more breakdown (by region and channel
        for channel within east) and then cut. What history lacks is computed on the
        warehouse with the segment as a query filter (``region = 'east'``) once this
        request knows the segment's values as the data types them (from the first
        cut, see ``_typed``): the same rows make the same numbers, formulas included,
        and the warehouse aggregates one region instead of all four (by channel
        within east: 5,300 values to read instead of 26,500).
        """
        if segment:
            dims = list(segment) + [d for d in by if d not in segment]
            typed = self._typed.get(tuple(segment.items()))
            if typed is None or not self.allow_engine or not has_literals(typed):
                loaded = self.load(kpis, grain, dims, start, end)
                self._remember_types(segment, loaded.table)
                return replace(loaded, table=loaded.table.in_segment(segment))  # a shared Loaded stays as it is
            # the KPIs the cut would give (broken down by the segment's dimensions too), filtered instead
            kpis = supporting(self.project, kpis, dims)
            if self.shared is not None:
                key = ("segment values", self.project.version, tuple(kpis), grain, tuple(by), start, end, self.where,
                       tuple(segment.items()))
                return self.shared.get(key, lambda: self._load_segment(kpis, grain, by, dims, start, end, segment,
                                                                       typed))
            return self._load_segment(kpis, grain, by, dims, start, end, segment, typed)
        if self.shared is not None:
            key = ("values", self.project.version, tuple(kpis), grain, tuple(by), start, end, self.where,
                   self.allow_engine)
            return self.shared.get(key, lambda: self._load(kpis, grain, by, start, end))
        return self._load(kpis, grain, by, start, end)

    def _remember_types(self, segment: dict, table: ValueTable) -> None:
        """The segment's values as the data types them (3, not "3"), from a table broken down by its dimensions."""
        for kpi in table.kpis:
            for key in table.keys(kpi):
                dims = dict(key)
                if all(d in dims and same_value(dims[d], v) for d, v in segment.items()):
                    self._typed[tuple(segment.items())] = {d: dims[d] for d in segment}
                    return

    def _load_segment(self, kpis: list[str], grain: str, by: list[str], dims: list[str], start: date | None,
                      end: date | None, segment: dict, typed: dict) -> Loaded:
        """History by the segment's dimensions and ``by``, cut; the rest computed with the segment as a filter."""
        stored = self._load(kpis, grain, dims, start, end, engine=False)
        table = stored.table.in_segment(segment)
        todo = [k for k in kpis if not table.has(k)]
        filtered = segment_where(typed, self.where)
        todo = where_capable(self.project, todo, filtered)
        origin, error = stored.origin, stored.error
        if todo:
            try:
                rs = self.engine().compute(todo, grain, by, start, end, where=filtered)
                table.add(rs.rows)
                origin = "warehouse" if origin == "none" else "mixed"
            except KpiEngineError as exc:
                error = str(exc)
        return Loaded(table, origin, error, [k for k in kpis if not table.has(k)])

    def _load(self, kpis: list[str], grain: str, by: list[str], start: date | None, end: date | None,
              engine: bool = True) -> Loaded:
        kpis = supporting(self.project, kpis, by)
        if self.where:
            kpis = where_capable(self.project, kpis, self.where)
        if not kpis:
            return Loaded(ValueTable(), "none", missing=[])
        table, origin, error = ValueTable(), "none", None
        if self.where and not self.allow_engine:
            return Loaded(table, "none", "a where filter is computed on the warehouse, which this view may not query",
                          missing=list(kpis))
        if self._store is not None and not self.where:  # history holds unfiltered values only
            try:
                # The store reads in one pass over the index, so the KPIs and the period range are
                # asked for there: the team's bubbles need one period of 26, not the whole breakdown.
                stored = self._store.latest_values(kpis, grain, by, start, end)
            except sqlite3.Error as exc:  # a locked or damaged file: say so, try the warehouse
                stored, error = [], f"history file unreadable: {exc}"
            if stored:
                origin = "history"
                table = ValueTable.from_tuples(stored, self._judge(stored, grain))
        todo = [k for k in kpis if not table.has(k)]
        if todo and self.allow_engine and engine:
            try:
                rs = self.engine().compute(todo, grain, by, start, end, where=self.where)
                table.add(rs.rows)
                origin = "warehouse" if origin == "none" else "mixed"
            except KpiEngineError as exc:
                error = str(exc)
        return Loaded(table, origin, error, [k for k in kpis if not table.has(k)])

    def _judge(self, stored: list[tuple], grain: str) -> dict:
        """(complete, maturing) per stored (KPI, period): stored values carry no mark of their own."""
        judged: dict = {}
        for k, p, _d, _v in stored:
            if (k, p) not in judged:  # one per (KPI, period), not one per breakdown value
                judged[(k, p)] = _Judged(k, p, grain)
        mark_complete(self.project, judged.values(), self.watermarks())
        return {key: (j.complete, j.maturing) for key, j in judged.items()}
