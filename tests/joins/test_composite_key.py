"""A composite entity key (country, store number) joins on every column, on DuckDB and SQLite.

A sale whose key is half NULL, or names a store that does not exist in that
country, lands in the NULL city; the values equal a hand-written join.
"""
from __future__ import annotations

import sqlite3
from datetime import date

import duckdb
import pytest
import yaml

from kpiengine.engine import Engine
from kpiengine.loader import load_project

STORES = [("DE", 1, "Berlin"), ("DE", 2, "Hamburg"), ("FR", 1, "Paris")]
SALES = [(i, c, n, 10 * i, f"2026-01-{5 + i % 20:02d} 10:00:00")
         for i, (c, n) in enumerate([("DE", 1), ("DE", 2), ("FR", 1), ("FR", 2), (None, 1), ("DE", None)] * 5, 1)]
HAND = """SELECT s.city, COUNT(*), SUM(x.amount) FROM sales x
          LEFT JOIN stores s ON x.country = s.country_code AND x.store_no = s.number GROUP BY s.city"""


def _load(con, ts_type: str):
    con.execute("CREATE TABLE stores (country_code VARCHAR(2), number INTEGER, city VARCHAR(20))")
    con.execute(f"CREATE TABLE sales (sale_id INTEGER, country VARCHAR(2), store_no INTEGER, amount INTEGER, "
                f"ts {ts_type})")
    con.executemany("INSERT INTO stores VALUES (?, ?, ?)", STORES)
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", SALES)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_composite_key_join_matches_hand_written_sql(engine, tmp_path):
    path = str(tmp_path / f"w.{engine}")
    con = duckdb.connect(path) if engine == "duckdb" else sqlite3.connect(path)
    _load(con, "TIMESTAMP" if engine == "duckdb" else "TEXT")
    if engine == "sqlite":
        con.commit()
    expected = {r[0]: (r[1], r[2]) for r in con.execute(HAND).fetchall()}
    con.close()
    spec = {"project": {"name": "ck", "default_source": "w"}, "sources": {"w": {"type": engine, "path": path}},
            "models": {"sales": {"table": "sales", "time": "ts",
                                 "entities": {"store": {"type": "foreign", "key": ["country", "store_no"]}}},
                       "stores": {"table": "stores",
                                  "entities": {"store": {"type": "primary", "key": ["country_code", "number"]}},
                                  "dimensions": {"city": "city"}}},
            "kpis": {"sales": {"label": "Sales", "model": "sales", "aggregate": "count"},
                     "amount": {"label": "Amount", "model": "sales", "aggregate": "sum", "column": "amount"}}}
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "spec.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    rs = Engine(load_project(str(tmp_path / "spec"))).compute(grain="year", by=["store.city"],
                                                            start=date(2026, 1, 1), end=date(2027, 1, 1))
    got = {}
    for r in rs.rows:
        got.setdefault(r.dimensions["store.city"], {})[r.kpi] = r.value
    assert {city: (v["sales"], v["amount"]) for city, v in got.items()} == expected
    assert expected[None][0] == 15  # FR-2 (no such store), a NULL country, a NULL number: 3 x 5 sales
