"""MySQL and MariaDB through PyMySQL: read-only session, connect timeout, per-query statement timeout.

The two servers name their statement timeout differently: MariaDB has
``max_statement_time`` (seconds, any statement), MySQL 5.7.8+ has
``MAX_EXECUTION_TIME`` (milliseconds, SELECT only). The server version string
read at connect time decides which one is used.
"""
from __future__ import annotations

import re

from kpiengine import hookimpl
from kpiengine.sources import STATEMENT_GRACE, CallTimedOut, QueryResult, Source, call_within

_TIMEOUT_HINT = "raise `timeout` on the run or narrow the date range"

# Server error codes (MySQL and MariaDB share most of them).
_CANT_CONNECT = {2003, 2002}
_ACCESS_DENIED = {1045, 1044, 1698}
_UNKNOWN_DATABASE = 1049
_NO_SUCH_TABLE = 1146
_UNKNOWN_COLUMN = 1054
_TIMED_OUT = {1969, 3024, 1317}  # MariaDB max_statement_time, MySQL MAX_EXECUTION_TIME, interrupted
_CONNECTION_LOST = {2006, 2013}


class MySQLSource(Source):
    type_name = "mysql"
    dialect = "mysql"
    description = "MySQL or MariaDB (PyMySQL): each query in its own read-only transaction; connect and statement timeouts."
    secret_options = ("password",)
    # Named zones need the server's time-zone tables loaded (often not, e.g. CONVERT_TZ gives NULL
    # on a stock MariaDB): the compiler does not rely on them.
    supports_timezone = False
    options_schema = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "default": "localhost"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 3306},
            "unix_socket": {"type": "string"},
            "database": {"type": "string"},
            "user": {"type": "string"},
            "password": {"type": "string"},
            "charset": {"type": "string", "default": "utf8mb4"},
            "connect_timeout": {"type": "number", "minimum": 1, "default": 10},
            "time_zone": {"type": "string", "default": "+00:00",
                          "description": "session time zone used to read TIMESTAMP columns"},
            "ssl": {"type": "boolean", "default": False,
                    "description": "require TLS and verify the server certificate and host name"},
            "ssl_ca": {"type": "string", "description": "CA bundle file (default: the system's)"},
        },
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self._con = None
        self.is_mariadb = False
        self._timeout: float | None = None  # the session's statement timeout in seconds (0 = none), None if unknown

    def _where(self) -> str:
        o = self.options
        return o["unix_socket"] if "unix_socket" in o else f"{o.get('host', 'localhost')}:{o.get('port', 3306)}"

    def connect(self) -> None:
        import pymysql

        o = self.options
        connect_timeout = float(o.get("connect_timeout", 10))
        # PyMySQL's connect_timeout covers the TCP connect only; the greeting and the login are reads,
        # bounded by read/write_timeout: without them a port that accepts and never greets hangs forever.
        params = dict(host=o.get("host", "localhost"), port=int(o.get("port", 3306)),
                      user=o.get("user"), password=o.get("password", ""),
                      charset=o.get("charset", "utf8mb4"),
                      connect_timeout=connect_timeout, read_timeout=connect_timeout,
                      write_timeout=connect_timeout, autocommit=True)
        if "database" in o:
            params["database"] = o["database"]
        if "unix_socket" in o:
            params["unix_socket"] = o["unix_socket"]
        if o.get("ssl") or o.get("ssl_ca"):
            params.update(ssl_verify_cert=True, ssl_verify_identity=True, ssl_ca=o.get("ssl_ca"))
        self._timeout = None  # whatever the server default is: set it before the first query
        try:
            self._con = call_within(connect_timeout, pymysql.connect, **params,
                                    on_late=lambda con: con.close())
            self.is_mariadb = "mariadb" in self._con.get_server_info().lower()
            with self._con.cursor() as cur:
                # Read-only session: a spec's SQL can never change the warehouse.
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                cur.execute("SET time_zone = %s", (o.get("time_zone", "+00:00"),))
        except CallTimedOut:
            self.close()
            raise self.error(f"no answer from {self._where()} within {connect_timeout:g}s",
                             hint="check host, port and firewalls (is it a MySQL/MariaDB port?), "
                                  "or raise `connect_timeout`") from None
        except pymysql.MySQLError as exc:
            self.close()
            raise self._connect_error(exc) from None
        # queries get their own client-side limit in execute(); between queries nothing is read
        self._con._read_timeout = self._con._write_timeout = None

    def _connect_error(self, exc: Exception):
        code, text = _code(exc), self._clean(exc)
        where = self._where()
        if "timed out" in text and code in (*_CANT_CONNECT, *_CONNECTION_LOST):  # TCP connect, or a silent port
            return self.error(f"no answer from {where} within {self.options.get('connect_timeout', 10)}s",
                              hint="check host, port and firewalls (is it a MySQL/MariaDB port?), "
                                   "or raise `connect_timeout`")
        if code in _CANT_CONNECT:
            if "timed out" in text:
                return self.error(f"no answer from {where} within {self.options.get('connect_timeout', 10)}s",
                                  hint="check host, port and firewalls, or raise `connect_timeout`")
            return self.error(f"cannot reach the server at {where} (connection refused or host unknown)",
                              hint="is MySQL/MariaDB running there and listening on TCP? check host and port")
        if code in _ACCESS_DENIED:
            return self.error(f"access denied for user {self.options.get('user')!r} at {where}",
                              hint="check `user` and `password` (set the password through an environment variable)")
        if code == _UNKNOWN_DATABASE:
            return self.error(f"unknown database {self.options.get('database')!r} at {where}",
                              hint="check `database`; list them with SHOW DATABASES")
        if code == 1298:
            return self.error(f"the server does not know time zone {self.options.get('time_zone')!r}",
                              hint="use an offset such as +00:00, or load the time-zone tables on the server")
        return self.error(f"cannot connect to {where}: {text}")

    def _timeout_sql(self, timeout: float) -> str:
        if self.is_mariadb:
            return f"SET SESSION max_statement_time = {timeout:.3f}"
        return f"SET SESSION MAX_EXECUTION_TIME = {max(1, int(timeout * 1000)) if timeout else 0}"

    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        import pymysql

        if self._con is None:
            self.connect()
        wanted = max(0.001, round(timeout, 3)) if timeout else 0
        # The server cancels the statement at `timeout`; should the server itself stop answering,
        # the client stops waiting a little later (PyMySQL reads the attribute before each packet).
        self._con._read_timeout = timeout + STATEMENT_GRACE if timeout else None
        try:
            with self._con.cursor() as cur:
                if wanted != self._timeout:
                    # A session setting, changed only when the timeout changes: no extra round trips
                    # per query, and a query without a timeout gets none left over from the last one.
                    self._timeout = None  # unknown until the SET succeeds
                    cur.execute(self._timeout_sql(wanted))
                    self._timeout = wanted
                # A read-only transaction of its own for each query, rolled back after it: a write
                # (a stored function that inserts) fails with error 1792 whatever the session says.
                cur.execute("START TRANSACTION READ ONLY")
                try:
                    cur.execute(sql)
                    columns = [d[0] for d in cur.description or ()]
                    rows = cur.fetchall()
                finally:
                    if self._con is not None and self._con.open:
                        self._con.rollback()
        except pymysql.MySQLError as exc:
            raise self._query_error(exc, timeout) from None
        return QueryResult(columns, rows)

    def _query_error(self, exc: Exception, timeout: float | None):
        code, text = _code(exc), self._clean(exc)
        if code in _CONNECTION_LOST and "timed out" in text and timeout:
            self.close()
            return self.error(f"no answer from {self._where()} within {timeout + STATEMENT_GRACE:g}s "
                              f"(statement timeout {timeout:g}s)", hint=_TIMEOUT_HINT)
        if code in _TIMED_OUT:
            return self.error(f"query cancelled after the {timeout:g}s timeout" if timeout
                              else f"query interrupted: {text}", hint=_TIMEOUT_HINT)
        if code == _NO_SUCH_TABLE:
            return self.error(f"query failed: {text}",
                              hint="check the model's `table:` (database-qualified, or set `database`)")
        if code == _UNKNOWN_COLUMN:
            return self.error(f"query failed: {text}",
                              hint="check the column names used by the model, its dimensions and KPIs")
        if code in _CONNECTION_LOST:
            self.close()  # the next execute reconnects
            return self.error(f"lost the connection to {self._where()}: {text}",
                              hint="check the server; the run can be repeated")
        return self.error(f"query failed: {text}")

    def table_columns(self, table: str) -> list[str] | None:
        import pymysql

        schema, _, name = table.rpartition(".")
        if self._con is None:
            self.connect()
        try:
            with self._con.cursor() as cur:
                cur.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = %s AND table_schema = COALESCE(%s, DATABASE()) "
                            "ORDER BY ordinal_position", (name, schema or None))
                rows = cur.fetchall()
        except pymysql.MySQLError as exc:
            raise self.error(f"cannot read the columns of {table!r}: {self._clean(exc)}") from None
        return [r[0] for r in rows] or None

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            except Exception:  # already closed by the server: nothing left to release
                pass
            finally:
                self._con = None

    def _clean(self, exc: Exception) -> str:
        """The driver's message on one line, without any secret it might echo."""
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        text = re.sub(r"\s+", " ", str(text)).strip()
        password = self.options.get("password")
        return text.replace(str(password), "***") if password else text


def _code(exc: Exception) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


@hookimpl
def kpiengine_source_types():
    return [MySQLSource]
