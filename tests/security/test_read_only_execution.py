"""Read-only execution the query cannot undo, on the real engines (PostgreSQL, MariaDB, DuckDB, SQLite).

The payloads of issue 14 that the allow-list rejects in filters are sent here
straight to the source, as a trusted ``sql:`` model would send them: the
read-only transaction (or DuckDB's locked file access, SQLite's query_only)
refuses them, and nothing is left behind: no large object, no file read, no
setting changed, no row written.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.errors import SourceError


# -- PostgreSQL -------------------------------------------------------------------------------------
@pytest.fixture
def pg_source(postgres_source_options):
    from kpiengine_plugins.postgres_source import PostgresSource

    source = PostgresSource("warehouse", dict(postgres_source_options))
    source.connect()
    yield source
    source.close()


def _large_objects(pg_conn) -> int:
    return pg_conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]


@pytest.mark.postgres
def test_postgres_leaves_no_large_object_behind(pg_source, pg_conn):
    # PostgreSQL does not count a large object as a write of a read-only transaction; the query's own
    # transaction is rolled back after it, so none survives (one per row survived a plain session).
    before = _large_objects(pg_conn)
    created = pg_source.execute("SELECT lo_from_bytea(0, 'payload'::bytea) FROM generate_series(1, 5)").rows
    assert len(created) == 5
    assert _large_objects(pg_conn) == before


@pytest.mark.postgres
def test_postgres_set_config_inside_a_query_cannot_make_later_queries_writable(pg_source, pg_conn):
    lift = "select set_config(''default_transaction_read_only'',''off'',false), " \
           "set_config(''statement_timeout'',''1234'',false)"
    pg_source.execute(f"SELECT query_to_xml('{lift}', true, true, '')")
    settings = pg_source.execute("SELECT current_setting('default_transaction_read_only'), "
                                 "current_setting('transaction_read_only'), current_setting('statement_timeout')"
                                 ).rows[0]
    assert settings == ("on", "on", "0")  # both changes were rolled back with the query's transaction
    with pytest.raises(SourceError, match="read-write mode must be set before any query"):
        pg_source.execute("SELECT set_config('transaction_read_only', 'off', false)")
    before = _large_objects(pg_conn)
    pg_source.execute("SELECT query_to_xml('select lo_from_bytea(0, ''x''::bytea)', true, true, '')")
    assert _large_objects(pg_conn) == before


@pytest.mark.postgres
def test_postgres_trusted_sql_model_calling_a_writing_function_is_refused(tmp_path, pg_conn, postgres_source_options):
    pg_conn.execute("DROP TABLE IF EXISTS kpitest_written")
    pg_conn.execute("CREATE TABLE kpitest_written (n int)")
    pg_conn.execute("CREATE OR REPLACE FUNCTION kpitest_write() RETURNS int LANGUAGE sql AS "
                    "$$ INSERT INTO kpitest_written VALUES (1) RETURNING n $$")
    options = ", ".join(f"{k}: {json.dumps(v)}" for k, v in postgres_source_options.items())
    (tmp_path / "s.yml").write_text(
        "project: {name: t, allow_model_sql: true}\n"
        f"sources:\n  pg: {{type: postgres, {options}}}\n"
        "models:\n  m: {sql: \"SELECT now() AS ts, kpitest_write() AS w\", time: ts}\n"
        "kpis:\n  n: {label: N, model: m, aggregate: count}\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["run", "-s", str(tmp_path), "--no-history"])
    assert out.exit_code == 3 and "read-only transaction" in out.output
    assert pg_conn.execute("SELECT count(*) FROM kpitest_written").fetchone()[0] == 0


# -- MariaDB ------------------------------------------------------------------------------------------
@pytest.mark.mysql
def test_mariadb_refuses_a_write_from_inside_a_select(mysql_params, mysql_conn):
    from kpiengine_plugins.mysql_source import MySQLSource

    with mysql_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS kpitest_written")
        cur.execute("CREATE TABLE kpitest_written (n INT)")
        cur.execute("DROP FUNCTION IF EXISTS kpitest_write")
        cur.execute("CREATE FUNCTION kpitest_write() RETURNS INT MODIFIES SQL DATA "
                    "BEGIN INSERT INTO kpitest_written VALUES (1); RETURN 1; END")
    source = MySQLSource("warehouse", dict(mysql_params))
    try:
        with pytest.raises(SourceError, match="READ ONLY"):
            source.execute("SELECT kpitest_write()")
        assert list(source.execute("SELECT 1").rows) == [(1,)]  # the connection is still usable
    finally:
        source.close()
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM kpitest_written")
        assert cur.fetchone()[0] == 0


# -- DuckDB -------------------------------------------------------------------------------------------
@pytest.fixture
def duck(tmp_path):
    from kpiengine_plugins.duckdb_source import DuckDBSource

    named = tmp_path / "named.csv"
    named.write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "other.csv").write_text("secret\n42\n", encoding="utf-8")
    source = DuckDBSource("warehouse", {"path": ":memory:"})
    source.allow_files([str(named)])
    source.connect()
    yield source, tmp_path
    source.close()


@pytest.mark.parametrize("payload", [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('{dir}/other.csv')",
    "SELECT * FROM read_csv('{dir}/' || 'other.csv')",
    "SELECT * FROM glob('/etc/*')",
    "COPY (SELECT 1) TO '{dir}/out.csv'",
    "ATTACH '{dir}/new.db' AS x",
    "INSTALL httpfs",
])
def test_duckdb_reads_no_file_the_spec_does_not_name(duck, payload):
    source, folder = duck
    with pytest.raises(SourceError, match="disabled by configuration|Permission"):
        source.execute(payload.format(dir=folder))
    assert not (folder / "out.csv").exists() and not (folder / "new.db").exists()


def test_duckdb_file_access_cannot_be_turned_back_on(duck):
    source, folder = duck
    assert source.execute(f"SELECT a FROM read_csv('{folder}/named.csv')").rows == [(1,)]
    for setting in ("SET enable_external_access = true", f"SET allowed_paths = ['{folder}/other.csv']",
                    "SET lock_configuration = false"):
        with pytest.raises(SourceError, match="locked"):
            source.execute(setting)
    assert source.execute("SELECT current_setting('enable_external_access')").rows == [(False,)]


def test_duckdb_spec_filter_reading_a_file_is_rejected_and_a_trusted_model_reads_only_named_files(tmp_path):
    (tmp_path / "data.csv").write_text("ts,region\n2026-03-02 10:00:00,east\n", encoding="utf-8")
    (tmp_path / "secret.csv").write_text("ts,region\n2026-03-02 10:00:00,leaked\n", encoding="utf-8")
    spec = ("project: {name: t, allow_model_sql: true}\nsources:\n  w: {type: duckdb, path: \":memory:\"}\n"
            "models:\n  f: {file: data.csv, time: ts, dimensions: {region: region}}\n"
            "  s: {sql: \"SELECT * FROM read_csv(current_setting('home_directory') || '/../secret.csv')\", "
            "time: ts}\n"
            "kpis:\n  n: {label: N, model: f, aggregate: count}\n  m: {label: M, model: s, aggregate: count}\n")
    (tmp_path / "s.yml").write_text(spec, encoding="utf-8")
    ok = CliRunner().invoke(main, ["run", "-s", str(tmp_path), "--no-history", "-k", "n", "--format", "json"])
    assert ok.exit_code == 0 and [r["value"] for r in json.loads(ok.output)["rows"]] == [1]
    refused = CliRunner().invoke(main, ["run", "-s", str(tmp_path), "--no-history", "-k", "m"])
    assert refused.exit_code == 3 and "leaked" not in refused.output
    (tmp_path / "s.yml").write_text(spec + "  x: {label: X, model: f, aggregate: count, "
                                           "filter: \"region IN (SELECT region FROM read_csv('secret.csv'))\"}\n",
                                    encoding="utf-8")
    rejected = CliRunner().invoke(main, ["validate", "-s", str(tmp_path), "--format", "json"])
    problem = json.loads(rejected.output)["problems"][0]
    assert problem["code"] == "unsafe-sql" and problem["line"] == 10
    assert "subqueries are not allowed in a filter" in problem["message"]


# -- SQLite -------------------------------------------------------------------------------------------
def test_sqlite_is_query_only_even_when_opened_writable(tmp_path):
    import sqlite3

    from kpiengine_plugins.sqlite_source import SQLiteSource

    path = tmp_path / "w.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (n INTEGER)")
    con.commit()
    con.close()
    source = SQLiteSource("warehouse", {"path": str(path), "read_only": False})
    try:
        for payload in ("INSERT INTO t VALUES (1)", "CREATE TABLE x (n)", "DELETE FROM t"):
            with pytest.raises(SourceError, match="readonly|read-only|query_only"):
                source.execute(payload)
        with pytest.raises(SourceError, match="not authorized"):
            source.execute("SELECT load_extension('/tmp/kpitest_evil.so')")
    finally:
        source.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 1
