"""PostgreSQL connector against the real server on 127.0.0.1:5432."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from kpiengine_plugins.postgres_source import PostgresSource

pytestmark = pytest.mark.postgres
SECRET = "hunter2-Very-Secret"


@pytest.fixture
def orders(pg_conn):
    pg_conn.execute("DROP TABLE IF EXISTS orders")
    pg_conn.execute("CREATE TABLE orders (id int, region text, amount numeric(10,2))")
    with pg_conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s)",
                        [(i, ["east", "west", None][i % 3], Decimal(i) / 4) for i in range(1, 41)])
    yield "orders"
    pg_conn.execute("DROP TABLE IF EXISTS orders")


def test_query_reads_the_configured_schema(postgres_source_options, orders):
    with PostgresSource("crm", postgres_source_options) as src:
        result = src.execute("SELECT region, count(*) AS n, sum(amount) AS total FROM orders "
                             "GROUP BY region ORDER BY region NULLS LAST")
    assert result.columns == ["region", "n", "total"]
    expected = {}
    for i in range(1, 41):
        key = ["east", "west", None][i % 3]
        n, total = expected.get(key, (0, Decimal(0)))
        expected[key] = (n + 1, total + Decimal(i) / 4)
    assert {r[0]: (r[1], r[2]) for r in result.rows} == expected


def test_session_is_read_only(postgres_source_options, orders, source_error):
    with PostgresSource("crm", postgres_source_options) as src:
        text = source_error(lambda: src.execute("DELETE FROM orders"), "crm")
        assert "read-only" in text
        assert src.execute("SELECT count(*) FROM orders").rows == [(40,)]


def test_refused_connection_names_source_and_hides_password(source_error):
    src = PostgresSource("crm", {"host": "127.0.0.1", "port": 1, "user": "postgres", "password": SECRET,
                                 "dbname": "test", "connect_timeout": 2})
    text = source_error(src.connect, "crm", secrets=(SECRET,))
    assert "connection refused by 127.0.0.1:1" in text and "hint:" in text


def test_unknown_user(source_error):
    src = PostgresSource("crm", {"host": "127.0.0.1", "user": "no_such_user_kpi", "password": SECRET,
                                 "dbname": "test"})
    text = source_error(src.connect, "crm", secrets=(SECRET,))
    assert "authentication failed for user 'no_such_user_kpi'" in text and "`password`" in text


def test_unknown_database(source_error):
    src = PostgresSource("crm", {"host": "127.0.0.1", "user": "postgres", "dbname": "no_such_db_kpi"})
    text = source_error(src.connect, "crm")
    assert "unknown database 'no_such_db_kpi'" in text


def test_secret_dsn_is_not_echoed(source_error):
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    text = source_error(PostgresSource("crm", {"dsn": dsn, "connect_timeout": 2}).connect, "crm",
                        secrets=(SECRET, dsn))
    assert "connection refused" in text


def test_missing_table(postgres_source_options, source_error):
    with PostgresSource("crm", postgres_source_options) as src:
        text = source_error(lambda: src.execute("SELECT * FROM no_such_table"), "crm")
    assert 'relation "no_such_table" does not exist' in text and "search_path" in text


def test_statement_timeout_cancels_and_does_not_leak(postgres_source_options, source_error):
    with PostgresSource("crm", postgres_source_options) as src:
        started = time.monotonic()
        text = source_error(lambda: src.execute("SELECT pg_sleep(5)", timeout=0.5), "crm")
        assert "cancelled after the 0.5s timeout" in text
        assert time.monotonic() - started < 4
        # SET LOCAL ended with the failed transaction: a later query has no timeout.
        assert src.execute("SHOW statement_timeout").rows == [("0",)]
        assert src.execute("SELECT pg_sleep(0.6), 1").rows[0][1] == 1


def test_table_columns(postgres_source_options, orders, pg_schema):
    with PostgresSource("crm", postgres_source_options) as src:
        assert src.table_columns("orders") == ["id", "region", "amount"]
        assert src.table_columns(f"{pg_schema}.orders") == ["id", "region", "amount"]
        assert src.table_columns("no_such_table") is None


def test_reconnects_after_the_server_drops_the_connection(postgres_source_options, pg_conn, source_error):
    src = PostgresSource("crm", postgres_source_options)
    src.connect()
    pid = src.execute("SELECT pg_backend_pid()").rows[0][0]
    pg_conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    text = source_error(lambda: src.execute("SELECT 1"), "crm")
    assert "lost the connection" in text
    assert src.execute("SELECT 2").rows == [(2,)]
    src.close()
    src.close()
