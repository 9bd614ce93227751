"""A web shop whose export ends on a Wednesday afternoon, mid-month, loaded into DuckDB, SQLite and PostgreSQL.

Orders run from Monday 2026-01-05 to Wednesday 2026-03-11 14:00 (the last
order), so the week of 2026-03-09, the month of March and the day 2026-03-11
are partial; everything before is complete. Expected values are counted here in
plain Python from the same rows.
"""
from __future__ import annotations

import sqlite3
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

FIRST = datetime(2026, 1, 5)
LAST = datetime(2026, 3, 11, 14, 0)  # a Wednesday, mid-month
REGIONS = ("east", "west", None)


def make_orders(first: datetime = FIRST, last: datetime = LAST) -> list[tuple]:
    """(id, region, amount, ts): one order every two hours, from ``first`` to ``last`` inclusive."""
    rows, ts, i = [], first, 1
    while ts <= last:
        rows.append((i, REGIONS[i % 3], float(10 + i % 7), ts))
        ts += timedelta(hours=2)
        i += 1
    return rows


def week_of(d: date) -> date:
    return d - timedelta(days=d.weekday())


def count_by(rows, key) -> dict:
    out: dict = {}
    for row in rows:
        k = key(row)
        out[k] = out.get(k, 0) + 1
    return out


SPEC = """
project: {{name: shop, timezone: UTC, history: hist.db}}
sources:
  w: {source}
models:
  orders:
    table: {table}
    time: ts
    entity: id
    max_delay: 1d
    dimensions: {{region: region}}
kpis:
  orders: {{label: Orders, model: orders, aggregate: count, unit: count}}
  revenue: {{label: Revenue, model: orders, aggregate: sum, column: amount, unit: currency}}
  avg_order: {{label: Average order, formula: revenue / orders}}
rules:
  orders_drop:
    kpi: orders
    type: change
    grain: week
    compare: previous
    warning: {{below: -25%}}
  orders_fresh:
    type: freshness
    model: orders
    severity: warning
sinks:
  log: {{type: file, path: "{outbox}"}}
routes:
  sinks: [log]
  send_resolved: true
  repeat_interval: 30d
"""


def write_spec(folder: Path, source: str, table: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yml").write_text(SPEC.format(source=source, table=table, outbox=folder / "alerts.jsonl") + extra,
                                     encoding="utf-8")
    return folder


def load_duckdb(path: Path, rows, table: str = "orders") -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute(f"CREATE OR REPLACE TABLE {table} (id INTEGER, region VARCHAR, amount DOUBLE, ts TIMESTAMP)")
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)
    con.close()


def load_sqlite(path: Path, rows, table: str = "orders") -> None:
    con = sqlite3.connect(path)
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TABLE {table} (id INTEGER, region TEXT, amount REAL, ts TEXT)")
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)",
                    [(i, r, a, ts.isoformat(sep=" ")) for i, r, a, ts in rows])
    con.commit()
    con.close()


def load_postgres(dsn: str, rows, table: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"CREATE TABLE {table} (id int, region text, amount double precision, ts timestamp)")
        with con.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


@pytest.fixture(params=["duckdb", "sqlite", "postgres"])
def shop(request, tmp_path):
    """(engine, spec folder, loader(rows)) for the mid-week fixture on each engine."""
    engine = request.param
    rows = make_orders()
    if engine == "duckdb":
        db = tmp_path / "w.duckdb"
        loader = lambda data: load_duckdb(db, data)
        source, table = f'{{type: duckdb, path: "{db}"}}', "orders"
    elif engine == "sqlite":
        db = tmp_path / "w.sqlite"
        loader = lambda data: load_sqlite(db, data)
        source, table = f'{{type: sqlite, path: "{db}"}}', "orders"
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        opts = request.getfixturevalue("postgres_source_options")
        table = f"trust_orders_{uuid.uuid4().hex[:10]}"
        loader = lambda data: load_postgres(dsn, data, table)
        source = ("{{type: postgres, host: {host}, port: {port}, dbname: {dbname}, user: {user}, "
                  "search_path: {search_path}}}".format(**opts))
    loader(rows)
    folder = write_spec(tmp_path / "specs", source, table)
    return engine, folder, loader, rows
