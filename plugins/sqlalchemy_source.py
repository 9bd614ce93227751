"""Any database SQLAlchemy 2 can reach, through a URL (which may hold a password: never printed).

The SQL dialect the compiler targets follows the URL's backend
(``snowflake://`` -> snowflake, ``mssql+pyodbc://`` -> tsql, ...). Statement
timeouts are applied the way each backend supports them; on a backend with no
known way the query runs without one (said in the source's description).
"""
from __future__ import annotations

import os
import re
import threading
from typing import Any

from kpiengine import hookimpl
from kpiengine.sources import CallTimedOut, QueryResult, Source, call_within

_TIMEOUT_HINT = "raise `timeout` on the run or narrow the date range"

#: SQLAlchemy backend name -> sqlglot dialect.
BACKEND_DIALECTS = {
    "postgresql": "postgres", "cockroachdb": "postgres", "mysql": "mysql", "mariadb": "mysql",
    "sqlite": "sqlite", "duckdb": "duckdb", "mssql": "tsql", "oracle": "oracle",
    "snowflake": "snowflake", "bigquery": "bigquery", "redshift": "redshift", "trino": "trino",
    "presto": "presto", "databricks": "databricks", "clickhouse": "clickhouse", "hive": "hive",
    "awsathena": "athena", "teradatasql": "teradata", "teradata": "teradata", "doris": "doris",
    "starrocks": "starrocks", "drill": "drill", "exa": "exasol", "exasol": "exasol",
    "materialize": "materialize", "risingwave": "risingwave", "spark": "spark", "dremio": "dremio",
}

#: backend -> the pip package providing its SQLAlchemy dialect (for the "not installed" hint).
_DIALECT_PACKAGES = {
    "snowflake": "snowflake-sqlalchemy", "bigquery": "sqlalchemy-bigquery", "redshift": "sqlalchemy-redshift",
    "trino": "trino[sqlalchemy]", "databricks": "databricks-sqlalchemy", "clickhouse": "clickhouse-sqlalchemy",
    "duckdb": "duckdb-engine", "awsathena": "pyathena[sqlalchemy]", "hive": "pyhive[hive]",
    "cockroachdb": "sqlalchemy-cockroachdb", "teradatasql": "teradatasqlalchemy", "doris": "pydoris",
    "starrocks": "starrocks",
}

#: backend -> name of the driver's connect() argument holding the connect timeout (seconds).
_CONNECT_TIMEOUT_ARG = {"postgresql": "connect_timeout", "mysql": "connect_timeout", "mariadb": "connect_timeout",
                        "redshift": "connect_timeout", "cockroachdb": "connect_timeout", "mssql": "timeout",
                        "snowflake": "login_timeout"}

# Driver messages, in the order they are checked, each mapped to what it means.
_MESSAGE_KINDS = [
    ("timeout", re.compile(r"statement timeout|max_statement_time|maximum statement execution time|"
                           r"query execution was interrupted|^interrupted$|timeout expired while|"
                           r"canceling statement|query (was )?cancel", re.I)),
    ("refused", re.compile(r"connection refused|can't connect|could not connect|errno 111|"
                           r"unable to connect|name or service not known", re.I)),
    ("auth", re.compile(r"password authentication failed|access denied|authentication failed|"
                        r"login failed|role \S+ does not exist|incorrect username or password", re.I)),
    ("database", re.compile(r"database \S+ does not exist|unknown database|cannot open database", re.I)),
    ("table", re.compile(r"relation \S+ does not exist|no such table|table \S+ doesn't exist|"
                         r"table or view not found|invalid object name|table \S+ does not exist|"
                         r"object \S+ does not exist", re.I)),
]


