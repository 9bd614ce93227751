"""PostgreSQL through psycopg 3: a read-only transaction per query, connect timeout, statement timeout."""
from __future__ import annotations

import re

from kpiengine import hookimpl
from kpiengine.sources import CallTimedOut, QueryResult, Source, call_within

_TIMEOUT_HINT = "raise `timeout` on the run or narrow the date range"


class PostgresSource(Source):
    type_name = "postgres"
    dialect = "postgres"
    description = "PostgreSQL (psycopg 3): each query in its own read-only transaction; connect and statement timeouts."
    secret_options = ("password", "dsn")
    options_schema = {
        "type": "object",
        "properties": {
            "dsn": {"type": "string",
                    "description": "libpq connection string or postgresql:// URL (secret); "
                                   "the options below override its parts"},
            "host": {"type": "string"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 5432},
            "dbname": {"type": "string"},
            "user": {"type": "string"},
            "password": {"type": "string"},
            "sslmode": {"enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
            "search_path": {"type": "string", "description": "schemas searched for unqualified tables"},
            "connect_timeout": {"type": "number", "minimum": 1, "default": 10},
            "application_name": {"type": "string", "default": "kpiengine"},
        },
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self._con = None
        self._timeout_ms: int | None = 0  # the session's statement_timeout (0 = none), None if unknown

    def _where(self) -> str:
        o = self.options
        if "host" in o or "dsn" not in o:
            return f"{o.get('host', 'localhost')}:{o.get('port', 5432)}"
        return "the server in `dsn`"

    def connect(self) -> None:
        import psycopg

        o = self.options
        # Every statement runs read-only: a spec's SQL can never change the warehouse.
        server_options = "-c default_transaction_read_only=on"
        if o.get("search_path"):
            server_options += " -c search_path=" + str(o["search_path"]).replace(" ", "\\ ")
        params = {k: o[k] for k in ("host", "port", "dbname", "user", "password", "sslmode") if k in o}
        params.update(connect_timeout=max(1, round(float(o.get("connect_timeout", 10)))),
                      application_name=o.get("application_name", "kpiengine"),
                      options=server_options)
        self._timeout_ms = None  # whatever the server or role default is: set it before the first query
        connect_timeout = float(o.get("connect_timeout", 10))
        try:
            # libpq's connect_timeout is per attempt (sslmode=prefer may make two): bound the whole of it
            self._con = call_within(connect_timeout, psycopg.connect, o.get("dsn", ""), autocommit=True,
                                    **params, on_late=lambda con: con.close())
        except CallTimedOut:
            raise self.error(f"no answer from {self._where()} within {connect_timeout:g}s",
                             hint="check host, port and firewalls, or raise `connect_timeout`") from None
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: Exception):
        text = self._clean(exc)
        where = self._where()
        user = self.options.get("user", "the default user")
        if "Connection refused" in text:
            return self.error(f"connection refused by {where}",
                              hint="is PostgreSQL running there and accepting TCP connections? check host and port")
        if "password authentication failed" in text or ("role" in text and "does not exist" in text):
            return self.error(f"authentication failed for user {user!r} at {where}: {text}",
                              hint="check `user` and `password` (set the password through an environment variable)")
        if "database" in text and "does not exist" in text:
            return self.error(f"unknown database {self.options.get('dbname')!r} at {where}",
                              hint="check `dbname`; list databases with `psql -l`")
        if "timeout expired" in text:
            return self.error(f"no answer from {where} within {self.options.get('connect_timeout', 10)}s",
                              hint="check host, port and firewalls, or raise `connect_timeout`")
        if "could not translate host name" in text or "Name or service not known" in text:
            return self.error(f"unknown host in {where}", hint="check `host`")
        return self.error(f"cannot connect to {where}: {text}")

    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        import psycopg
        from psycopg import errors as pg

        if self._con is None:
            self.connect()
        wanted_ms = max(1, int(timeout * 1000)) if timeout else 0
        try:
            with self._con.cursor() as cur:
                if wanted_ms != self._timeout_ms:
                    # A session setting, changed only when the timeout changes: no extra round trip
                    # per query, and a query without a timeout gets none left over from the last one.
                    self._timeout_ms = None  # unknown until the SET succeeds
                    cur.execute(f"SET statement_timeout = {wanted_ms}")
                    self._timeout_ms = wanted_ms
                # Each query in a transaction of its own, opened read-only before the query starts and
                # rolled back after it: set_config() inside the query can neither make it read-write
                # (the mode is fixed once a query ran) nor leave a changed setting behind.
                cur.execute("BEGIN READ ONLY")
                try:
                    cur.execute(sql)
                    columns = [d.name for d in cur.description or ()]
                    rows = cur.fetchall()
                finally:
                    if not self._con.closed:
                        self._con.execute("ROLLBACK")
        except pg.QueryCanceled:
            raise self.error(f"query cancelled after the {timeout:g}s timeout" if timeout
                             else "query cancelled by the server", hint=_TIMEOUT_HINT) from None
        except pg.UndefinedTable as exc:
            raise self.error(f"query failed: {self._clean(exc)}",
                             hint="check the model's `table:` (schema-qualified, or set `search_path`)") from None
        except pg.UndefinedColumn as exc:
            raise self.error(f"query failed: {self._clean(exc)}",
                             hint="check the column names used by the model, its dimensions and KPIs") from None
        except pg.InsufficientPrivilege as exc:
            raise self.error(f"query failed: {self._clean(exc)}",
                             hint=f"grant SELECT on the table to user {self.options.get('user')!r}") from None
        except psycopg.OperationalError as exc:
            self.close()  # the connection is gone; the next execute reconnects
            raise self.error(f"lost the connection to {self._where()}: {self._clean(exc)}",
                             hint="check the server; the run can be repeated") from None
        except psycopg.Error as exc:
            raise self.error(f"query failed: {self._clean(exc)}") from None
        return QueryResult(columns, rows)

    def table_columns(self, table: str) -> list[str] | None:
        schema, _, name = table.rpartition(".")
        sql = ("SELECT column_name FROM information_schema.columns WHERE table_name = %s AND "
               + ("table_schema = %s" if schema else "table_schema = ANY (current_schemas(false))")
               + " ORDER BY ordinal_position")
        import psycopg

        if self._con is None:
            self.connect()
        try:
            rows = self._con.execute(sql, [name, schema] if schema else [name]).fetchall()
        except psycopg.Error as exc:
            raise self.error(f"cannot read the columns of {table!r}: {self._clean(exc)}") from None
        return [r[0] for r in rows] or None

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None

    def _clean(self, exc: Exception) -> str:
        """The driver's message on one line, without any secret it might echo."""
        text = re.sub(r"\s+", " ", str(exc)).strip()
        for key in self.secret_options:
            value = self.options.get(key)
            if value:
                text = text.replace(str(value), "***")
        return text


@hookimpl
def kpiengine_source_types():
    return [PostgresSource]
