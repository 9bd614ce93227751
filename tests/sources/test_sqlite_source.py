"""SQLite connector: results, read-only access, and the errors a user can cause."""
from __future__ import annotations

import sqlite3
import time

import pytest

from kpiengine_plugins.sqlite_source import SQLiteSource


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (id INTEGER, region TEXT, amount REAL)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                    [(i, ["east", "west", None][i % 3], i * 1.5) for i in range(1, 31)])
    con.commit()
    con.close()
    return str(path)


def test_query_returns_driver_rows(db_path):
    with SQLiteSource("shop", {"path": db_path}) as src:
        result = src.execute("SELECT region, count(*), sum(amount) FROM orders GROUP BY region ORDER BY region")
    assert result.columns == ["region", "count(*)", "sum(amount)"]
    expected = {}
    for i in range(1, 31):
        key = ["east", "west", None][i % 3]
        n, total = expected.get(key, (0, 0.0))
        expected[key] = (n + 1, total + i * 1.5)
    assert {r[0]: (r[1], r[2]) for r in result.rows} == expected
    assert all(type(r) is tuple for r in result.rows)


def test_session_is_read_only(db_path, source_error):
    with SQLiteSource("shop", {"path": db_path}) as src:
        text = source_error(lambda: src.execute("DELETE FROM orders"), "shop")
    assert "readonly" in text
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM orders").fetchone()[0] == 30


def test_missing_file_is_not_created(tmp_path, source_error):
    path = tmp_path / "nope.sqlite"
    text = source_error(SQLiteSource("shop", {"path": str(path)}).connect, "shop")
    assert "does not exist" in text and "hint:" in text
    assert not path.exists()


def test_not_a_database(tmp_path, source_error):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not SQLite\n" * 100)
    text = source_error(SQLiteSource("shop", {"path": str(path)}).connect, "shop")
    assert "not a database" in text


def test_missing_table_has_a_hint(db_path, source_error):
    with SQLiteSource("shop", {"path": db_path}) as src:
        text = source_error(lambda: src.execute("SELECT * FROM ordres"), "shop")
    assert "no such table: ordres" in text and "`table:`" in text


def test_timeout_interrupts_a_long_query(db_path, source_error):
    endless = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
               "SELECT count(*) FROM n")
    with SQLiteSource("shop", {"path": db_path}) as src:
        started = time.monotonic()
        text = source_error(lambda: src.execute(endless, timeout=0.3), "shop")
        elapsed = time.monotonic() - started
        assert "timeout" in text and elapsed < 5
        # The deadline does not leak into the next query.
        assert src.execute("SELECT count(*) FROM orders").rows == [(30,)]


def test_table_columns(db_path):
    with SQLiteSource("shop", {"path": db_path}) as src:
        assert src.table_columns("orders") == ["id", "region", "amount"]
        assert src.table_columns("main.orders") == ["id", "region", "amount"]
        assert src.table_columns("missing") is None


def test_close_twice_and_after_failed_connect(tmp_path):
    src = SQLiteSource("shop", {"path": str(tmp_path / "nope.sqlite")})
    with pytest.raises(Exception):
        src.connect()
    src.close()
    src.close()
