"""Naive timestamps of a local-time export: ``time_zone:`` on the model, or ``local_date: true``.

A Berlin shop exports wall-clock times. Read as UTC (the default), an order at
23:30 on 1 March moves to 2 March in a Berlin project; with ``time_zone:
Europe/Berlin`` it stays on the day it happened. The expected days are those
of the exported wall-clock times, counted in Python. SQLite has no time zones:
a model in the project's own zone needs no conversion there, and works.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from kpiengine.cli import main

ORDERS = [(1, datetime(2026, 3, 1, 23, 30)), (2, datetime(2026, 3, 1, 12, 0)), (3, datetime(2026, 3, 2, 0, 15)),
          (4, datetime(2026, 3, 2, 22, 59)), (5, datetime(2026, 3, 3, 23, 59))]

SPEC = """
project: {{name: berlin, timezone: Europe/Berlin, history: hist.db}}
sources:
  w: {source}
models:
  orders: {{table: {table}, time: ts{model_extra}}}
kpis:
  orders: {{label: Orders, model: orders, aggregate: count, unit: count}}
"""


def by_day(rows) -> dict[str, int]:
    out: dict[str, int] = {}
    for _i, ts in rows:
        out[ts.date().isoformat()] = out.get(ts.date().isoformat(), 0) + 1
    return out


def run_days(folder) -> tuple[dict[str, int], dict]:
    res = CliRunner().invoke(main, ["run", "-s", str(folder), "-g", "day", "--format", "json", "--no-history"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    return {r["period_start"]: r["value"] for r in doc["rows"]}, doc


@pytest.fixture(params=["duckdb", "postgres"])
def engine_source(request, tmp_path):
    if request.param == "duckdb":
        import duckdb

        db = tmp_path / "w.duckdb"
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE orders (id INTEGER, ts TIMESTAMP)")
        con.executemany("INSERT INTO orders VALUES (?, ?)", ORDERS)
        con.close()
        return f'{{type: duckdb, path: "{db}"}}', "orders"
    import psycopg

    dsn = request.getfixturevalue("postgres_dsn")
    opts = request.getfixturevalue("postgres_source_options")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS trust_tz_orders")
        con.execute("CREATE TABLE trust_tz_orders (id int, ts timestamp)")
        for row in ORDERS:
            con.execute("INSERT INTO trust_tz_orders VALUES (%s, %s)", row)
    return ("{{type: postgres, host: {host}, port: {port}, dbname: {dbname}, user: {user}, "
            "search_path: {search_path}}}".format(**opts), "trust_tz_orders")


def write(tmp_path, source, table, model_extra="") -> object:
    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    (folder / "s.yml").write_text(SPEC.format(source=source, table=table, model_extra=model_extra),
                                  encoding="utf-8")
    return folder


def test_time_zone_keeps_local_times_on_their_day(tmp_path, engine_source):
    source, table = engine_source
    days, doc = run_days(write(tmp_path, source, table, ", time_zone: Europe/Berlin"))
    assert days == by_day(ORDERS)
    assert doc["watermarks"]["orders"]["reach"] == "2026-03-03 23:59:00"  # read in Berlin, shown in Berlin
    # read as UTC (no time_zone), the 23:30 order of 1 March lands on 2 March: what the option fixes
    utc_days, _ = run_days(write(tmp_path, source, table))
    berlin_of_utc = [(i, t + timedelta(hours=1)) for i, t in ORDERS]  # CET is UTC+1 in early March
    assert utc_days == by_day(berlin_of_utc) != by_day(ORDERS)


def test_local_date_and_same_zone_need_no_conversion_on_sqlite(tmp_path):
    db = tmp_path / "w.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (id INTEGER, ts TEXT)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, t.isoformat(sep=" ")) for i, t in ORDERS])
    con.commit()
    con.close()
    source = f'{{type: sqlite, path: "{db}"}}'
    for extra in (", time_zone: Europe/Berlin", ", local_date: true"):
        days, _ = run_days(write(tmp_path, source, "orders", extra))
        assert days == by_day(ORDERS), extra
    res = CliRunner().invoke(main, ["run", "-s", str(write(tmp_path, source, "orders", ", time_zone: Asia/Tokyo")),
                                    "-g", "day", "--no-history"], catch_exceptions=False)
    assert res.exit_code != 0 and "cannot be applied on sqlite" in res.output and "Traceback" not in res.output


def test_bad_zone_and_delay_are_located_errors(tmp_path):
    folder = write(tmp_path, '{type: duckdb, path: ":memory:"}', "orders",
                   ", time_zone: Europe/Berlln, max_delay: soon")
    res = CliRunner().invoke(main, ["validate", "-s", str(folder)], catch_exceptions=False)
    assert res.exit_code != 0
    assert "s.yml:6:" in res.output and "unknown time zone 'Europe/Berlln'" in res.output
    assert "max_delay 'soon' is not a duration" in res.output and "Traceback" not in res.output
