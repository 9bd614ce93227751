"""The local history store: every run's KPI values, in a SQLite file next to the specs.

Change-over-time rules, backtests, reports and the dashboard read history from
here, so nothing needs a cloud service. SQLite in WAL mode lets a dashboard read
while a run writes; writers take BEGIN IMMEDIATE so concurrent runs queue
instead of failing. A run is recorded in one transaction: it is stored whole
or not at all, never as a partial success.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..spec.model import Project
from . import keptvalues
from .engine import KpiValue, ResultSet
from .watermarks import Watermark, local_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    project TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    grain TEXT NOT NULL,
    by_dims TEXT NOT NULL,
    range_start TEXT,
    range_end TEXT,
    kpis TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    rows INTEGER NOT NULL DEFAULT 0,
    duration_s REAL
);
CREATE TABLE IF NOT EXISTS kpi_values (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    kpi TEXT NOT NULL,
    grain TEXT NOT NULL,
    by_dims TEXT NOT NULL,
    period_start TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS kpi_values_lookup ON kpi_values (kpi, grain, by_dims, period_start, dimensions, run_id);
CREATE INDEX IF NOT EXISTS kpi_values_run ON kpi_values (run_id);
-- Incremental runs (kpiengine.run.incremental): per request, the last run that holds all its values and
-- each model's rows per day when it was computed (the watermark is the last day with rows).
CREATE TABLE IF NOT EXISTS incremental_runs (
    signature TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    recomputed_from TEXT
);
-- How far each model's data reached at its latest run (kpiengine.run.watermarks): what the dashboard and
-- the report judge complete periods and stale models by without querying the warehouse.
CREATE TABLE IF NOT EXISTS watermarks (
    model TEXT PRIMARY KEY,
    reach TEXT,
    checked_at TEXT NOT NULL,
    run_id INTEGER,
    exact INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS incremental_days (
    signature TEXT NOT NULL,
    model TEXT NOT NULL,
    day TEXT NOT NULL,
    rows INTEGER NOT NULL,
    PRIMARY KEY (signature, model, day)
);
-- Each model's latest time (as its warehouse writes it) when those counts were taken: the next
-- incremental run counts only the rows after it.
CREATE TABLE IF NOT EXISTS incremental_reach (
    signature TEXT NOT NULL,
    model TEXT NOT NULL,
    reach TEXT,
    PRIMARY KEY (signature, model)
);
-- Every value of the request as of run_id in one text, as kpiengine kept it before incremental_periods
-- (kpiengine.run.keptvalues): read once, then replaced.
CREATE TABLE IF NOT EXISTS incremental_values (
    signature TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    payload TEXT NOT NULL
);
""" + keptvalues.SCHEMA


def _dims_key(by: Iterable[str]) -> str:
    return json.dumps(sorted(by))


def _dims_json(dims: dict) -> str:
    return json.dumps(dims, sort_keys=True, ensure_ascii=False, default=str)


