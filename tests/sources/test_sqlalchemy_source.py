"""SQLAlchemy connector: dialect from the URL, password never shown, timeouts on real backends."""
from __future__ import annotations

import sqlite3
import time

import pytest

from kpiengine.errors import SourceError
from kpiengine_plugins.sqlalchemy_source import SQLAlchemySource

SECRET = "hunter2-Very-Secret"


@pytest.mark.parametrize("url, dialect", [
    ("postgresql+psycopg://u:p@h/db", "postgres"),
    ("mysql+pymysql://u:p@h/db", "mysql"),
    ("mariadb+pymysql://u:p@h/db", "mysql"),
    ("mssql+pyodbc://u:p@dsn", "tsql"),
    ("snowflake://u:p@account/db", "snowflake"),
    ("bigquery://project/dataset", "bigquery"),
    ("redshift+redshift_connector://u:p@h:5439/db", "redshift"),
    ("trino://u@h:8080/catalog", "trino"),
    ("duckdb:///file.duckdb", "duckdb"),
    ("sqlite:///file.db", "sqlite"),
    ("oracle+oracledb://u:p@h/db", "oracle"),
    ("databricks://token:t@h?http_path=x", "databricks"),
    ("clickhouse+native://u:p@h/db", "clickhouse"),
])
def test_dialect_follows_the_url_backend(url, dialect):
    assert SQLAlchemySource("wh", {"url": url}).dialect_for() == dialect


def test_dialect_option_overrides_and_unknown_backend_says_what_to_do():
    assert SQLAlchemySource("wh", {"url": "firebird://u:p@h/db", "dialect": "postgres"}).dialect_for() == "postgres"
    with pytest.raises(SourceError) as info:
        SQLAlchemySource("wh", {"url": f"firebird://u:{SECRET}@h/db"}).dialect_for()
    assert "'firebird'" in str(info.value) and "`dialect:`" in str(info.value)
    assert SECRET not in str(info.value)


def test_invalid_url_is_not_echoed(source_error):
    url = f"not a url {SECRET}"
    text = source_error(SQLAlchemySource("wh", {"url": url}).connect, "wh", secrets=(SECRET,))
    assert "not a valid SQLAlchemy URL" in text


def test_missing_dialect_package_gives_the_pip_name(source_error):
    text = source_error(SQLAlchemySource("wh", {"url": f"snowflake://u:{SECRET}@acct/db"}).connect, "wh",
                        secrets=(SECRET,))
    assert "pip install snowflake-sqlalchemy" in text


def test_safe_url_hides_the_password():
    src = SQLAlchemySource("wh", {"url": f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1/test"})
    assert src.safe_url == "postgresql+psycopg://postgres:***@127.0.0.1/test"


@pytest.fixture
def sqlite_url(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (id INTEGER, region TEXT)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, ["east", None][i % 2]) for i in range(10)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sqlite_through_sqlalchemy(sqlite_url, source_error):
    with SQLAlchemySource("wh", {"url": sqlite_url}) as src:
        result = src.execute("SELECT region, count(*) AS n FROM orders GROUP BY region ORDER BY region")
        assert result.columns == ["region", "n"]
        assert list(result.rows) == [(None, 5), ("east", 5)]
        assert src.table_columns("orders") == ["id", "region"]
        assert src.table_columns("nope") is None
        assert "readonly" in source_error(lambda: src.execute("DELETE FROM orders"), "wh")
        text = source_error(lambda: src.execute("SELECT * FROM nope"), "wh")
        assert "no such table" in text and "`table:`" in text
        endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        assert "0.3s timeout" in source_error(lambda: src.execute(endless, timeout=0.3), "wh")
        assert src.execute("SELECT count(*) FROM orders").rows == [(10,)]


@pytest.mark.postgres
def test_postgres_refused_hides_password(source_error):
    src = SQLAlchemySource("wh", {"url": f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test",
                                  "connect_timeout": 2})
    text = source_error(src.connect, "wh", secrets=(SECRET,))
    assert "cannot reach postgresql+psycopg://postgres:***@127.0.0.1:1/test" in text


@pytest.mark.postgres
def test_postgres_query_timeout_and_missing_table(pg_schema, pg_conn, source_error):
    pg_conn.execute("CREATE TABLE IF NOT EXISTS sa_t (x int)")
    pg_conn.execute("INSERT INTO sa_t VALUES (1), (2), (NULL)")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{pg_schema}"
    with SQLAlchemySource("wh", {"url": url}) as src:
        assert src.execute("SELECT sum(x), count(*) FROM sa_t").rows == [(3, 3)]
        assert src.table_columns(f"{pg_schema}.sa_t") == ["x"]
        started = time.monotonic()
        assert "0.5s timeout" in source_error(lambda: src.execute("SELECT pg_sleep(5)", timeout=0.5), "wh")
        assert time.monotonic() - started < 4
        assert src.execute("SHOW statement_timeout").rows == [("0",)]
        text = source_error(lambda: src.execute("SELECT * FROM no_such_table"), "wh")
        assert "no_such_table" in text and "`table:`" in text
        assert "read-only" in source_error(lambda: src.execute("DELETE FROM sa_t"), "wh")


@pytest.mark.mysql
def test_mariadb_bad_password_and_timeout(mysql_params, source_error):
    bad = f"mysql+pymysql://root:{SECRET}@127.0.0.1:3306/{mysql_params['database']}"
    text = source_error(SQLAlchemySource("wh", {"url": bad}).connect, "wh", secrets=(SECRET,))
    assert "authentication failed" in text and "***" in text
    good = f"mysql+pymysql://root@127.0.0.1:3306/{mysql_params['database']}"
    with SQLAlchemySource("wh", {"url": good}) as src:
        assert src.execute("SELECT 1 + 1").rows == ((2,),)
        started = time.monotonic()
        assert "0.5s timeout" in source_error(lambda: src.execute("SELECT SLEEP(5)", timeout=0.5), "wh")
        assert time.monotonic() - started < 4
        assert float(src.execute("SELECT @@max_statement_time").rows[0][0]) == 0
        text = source_error(lambda: src.execute("SELECT * FROM no_such_table"), "wh")
        assert "doesn't exist" in text and "`table:`" in text


def test_missing_sqlite_file_is_not_created(tmp_path, source_error):
    path = tmp_path / "nope.sqlite"
    text = source_error(SQLAlchemySource("wh", {"url": f"sqlite:///{path}"}).connect, "wh")
    assert "does not exist" in text and not path.exists()
