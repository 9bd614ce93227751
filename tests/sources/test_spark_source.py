"""Spark connector: files registered as views, catalog tables, errors and the query timeout."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import duckdb
import pytest

from kpiengine_plugins.spark_source import SparkSource

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lake")
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS id, CASE WHEN range % 3 = 0 THEN NULL ELSE 'r' || (range % 3) END "
                "AS region, range * 0.5 AS amount FROM range(60)")
    con.execute(f"COPY t TO '{folder / 't.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY t TO '{folder / 't.csv'}' (HEADER, DELIMITER ';')")
    return folder


def test_views_over_parquet_and_csv(spark, files):
    src = SparkSource("lake", {"tables": {
        "orders_pq": {"path": str(files / "t.parquet"), "format": "parquet"},
        "orders_csv": {"path": str(files / "t.csv"), "format": "csv", "options": {"sep": ";"}},
    }})
    with src:
        for view in ("orders_pq", "orders_csv"):
            result = src.execute(f"SELECT region, count(*) AS n, sum(amount) AS total FROM {view} GROUP BY region")
            assert result.columns == ["region", "n", "total"]
            expected = {}
            for i in range(60):
                key = None if i % 3 == 0 else f"r{i % 3}"
                n, total = expected.get(key, (0, 0.0))
                expected[key] = (n + 1, total + i * 0.5)
            assert {r[0]: (r[1], float(r[2])) for r in result.rows} == expected
            assert all(isinstance(r, tuple) for r in result.rows)
        assert src.table_columns("orders_pq") == ["id", "region", "amount"]
        assert src.table_columns("no_such_view") is None
    # close() drops this source's views from the shared session.
    assert not spark.catalog.tableExists("orders_pq")


def test_catalog_table_and_session_time_zone(spark):
    spark.createDataFrame([(1, "a"), (2, None)], "id int, tag string").createOrReplaceTempView("catalog_t")
    with SparkSource("lake", {"timezone": "Asia/Shanghai"}) as src:
        assert src.execute("SELECT count(*) FROM catalog_t").rows[0][0] == 2
        assert src.execute("SELECT current_timezone()").rows[0][0] == "Asia/Shanghai"
        # ANSI mode is off, as the SQL the compiler writes assumes: 1 / 0 is NULL, not an error.
        assert src.execute("SELECT 1 / 0").rows[0][0] is None
    with SparkSource("lake", {}) as src:
        assert src.execute("SELECT current_timezone()").rows[0][0] == "UTC"


def test_missing_file_and_missing_table(spark, files, source_error):
    src = SparkSource("lake", {"tables": {"x": {"path": str(files / "nope.parquet"), "format": "parquet"}}})
    text = source_error(src.connect, "lake")
    assert "does not exist" in text and "tables.<name>.path" in text
    with SparkSource("lake", {}) as src:
        text = source_error(lambda: src.execute("SELECT * FROM no_such_table"), "lake")
        assert "TABLE_OR_VIEW_NOT_FOUND" in text and "\tat " not in text and "hint:" in text


def test_timeout_cancels_the_job(spark, source_error):
    heavy = ("SELECT count(*) FROM range(100000000) a CROSS JOIN range(100000) b "
             "WHERE (a.id * b.id) % 7 = 3")
    with SparkSource("lake", {}) as src:
        started = time.monotonic()
        text = source_error(lambda: src.execute(heavy, timeout=1), "lake")
        assert "cancelled after the 1s timeout" in text
        assert time.monotonic() - started < 30
        assert src.execute("SELECT 41 + 1").rows[0][0] == 42


def test_unknown_catalog_database(spark, source_error):
    text = source_error(SparkSource("lake", {"database": "no_such_db_kpi"}).connect, "lake")
    assert "no_such_db_kpi" in text and "`database`" in text and "\tat " not in text


def test_missing_java_is_a_clear_error(tmp_path):
    """Without a Java runtime the JVM cannot start: the user is told to install Java, not shown py4j."""
    pytest.importorskip("pyspark")
    script = ("from kpiengine.errors import SourceError\n"
              "from kpiengine_plugins.spark_source import SparkSource\n"
              "try:\n"
              "    SparkSource('lake', {}).connect()\n"
              "except SourceError as exc:\n"
              "    print('SOURCE-ERROR', exc)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env.update(JAVA_HOME=str(tmp_path / "no-java"), PATH=os.path.dirname(sys.executable) + os.pathsep + "/bin")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert "SOURCE-ERROR source 'lake': cannot start Spark" in result.stdout, result.stdout + result.stderr
    assert "Java 17" in result.stdout and "Traceback" not in result.stdout + result.stderr
