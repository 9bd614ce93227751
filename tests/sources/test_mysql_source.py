"""MySQL/MariaDB connector against the real MariaDB server on 127.0.0.1:3306."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from kpiengine_plugins.mysql_source import MySQLSource

pytestmark = pytest.mark.mysql
SECRET = "hunter2-Very-Secret"


@pytest.fixture
def orders(mysql_conn):
    with mysql_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS orders")
        cur.execute("CREATE TABLE orders (id int, region varchar(10), amount decimal(10,2))")
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s)",
                        [(i, ["east", "west", None][i % 3], Decimal(i) / 4) for i in range(1, 41)])
    yield "orders"
    with mysql_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS orders")


def test_query_returns_rows(mysql_params, orders):
    with MySQLSource("shop", mysql_params) as src:
        assert src.is_mariadb
        result = src.execute("SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region")
    assert result.columns == ["region", "n", "total"]
    expected = {}
    for i in range(1, 41):
        key = ["east", "west", None][i % 3]
        n, total = expected.get(key, (0, Decimal(0)))
        expected[key] = (n + 1, total + Decimal(i) / 4)
    assert {r[0]: (r[1], r[2]) for r in result.rows} == expected


def test_session_is_read_only(mysql_params, orders, source_error):
    with MySQLSource("shop", mysql_params) as src:
        text = source_error(lambda: src.execute("DELETE FROM orders"), "shop")
        assert "READ ONLY" in text
        assert src.execute("SELECT count(*) FROM orders").rows == ((40,),)


def test_refused_connection(source_error):
    src = MySQLSource("shop", {"host": "127.0.0.1", "port": 1, "user": "root", "password": SECRET,
                               "connect_timeout": 2})
    text = source_error(src.connect, "shop", secrets=(SECRET,))
    assert "cannot reach the server at 127.0.0.1:1" in text and "hint:" in text


def test_bad_password(mysql_params, source_error):
    src = MySQLSource("shop", {**mysql_params, "password": SECRET})
    text = source_error(src.connect, "shop", secrets=(SECRET,))
    assert "access denied for user 'root'" in text and "`password`" in text


def test_unknown_user(mysql_params, source_error):
    src = MySQLSource("shop", {**mysql_params, "user": "no_such_user_kpi", "password": SECRET})
    text = source_error(src.connect, "shop", secrets=(SECRET,))
    assert "access denied for user 'no_such_user_kpi'" in text


def test_unknown_database(mysql_params, source_error):
    text = source_error(MySQLSource("shop", {**mysql_params, "database": "no_such_db_kpi"}).connect, "shop")
    assert "unknown database 'no_such_db_kpi'" in text


def test_missing_table(mysql_params, source_error):
    with MySQLSource("shop", mysql_params) as src:
        text = source_error(lambda: src.execute("SELECT * FROM no_such_table"), "shop")
    assert "no_such_table' doesn't exist" in text and "`table:`" in text


def test_statement_timeout_cancels_and_does_not_leak(mysql_params, source_error):
    with MySQLSource("shop", mysql_params) as src:
        started = time.monotonic()
        text = source_error(lambda: src.execute("SELECT SLEEP(5)", timeout=0.5), "shop")
        assert "cancelled after the 0.5s timeout" in text
        assert time.monotonic() - started < 4
        assert float(src.execute("SELECT @@max_statement_time").rows[0][0]) == 0
        assert src.execute("SELECT SLEEP(0.6), 1").rows[0][1] == 1


def test_timestamps_are_read_in_utc_by_default(mysql_params, mysql_conn):
    with mysql_conn.cursor() as cur:
        cur.execute("SET time_zone = '+05:00'")
        cur.execute("DROP TABLE IF EXISTS stamps")
        cur.execute("CREATE TABLE stamps (ts TIMESTAMP NULL)")
        cur.execute("INSERT INTO stamps VALUES ('2026-03-02 03:30:00')")  # 22:30 UTC the day before
    with MySQLSource("shop", mysql_params) as src:
        assert str(src.execute("SELECT ts FROM stamps").rows[0][0]) == "2026-03-01 22:30:00"


def test_table_columns(mysql_params, orders, mysql_database):
    with MySQLSource("shop", mysql_params) as src:
        assert src.table_columns("orders") == ["id", "region", "amount"]
        assert src.table_columns(f"{mysql_database}.orders") == ["id", "region", "amount"]
        assert src.table_columns("no_such_table") is None