class SQLAlchemySource(Source):
    type_name = "sqlalchemy"
    dialect = ""  # depends on the URL: see dialect_for()
    description = ("Any SQLAlchemy 2 URL (install the backend's dialect package). Statement timeouts on "
                   "PostgreSQL, MySQL/MariaDB, SQLite, Snowflake, SQL Server (pyodbc) and DuckDB.")
    secret_options = ("url", "connect_args")  # connect_args may carry a password or a token
    options_schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "SQLAlchemy URL, e.g. snowflake://user:pw@account/db "
                                                     "(secret: take it from the environment)"},
            "dialect": {"type": "string", "description": "sqlglot dialect, when the URL's backend is not known"},
            "connect_args": {"type": "object", "description": "extra keyword arguments for the driver's connect()"},
            "connect_timeout": {"type": "number", "minimum": 1, "default": 10},
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self._engine = None
        self._con = None  # the pooled DBAPI connection
        self._dbapi_error: type[BaseException] = Exception
        self._mariadb = False

    # -- URL and dialect ---------------------------------------------------------
    def _url(self):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(str(self.options.get("url", "")))
        except ArgumentError:
            # The message would echo the URL, password included: say what is wrong without it.
            raise self.error("`url` is not a valid SQLAlchemy URL",
                             hint="write it as backend+driver://user:password@host:port/database") from None

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden: the only form of it that may be printed."""
        return self._url().render_as_string(hide_password=True)

    def _backend(self) -> str:
        return self._url().get_backend_name()

    def dialect_for(self) -> str:
        if self.options.get("dialect"):
            return str(self.options["dialect"])
        backend = self._backend()
        if backend not in BACKEND_DIALECTS:
            raise self.error(f"no SQL dialect known for the URL backend {backend!r}",
                             hint="set the `dialect:` option to a sqlglot dialect name, one of: "
                                  + ", ".join(sorted(set(BACKEND_DIALECTS.values()))))
        return BACKEND_DIALECTS[backend]

    # -- connection ----------------------------------------------------------------
    def connect(self) -> None:
        import sqlalchemy
        from sqlalchemy.exc import NoSuchModuleError

        url, backend = self._url(), self._backend()
        if backend in ("sqlite", "duckdb") and url.database not in (None, "", ":memory:") \
                and not url.database.startswith("file:") and not os.path.isfile(url.database):
            # The driver would silently create an empty database and then report every table missing.
            raise self.error(f"database file {url.database!r} does not exist",
                             hint="fix the path in `url` (sqlite:///relative.db, sqlite:////absolute.db)")
        connect_args: dict[str, Any] = dict(self.options.get("connect_args") or {})
        timeout_arg = _CONNECT_TIMEOUT_ARG.get(backend)
        connect_timeout = float(self.options.get("connect_timeout", 10))
        if timeout_arg and timeout_arg not in connect_args:
            connect_args[timeout_arg] = max(1, round(connect_timeout))
        if backend in ("mysql", "mariadb") and url.get_driver_name() == "pymysql":
            # PyMySQL times only the TCP connect; the greeting is a read (reset after connecting)
            connect_args.setdefault("read_timeout", connect_timeout)
            connect_args.setdefault("write_timeout", connect_timeout)
        try:
            self._engine = sqlalchemy.create_engine(url, connect_args=connect_args,
                                                    poolclass=sqlalchemy.pool.NullPool)
        except NoSuchModuleError:
            package = _DIALECT_PACKAGES.get(backend, f"the SQLAlchemy dialect for {backend!r}")
            raise self.error(f"SQLAlchemy has no dialect for {url.drivername!r}",
                             hint=f"pip install {package}") from None
        except ImportError as exc:
            raise self.error(f"the database driver for {url.drivername!r} is not installed ({exc.name})",
                             hint=f"pip install the driver module {exc.name!r}") from None
        dbapi = self._engine.dialect.loaded_dbapi
        self._dbapi_error = getattr(dbapi, "Error", Exception)
        try:
            # a hard limit whatever the driver does with its own timeout (retries, a silent greeting)
            self._con = call_within(connect_timeout, self._engine.raw_connection, on_late=lambda c: c.close())
            driver = getattr(self._con, "driver_connection", None)
            if "read_timeout" in connect_args and hasattr(driver, "_read_timeout"):
                driver._read_timeout = driver._write_timeout = None  # queries are bounded by their timeout
            self._mariadb = bool(getattr(self._engine.dialect, "is_mariadb", False))
            self._run_all(self._read_only_sql(backend))
        except CallTimedOut:
            self.close()
            raise self.error(f"no answer from {self.safe_url} within {connect_timeout:g}s",
                             hint="check host, port and firewalls, or raise `connect_timeout`") from None
        except sqlalchemy.exc.DBAPIError as exc:
            self.close()
            raise self._driver_error(exc.orig, None, connecting=True) from None
        except self._dbapi_error as exc:
            self.close()
            raise self._driver_error(exc, None, connecting=True) from None

    def _read_only_sql(self, backend: str) -> list[str]:
        # Where the backend can say so, the session is read-only: spec SQL never writes.
        if backend in ("postgresql", "redshift", "cockroachdb"):
            return ["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"]
        if backend in ("mysql", "mariadb"):
            return ["SET SESSION TRANSACTION READ ONLY"]
        if backend == "sqlite":
            return ["PRAGMA query_only = ON"]
        return []

    def _run_all(self, statements: list[str]) -> None:
        if not statements:
            return
        cur = self._con.cursor()
        try:
            for statement in statements:
                cur.execute(statement)
        finally:
            cur.close()
        self._con.commit()

    # -- queries ---------------------------------------------------------------------
    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        if self._con is None:
            self.connect()
        backend = self._backend()
        before, after, canceller = self._timeout_plan(backend, timeout) if timeout else ([], [], None)
        timer = threading.Timer(timeout, canceller) if canceller else None
        cur = self._con.cursor()
        try:
            for statement in before:
                cur.execute(statement)
            if timer:
                timer.start()
            cur.execute(sql)
            columns = [d[0] for d in cur.description or ()]
            rows = cur.fetchall()
        except self._dbapi_error as exc:
            raise self._driver_error(exc, timeout) from None
        finally:
            if timer:
                timer.cancel()
            self._finish(cur, backend, after)
        return QueryResult(columns, rows)

    def _finish(self, cur, backend: str, after: list[str]) -> None:
        """Undo this query's timeout, whether it succeeded or not, so it never leaks to the next one."""
        try:
            # Rolling back ends the implicit transaction: no session sits "idle in transaction"
            # between queries, and SET LOCAL timeouts end here.
            self._con.rollback()
            for statement in after:
                cur.execute(statement)
            cur.close()
            driver = self._con.driver_connection
            if backend == "sqlite":
                driver.set_progress_handler(None, 0)
            elif backend == "mssql" and hasattr(driver, "timeout"):
                driver.timeout = 0
        except self._dbapi_error:
            self.close()  # a broken connection is replaced on the next execute

    def _timeout_plan(self, backend: str, timeout: float):
        """(statements before, statements after, function a timer calls) for one query's timeout."""
        ms = max(1, int(timeout * 1000))
        if backend in ("postgresql", "redshift", "cockroachdb"):
            return [f"SET LOCAL statement_timeout = {ms}"], [], None
        if backend in ("mysql", "mariadb"):
            if self._mariadb:
                seconds = max(0.001, timeout)
                return [f"SET SESSION max_statement_time = {seconds:.3f}"], ["SET SESSION max_statement_time = 0"], None
            return [f"SET SESSION MAX_EXECUTION_TIME = {ms}"], ["SET SESSION MAX_EXECUTION_TIME = 0"], None
        if backend == "snowflake":
            return ([f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {max(1, round(timeout))}"],
                    ["ALTER SESSION UNSET STATEMENT_TIMEOUT_IN_SECONDS"], None)
        driver = self._con.driver_connection
        if backend == "sqlite":
            import time

            deadline = time.monotonic() + timeout
            driver.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            return [], [], None
        if backend == "mssql" and hasattr(driver, "timeout"):
            driver.timeout = max(1, round(timeout))  # pyodbc: query timeout in seconds
            return [], [], None
        for name in ("interrupt", "cancel"):  # DuckDB, psycopg-like drivers
            if callable(getattr(driver, name, None)):
                return [], [], getattr(driver, name)
        return [], [], None

    def _driver_error(self, exc: BaseException, timeout: float | None, *, connecting: bool = False):
        text = self._clean(exc)
        kind = next((k for k, pattern in _MESSAGE_KINDS if pattern.search(text)), None)
        where = self.safe_url
        if kind == "timeout" and not connecting:
            return self.error(f"query cancelled after the {timeout:g}s timeout" if timeout
                              else f"query cancelled: {text}", hint=_TIMEOUT_HINT)
        if kind == "refused":
            return self.error(f"cannot reach {where}: {text}", hint="is the server running? check host and port")
        if kind == "auth":
            return self.error(f"authentication failed at {where}: {text}",
                              hint="check the user and password in `url` (take it from an environment variable)")
        if kind == "database":
            return self.error(f"unknown database at {where}: {text}", hint="check the database name in `url`")
        if kind == "table":
            return self.error(f"query failed: {text}", hint="check the model's `table:` and its schema")
        if connecting and re.search(r"timeout expired|timed out", text, re.I):
            return self.error(f"no answer from {where} within {self.options.get('connect_timeout', 10):g}s: {text}",
                              hint="check host, port and firewalls, or raise `connect_timeout`")
        if connecting:
            return self.error(f"cannot connect to {where}: {text}")
        return self.error(f"query failed: {text}")

    def table_columns(self, table: str) -> list[str] | None:
        import sqlalchemy

        if self._con is None:
            self.connect()
        schema, _, name = table.rpartition(".")
        try:
            columns = sqlalchemy.inspect(self._engine).get_columns(name, schema=schema or None)
        except sqlalchemy.exc.NoSuchTableError:
            return None
        except sqlalchemy.exc.DBAPIError as exc:
            raise self.error(f"cannot read the columns of {table!r}: {self._clean(exc.orig)}") from None
        return [c["name"] for c in columns] or None

    def close(self) -> None:
        con, engine = self._con, self._engine
        self._con = self._engine = None
        try:
            if con is not None:
                con.close()
        except Exception:  # already broken: nothing left to release
            pass
        if engine is not None:
            engine.dispose()

    def _clean(self, exc: BaseException) -> str:
        """The driver's message on one line, without the URL's password should a driver echo it."""
        args = getattr(exc, "args", ())
        # PyMySQL-style errors carry (code, message).
        text = str(args[1]) if len(args) == 2 and isinstance(args[0], int) else str(exc)
        text = re.sub(r"\s+", " ", text).strip()
        try:
            password = self._url().password
        except Exception:
            password = None
        return text.replace(str(password), "***") if password else text


@hookimpl
def kpiengine_source_types():
    return [SQLAlchemySource]
