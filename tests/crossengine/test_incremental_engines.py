"""Incremental runs on every engine: new rows after the last count, late rows and deletes, against plain Python.

The day counts of an incremental run first count only the rows after each model's latest time
when it was last counted, comparing the bare time column with a literal the warehouse wrote
itself (``CAST(MAX(ts) AS TEXT)``). That round trip is the engine-specific part: if an engine
read its own text back as another moment, the run would still be exact (the totals would not add
up and it would count again from further back) but slow. So each case checks both: the values
equal a plain Python computation over the rows the test inserted, and a run after new rows only
asked the warehouse one day-counts statement, the one after the latest time.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import yaml

import kpiengine.run.incremental as incremental
from kpiengine.loader import load_project
from kpiengine.run.runs import execute_run
from kpiengine.sql.sincetemplate import After

START = datetime(2026, 1, 5)  # a Monday
TABLE = "ce_inc_events"


def rows_for(day: int, n: int, first_id: int) -> list[tuple]:
    """Rows of one day; the first at midnight exactly, one without a region."""
    return [(first_id + i, START + timedelta(days=day, hours=(i * 5) % 24, minutes=i % 60),
             [None, "east", "west"][i % 3], 1 + (i * 7) % 6) for i in range(n)]


class Table:
    """The events table of one engine: rows kept here too, for the Python reference."""

    def __init__(self, engine: str, request, tmp_path):
        self.engine, self.rows = engine, []
        if engine == "duckdb":
            import duckdb

            self.path = str(tmp_path / "inc.duckdb")
            with duckdb.connect(self.path) as con:
                con.execute(f"CREATE TABLE {TABLE} (id INTEGER, ts TIMESTAMP, region VARCHAR, rep INTEGER)")
            self.source = {"type": "duckdb", "path": self.path}
        elif engine == "sqlite":
            import sqlite3

            self.path = str(tmp_path / "inc.sqlite")
            with sqlite3.connect(self.path) as con:
                con.execute(f"CREATE TABLE {TABLE} (id INTEGER, ts TEXT, region TEXT, rep INTEGER)")
            self.source = {"type": "sqlite", "path": self.path}
        elif engine == "postgres":
            self.con = request.getfixturevalue("pg_conn")
            self.con.execute(f"DROP TABLE IF EXISTS {TABLE}")
            self.con.execute(f"CREATE TABLE {TABLE} (id int, ts timestamp, region text, rep int)")
            self.source = {"type": "postgres", **request.getfixturevalue("postgres_source_options")}
        elif engine == "mariadb":
            self.con = request.getfixturevalue("mysql_conn")
            with self.con.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
                cur.execute(f"CREATE TABLE {TABLE} (id INT, ts DATETIME, region VARCHAR(10), rep INT)")
            self.source = {"type": "mysql", **request.getfixturevalue("mysql_params")}
        else:
            self.spark = request.getfixturevalue("spark")
            self.source = {"type": "spark"}

    def insert(self, rows: list[tuple]) -> None:
        self.rows += rows
        self._write(rows=rows)

    def delete(self, keep) -> None:
        gone = [r for r in self.rows if not keep(r)]
        self.rows = [r for r in self.rows if keep(r)]
        self._write(deleted=[r[0] for r in gone])

    def _write(self, rows=(), deleted=()) -> None:
        if self.engine == "spark":  # a temporary view holds the rows: built again whole
            self.spark.createDataFrame(self.rows, "id int, ts timestamp, region string, rep int"
                                       ).createOrReplaceTempView(TABLE)
            return
        ids = ", ".join(str(i) for i in deleted)
        if self.engine == "duckdb":
            import duckdb

            with duckdb.connect(self.path) as con:
                if rows:
                    con.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", list(rows))
                if deleted:
                    con.execute(f"DELETE FROM {TABLE} WHERE id IN ({ids})")
        elif self.engine == "sqlite":
            import sqlite3

            with sqlite3.connect(self.path) as con:
                con.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",
                                [(i, ts.isoformat(sep=" "), region, rep) for i, ts, region, rep in rows])
                if deleted:
                    con.execute(f"DELETE FROM {TABLE} WHERE id IN ({ids})")
            con.close()
        else:  # PostgreSQL and MariaDB: both drivers take %s placeholders
            with self.con.cursor() as cur:
                if rows:
                    cur.executemany(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s)", list(rows))
                if deleted:
                    cur.execute(f"DELETE FROM {TABLE} WHERE id IN ({ids})")


def python_values(rows: list[tuple]) -> dict[tuple, float]:
    """{(kpi, week, region): value}: events and distinct reps per week and region, in plain Python."""
    events: dict[tuple, int] = {}
    reps: dict[tuple, set] = {}
    for _id, ts, region, rep in rows:
        week = ts.date() - timedelta(days=ts.weekday())
        events[week, region] = events.get((week, region), 0) + 1
        reps.setdefault((week, region), set()).add(rep)
    out = {("events", w, r): n for (w, r), n in events.items()}
    out.update({("reps", w, r): len(s) for (w, r), s in reps.items()})
    return out


def write_spec(folder, source: dict) -> str:
    spec = {"project": {"name": "inc", "timezone": "UTC", "history": str(folder / "hist.db"),
                        "default_source": "wh"},
            "sources": {"wh": source},
            "models": {"events": {"table": TABLE, "time": "ts", "dimensions": {"region": "region"}}},
            "kpis": {"events": {"label": "Events", "model": "events", "aggregate": "count"},
                     "reps": {"label": "Reps", "model": "events", "aggregate": "count_distinct",
                              "column": "rep"}}}
    (folder / "spec.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return str(folder)


@pytest.fixture
def day_count_steps(monkeypatch):
    """The since of every model of each day-counts statement a run asks, in order."""
    asked: list[dict] = []
    real = incremental.day_rows

    def counting(engine, source_name, wanted):
        asked.append(dict(wanted))
        return real(engine, source_name, wanted)

    monkeypatch.setattr(incremental, "day_rows", counting)
    return asked


ENGINES = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("mariadb", marks=pytest.mark.mysql), pytest.param("spark", marks=pytest.mark.spark)]


@pytest.mark.parametrize("engine", ENGINES)
def test_incremental_runs_equal_python_and_count_only_the_new_rows(engine, request, tmp_path, day_count_steps):
    table = Table(engine, request, tmp_path)
    for day in range(20):
        table.insert(rows_for(day, 8, day * 100))
    spec = write_spec(tmp_path, table.source)

    def run():
        rs = execute_run(load_project(spec), [], "week", ["region"], None, None, incremental=True)
        got = {(r.kpi, r.period_start, r.dimensions["region"]): r.value for r in rs.rows}
        assert got == python_values(table.rows)
        return rs

    first = run()
    assert first.incremental.recomputed_from is None

    # rows later on the last day (after its latest time) and a new day: one statement, after the latest time
    day_count_steps.clear()
    last = START + timedelta(days=19)
    table.insert([(5000, last + timedelta(hours=23, minutes=30), "east", 9)] + rows_for(20, 5, 6000))
    new = run()
    assert new.incremental.recomputed_from == date(2026, 1, 19)  # the week of day 19 and day 20
    assert len(day_count_steps) == 1 and isinstance(day_count_steps[0]["events"], After)

    # a late row in an old week and a deleted day: the totals do not add up, so it counts further back
    day_count_steps.clear()
    table.insert([(7000, START + timedelta(days=3, hours=2), "west", 42)])
    table.delete(lambda r: r[1].date() != (START + timedelta(days=9)).date())
    late = run()
    assert late.incremental.recomputed_from == date(2026, 1, 5)
    assert len(day_count_steps) > 1

    day_count_steps.clear()
    quiet = run()
    assert quiet.incremental.reason == "nothing changed"
    assert len(day_count_steps) == 1