class _DimsTexts(dict):
    """The JSON text of each combination of dimension values, encoded once: a run of thousands of values
    repeats a few combinations, and encoding each value's was most of the time spent writing a run."""

    def text(self, dims: dict) -> str:
        try:
            key = tuple(dims.items())
            found = self.get(key)
        except TypeError:  # an unhashable value: encode it each time
            return _dims_json(dims)
        if found is None:
            found = self[key] = _dims_json(dims)
        return found


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class HistoryStore:
    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        """``create=False``: the file and its tables are made by the first connection instead of now, for
        a caller that opens one right away (an incremental run's session: one connection, not two)."""
        self.path = str(path)
        self._held: sqlite3.Connection | None = None  # the connection of a session(), once opened
        self._in_session = False
        self._schema_ready = False
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if create:
            # Closed here: `with` on a sqlite3 connection only commits, and a connection is in a reference
            # cycle with its statement cache, so it stayed open until the cyclic collector ran.
            self.connect().close()

    @classmethod
    def for_project(cls, project: Project, *, create: bool = True) -> "HistoryStore":
        path = project.history_path
        if path != ":memory:" and not os.path.isabs(path):
            path = os.path.join(project.folder, path)
        return cls(os.environ.get("KPIENGINE_HISTORY") or path, create=create)

    def connect(self) -> sqlite3.Connection:
        """A new connection (WAL, 30 s busy timeout). Other modules keep their tables in this file."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            if not self._schema_ready or self.path == ":memory:":  # each :memory: connection is a new database
                con.executescript(SCHEMA)
                self._schema_ready = True
        except BaseException:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Let the store's reads and writes in the block share one connection: an incremental run reads
        its state and kept values, then records, and each opened the file and set its pragmas again.

        The connection is opened by the block's first read or write, not before: an incremental run
        starts opening the warehouse first, the longer of the two."""
        if self._in_session:  # nested: the outer block owns it
            yield
            return
        self._in_session = True
        try:
            yield
        finally:
            con, self._held, self._in_session = self._held, None, False
            if con is not None:
                con.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The session's connection (opened on first use), or a new one closed at the end of the block."""
        if self._in_session:
            if self._held is None:
                self._held = self.connect()
            yield self._held
            return
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    def record_run(self, project: Project, rs: ResultSet, *, status: str = "ok", error: str | None = None) -> int:
        """Store a run and its values atomically; returns the run id."""
        return self._record(project, rs, status, error)

    def _record(self, project: Project, rs: ResultSet, status: str, error: str | None, also=None,
                to_write=None) -> int:
        """Insert the run and its values, and whatever ``also(con, run_id)`` adds, in one transaction.

        ``to_write(con)``: which of the run's values go to kpi_values (default all), decided in the transaction.
        """
        with self._connection() as con:
            self._record_in(con, project, rs, status, error, also, to_write)
        return rs.run_id

    @staticmethod
    def _record_in(con, project, rs, status, error, also, to_write) -> None:
        """:meth:`_record` on ``con``; sets ``rs.run_id``."""
        try:
            con.execute("BEGIN IMMEDIATE")
            written = rs.rows if to_write is None else to_write(con)
            cur = con.execute(
                "INSERT INTO runs (started_at, finished_at, project, spec_version, grain, by_dims, range_start,"
                " range_end, kpis, status, error, rows, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (now_utc(), now_utc(), project.name, rs.spec_version or project.version, rs.grain, _dims_key(rs.by),
                 rs.start.isoformat() if rs.start else None, rs.end.isoformat() if rs.end else None,
                 json.dumps(rs.kpis), status, error, len(rs.rows), rs.timings.get("total_s")))
            run_id = cur.lastrowid
            by_key = _dims_key(rs.by)
            texts = _DimsTexts()
            con.executemany(
                "INSERT INTO kpi_values (run_id, kpi, grain, by_dims, period_start, dimensions, value)"
                " VALUES (?,?,?,?,?,?,?)",
                ((run_id, r.kpi, r.grain, by_key, r.period_start.isoformat(), texts.text(r.dimensions),
                  None if r.value is None else float(r.value)) for r in written))
            con.executemany(
                "INSERT OR REPLACE INTO watermarks (model, reach, checked_at, run_id, exact) VALUES (?,?,?,?,?)",
                ((str(w.model), w.reach.isoformat(sep=" ") if w.reach else None, w.now.isoformat(sep=" "), run_id,
                  int(w.exact)) for w in getattr(rs, "watermarks", {}).values() if not w.error))
            if also is not None:
                also(con, run_id)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        rs.run_id = run_id

    # -- incremental runs -----------------------------------------------------------------------
    def record_incremental(self, project: Project, rs: ResultSet, signature: str,
                           day_rows: dict[str, dict[str, int]], recomputed_from: date | None) -> int:
        """Store a run holding every value of its request, with the rows per day it was computed from.

        When the run kept the values of ``rs.incremental_base = (run id, restart)`` (the last run of
        the request, and the first period it recomputed; None: nothing changed), only the recomputed
        values are inserted into kpi_values: the kept ones are there already, stored by that run's
        chain, and :meth:`values` (the latest value of each key) reads the same as if they were written
        again, provided no other run of this grain and breakdown came between. Otherwise (and for a
        full computation) the run is stored whole. Every value of the request also goes to
        the kept values (:mod:`kpiengine.run.keptvalues`), where only the recomputed periods are
        replaced, for the next incremental run to keep.
        """
        base = getattr(rs, "incremental_base", None)
        # the values of the periods from the restart on, as the run computed them (else picked from rs.rows)
        fresh = getattr(rs, "incremental_fresh", None)
        if base is not None and fresh is None:
            fresh = [] if base[1] is None else [r for r in rs.rows if r.period_start >= base[1]]

        def to_write(con: sqlite3.Connection):
            if base is None or not self._chain_intact(con, signature, base[0], rs):
                return rs.rows
            return fresh

        def state(con: sqlite3.Connection, run_id: int) -> None:
            last = con.execute("SELECT run_id FROM incremental_runs WHERE signature = ?", (signature,)).fetchone()
            con.execute("INSERT OR REPLACE INTO incremental_runs (signature, run_id, recomputed_from) VALUES (?,?,?)",
                        (signature, run_id, recomputed_from.isoformat() if recomputed_from else None))
            self._store_days(con, signature, day_rows, base is not None and last is not None and last[0] == base[0],
                             getattr(rs, "incremental_days_from", None))
            con.execute("DELETE FROM incremental_reach WHERE signature = ?", (signature,))
            con.executemany("INSERT INTO incremental_reach (signature, model, reach) VALUES (?,?,?)",
                            ((signature, model, reach)
                             for model, reach in (getattr(rs, "incremental_reaches", None) or {}).items()))
            keptvalues.write(con, signature, run_id, rs.rows, base, fresh)
        return self._record(project, rs, "ok", None, state, to_write)

    @staticmethod
    def _store_days(con: sqlite3.Connection, signature: str, day_rows: dict[str, dict[str, int]], from_base: bool,
                    first_changed: date | None) -> None:
        """The request's rows per day. ``from_base``: the stored counts are those the run compared with,
        identical before ``first_changed`` (None: on every day), so only the days from there on are replaced."""
        if from_base and first_changed is None:
            return
        cut = first_changed.isoformat() if from_base else ""
        con.execute("DELETE FROM incremental_days WHERE signature = ? AND day >= ?", (signature, cut))
        con.executemany("INSERT INTO incremental_days (signature, model, day, rows) VALUES (?,?,?,?)",
                        ((signature, model, day, n) for model, days in day_rows.items()
                         for day, n in days.items() if day >= cut))

    @staticmethod
    def _chain_intact(con: sqlite3.Connection, signature: str, base_run: int, rs: ResultSet) -> bool:
        """Whether the values kept from ``base_run`` are still the latest stored for their keys: it is
        still the request's last run, its values text is there, and no run of the same grain and
        breakdown was recorded after it (its values would be the latest for some keys)."""
        last = con.execute("SELECT run_id FROM incremental_runs WHERE signature = ?", (signature,)).fetchone()
        if last is None or last[0] != base_run or keptvalues.kept_run(con, signature) != base_run:
            return False
        later = con.execute("SELECT 1 FROM runs WHERE id > ? AND grain = ? AND by_dims = ? LIMIT 1",
                            (base_run, rs.grain, _dims_key(rs.by))).fetchone()
        return later is None

    def incremental_values(self, signature: str, run_id: int, before: date | None = None
                           ) -> dict[str, list[KpiValue]] | None:
        """Every value of the request as of its last run ``run_id`` (of periods starting before
        ``before``), as computed, per KPI; None when history has none kept (written by an older kpiengine)."""
        with self._connection() as con:
            return keptvalues.read(con, signature, run_id, before)

    def incremental_state(self, signature: str
                          ) -> tuple[int, dict[str, dict[str, int]], dict[str, str | None]] | None:
        """(run id, {model: {day: rows}}, {model: latest time then}) of the last run of this request, or None."""
        with self._connection() as con:
            row = con.execute("SELECT run_id FROM incremental_runs WHERE signature = ?", (signature,)).fetchone()
            if row is None:
                return None
            days: dict[str, dict[str, int]] = {}
            for model, day, n in con.execute(
                    "SELECT model, day, rows FROM incremental_days WHERE signature = ?", (signature,)):
                days.setdefault(model, {})[day] = n
            reaches = dict(con.execute("SELECT model, reach FROM incremental_reach WHERE signature = ?",
                                       (signature,)).fetchall())
            return row[0], days, reaches

    def run_values(self, run_id: int, before: date | None = None) -> list[KpiValue]:
        """The values stored by one run (of periods starting before ``before``), as stored."""
        sql = "SELECT kpi, grain, period_start, dimensions, value FROM kpi_values WHERE run_id = ?"
        params: list[Any] = [run_id]
        if before is not None:
            sql += " AND period_start < ?"
            params.append(before.isoformat())
        with self._connection() as con:
            rows = con.execute(sql, params).fetchall()
        dims: dict[str, dict] = {}  # a breakdown repeats few combinations: parse each once (copies handed out)
        return [KpiValue(kpi=k, grain=g, period_start=date.fromisoformat(p),
                         dimensions=dict(dims.get(d) or dims.setdefault(d, json.loads(d))), value=v)
                for k, g, p, d, v in rows]

    def record_failure(self, project: Project, grain: str, by: list[str], kpis: list[str], error: str) -> int:
        """Record a failed run (no values): history shows it failed instead of silently missing it."""
        con = self.connect()
        try:
            cur = con.execute(
                "INSERT INTO runs (started_at, finished_at, project, spec_version, grain, by_dims, kpis, status,"
                " error) VALUES (?,?,?,?,?,?,?,?,?)",
                (now_utc(), now_utc(), project.name, project.version, grain, _dims_key(by), json.dumps(kpis),
                 "error", error))
            return cur.lastrowid
        finally:
            con.close()

    def values(self, kpis: Iterable[str] | None = None, grain: str = "week", by: Iterable[str] = (),
               start: date | None = None, end: date | None = None) -> list[KpiValue]:
        """The latest stored value for each (KPI, period, dimension values) at this grain and breakdown."""
        return [KpiValue(kpi=k, grain=grain, period_start=p, dimensions=dict(d), value=v)
                for k, p, d, v in self.latest_values(kpis, grain, by, start, end)]

    def latest_values(self, kpis: Iterable[str] | None = None, grain: str = "week", by: Iterable[str] = (),
                      start: date | None = None, end: date | None = None) -> list[tuple[str, date, dict, Any]]:
        """``values()`` as plain ``(kpi, period_start, dimensions, value)`` tuples, sorted by key.

        For readers that index tens of thousands of values (the dashboard by rep): no object per
        value, and one dimensions dict per distinct combination, shared by its rows (do not mutate).
        """
        by = list(by)
        where = ["v.grain = ?", "v.by_dims = ?"]
        params: list[Any] = [grain, _dims_key(by)]
        kpis = list(kpis or [])
        if kpis:
            where.append(f"v.kpi IN ({','.join('?' * len(kpis))})")
            params += kpis
        if start:
            where.append("v.period_start >= ?")
            params.append(start.isoformat())
        if end:
            where.append("v.period_start < ?")
            params.append(end.isoformat())
        # In key order, each key's runs oldest first, so the last row of a key is the latest run's value:
        # the index delivers that order (no sort in SQLite, none in Python), one pass keeps the last.
        # (The self-join on MAX(run_id) took 2.2 s by rep on the demo's history; a pass in run order
        # with a dict and a sort 0.27 s; this 0.15 s.)
        sql = (f"SELECT v.kpi, v.period_start, v.dimensions, v.value FROM kpi_values v "
               f"WHERE {' AND '.join(where)} ORDER BY v.kpi, v.period_start, v.dimensions, v.run_id")
        con = self.connect()
        try:
            rows = con.execute(sql, params).fetchall()
        finally:
            con.close()
        dims: dict[str, dict] = {}  # a breakdown has few distinct dimension texts: decode each once
        days: dict[str, date] = {}
        out: list[tuple[str, date, dict, Any]] = []
        last = None
        for k, p, d, v in rows:
            dd = dims.get(d)
            if dd is None:
                dd = dims[d] = json.loads(d)
            day = days.get(p)
            if day is None:
                day = days[p] = date.fromisoformat(p)
            key = (k, p, d)
            if key == last:
                out[-1] = (k, day, dd, v)  # a later run of the same key
            else:
                out.append((k, day, dd, v))
                last = key
        return out

    def watermarks(self, project: Project, now: float | None = None) -> dict[str, Watermark]:
        """The models' watermarks as their latest runs saw them, judged at ``now`` (staleness grows with time)."""
        con = self.connect()
        try:
            rows = con.execute("SELECT model, reach, exact FROM watermarks").fetchall()
        finally:
            con.close()
        now_local = local_now(project, now)
        return {m: Watermark(m, datetime.fromisoformat(r) if r else None, now_local, project.models[m].max_delay,
                             exact=bool(x)) for m, r, x in rows if m in project.models}

    def runs(self, limit: int = 20) -> list[dict]:
        con = self.connect()
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))]
        finally:
            con.close()
