"""Shared fixtures: the real PostgreSQL and MariaDB servers, and a local Spark session.

Each test session works in its own namespace (schema ``kpitest_<pid>`` in
PostgreSQL, database ``kpitest_<pid>`` in MariaDB) dropped at the end, so
teammates and parallel runs never see each other's tables.

When a server is down the tests needing it are skipped with the reason, except
when ``KPIENGINE_REQUIRE_SERVERS=1`` (set in CI): then they fail, so a broken CI
service cannot turn the suite green by skipping it.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

# The ports can be moved (a second server, a CI service on another port) without editing tests.
PG_HOST, PG_PORT, PG_DB, PG_USER = "127.0.0.1", int(os.environ.get("KPIENGINE_TEST_PG_PORT", 5432)), "test", "postgres"
MY_HOST, MY_PORT, MY_DB, MY_USER = "127.0.0.1", int(os.environ.get("KPIENGINE_TEST_MYSQL_PORT", 3306)), "test", "root"
NAMESPACE = f"kpitest_{os.getpid()}"


def servers_required() -> bool:
    return os.environ.get("KPIENGINE_REQUIRE_SERVERS") == "1"


def unavailable(what: str, error: object) -> None:
    """Skip (or, in CI, fail) the current test because ``what`` cannot be used."""
    message = (f"{what}: {error}; start it or set KPIENGINE_REQUIRE_SERVERS=1 in CI to make this a failure")
    if servers_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# -- PostgreSQL --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_schema():
    """Name of this session's PostgreSQL schema (created on first use, dropped at the end)."""
    try:
        import psycopg
    except ImportError as exc:
        unavailable("psycopg is not installed", exc)
    try:
        admin = psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=PG_USER,
                                connect_timeout=3, autocommit=True)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}", str(exc).strip())
    admin.execute(f"DROP SCHEMA IF EXISTS {NAMESPACE} CASCADE")
    admin.execute(f"CREATE SCHEMA {NAMESPACE}")
    yield NAMESPACE
    admin.execute(f"DROP SCHEMA IF EXISTS {NAMESPACE} CASCADE")
    admin.close()


@pytest.fixture(scope="session")
def postgres_dsn(pg_schema) -> str:
    """libpq connection string; unqualified tables land in (and are read from) this session's schema."""
    return (f"host={PG_HOST} port={PG_PORT} dbname={PG_DB} user={PG_USER} "
            f"options='-c search_path={pg_schema}'")


@pytest.fixture(scope="session")
def postgres_source_options(pg_schema) -> dict:
    """Options for a `type: postgres` source of a spec, reading this session's schema."""
    return {"host": PG_HOST, "port": PG_PORT, "dbname": PG_DB, "user": PG_USER, "search_path": pg_schema}


@pytest.fixture
def pg_conn(postgres_dsn):
    """An autocommit psycopg connection whose search_path is this session's schema."""
    import psycopg

    con = psycopg.connect(postgres_dsn, connect_timeout=3, autocommit=True)
    yield con
    con.close()


# -- MariaDB / MySQL ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mysql_database():
    """Name of this session's MariaDB database (created on first use, dropped at the end)."""
    try:
        import pymysql
    except ImportError as exc:
        unavailable("PyMySQL is not installed", exc)
    def admin():
        return pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, password="", database=MY_DB,
                               connect_timeout=3, autocommit=True)

    try:
        con = admin()
    except pymysql.MySQLError as exc:
        unavailable(f"MariaDB not reachable at {MY_HOST}:{MY_PORT}", exc)
    with con, con.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {NAMESPACE}")
        cur.execute(f"CREATE DATABASE {NAMESPACE} CHARACTER SET utf8mb4")
    yield NAMESPACE
    # A fresh connection: the server may have closed an idle one during a long session.
    with admin() as con, con.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {NAMESPACE}")


@pytest.fixture(scope="session")
def mysql_params(mysql_database) -> dict:
    """pymysql.connect() keyword arguments for this session's database (also valid `type: mysql` options)."""
    return {"host": MY_HOST, "port": MY_PORT, "user": MY_USER, "password": "", "database": mysql_database}


@pytest.fixture
def mysql_conn(mysql_params):
    """An autocommit PyMySQL connection to this session's database."""
    import pymysql

    con = pymysql.connect(**mysql_params, connect_timeout=3, autocommit=True, charset="utf8mb4")
    yield con
    con.close()


# -- Spark --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def spark():
    """The process-wide local SparkSession, the very one `type: spark` sources use."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        unavailable("pyspark is not installed", exc)
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        unavailable("Spark needs Java", "no `java` on PATH and JAVA_HOME is not set")
    from kpiengine_plugins.spark_source import shared_session

    try:
        session = shared_session(master="local[2]", app_name="kpiengine-tests")
    except Exception as exc:  # JVM start-up failures have no common base class
        unavailable("Spark could not start", exc)
    yield session
    session.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory):
    """``sc://127.0.0.1:PORT`` of a Spark Connect server started for this session (stopped at the end)."""
    try:
        import pyspark
        import pyspark.sql.connect.session  # noqa: F401 - the Connect client's own dependencies
    except ImportError as exc:
        unavailable("pyspark[connect] is not installed", exc)
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        unavailable("Spark needs Java", "no `java` on PATH and JAVA_HOME is not set")
    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark-connect")
    port = _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(logs), "SPARK_PID_DIR": str(logs),
           "SPARK_LOCAL_IP": "127.0.0.1"}
    server = subprocess.Popen(
        ["bash", str(home / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]",
         "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4"],
        env=env, stdout=open(logs / "server.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            unavailable("the Spark Connect server did not start",
                        (logs / "server.log").read_text(errors="replace")[-2000:])
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
