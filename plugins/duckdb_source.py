"""DuckDB: the embedded default warehouse (a file or :memory:), which also reads CSV and Parquet."""
from __future__ import annotations

import os
import threading

from kpiengine import hookimpl
from kpiengine.sources import QueryResult, Source, shared_connection

# DuckDB shares one database instance per file within a process, settings included: the
# check-then-set-then-lock sequence of connect() must not interleave between threads (the
# dashboard opens the warehouse from two at once), or one thread's lock lands mid-sequence.
_LOCKDOWN = threading.Lock()


class DuckDBSource(Source):
    type_name = "duckdb"
    dialect = "duckdb"
    description = "Embedded DuckDB database file (default); reads CSV and Parquet files too."
    supports_files = True
    secret_options = ()  # a file path and tuning knobs: nothing to hide
    opens_ahead = True  # the database is shared through the scope; a cursor is taken in the thread that runs
    options_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "database file, or :memory:"},
            "read_only": {"type": "boolean", "default": True},
            "threads": {"type": "integer", "minimum": 1},
            "memory_limit": {"type": "string", "description": "e.g. 4GB"},
        },
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self._con = None

    def connect(self) -> None:
        import duckdb

        path = self.options.get("path", ":memory:")
        read_only = bool(self.options.get("read_only", True)) and path != ":memory:"
        if path != ":memory:" and not os.path.exists(path):
            raise self.error(f"database file {path!r} does not exist",
                             hint="run `kpi demo` to build the demo warehouse, or fix `path`")
        config = {}
        if "threads" in self.options:
            config["threads"] = int(self.options["threads"])
        if "memory_limit" in self.options:
            config["memory_limit"] = str(self.options["memory_limit"])
        allowed = tuple(sorted(os.path.abspath(p) for p in self.allowed_files))
        key = ("duckdb", os.path.abspath(path) if path != ":memory:" else f":memory:{id(self)}", read_only,
               tuple(sorted(config.items())), allowed)
        try:
            database, shared = shared_connection(key, lambda: self._open(path, read_only, config),
                                                 lambda con: con.close())
            # Within a command, sources share one database (its buffer cache stays warm); each gets a cursor,
            # which inherits the database's settings, the file lock-down included: locked when opened.
            self._con = database.cursor() if shared else database
        except duckdb.Error as exc:
            self.close()
            raise self.error(f"cannot open database: {exc}") from None

    def _open(self, path: str, read_only: bool, config: dict):
        """A new database connection, locked down before anything else runs on it."""
        import duckdb

        con = duckdb.connect(path, read_only=read_only, config=config)
        try:
            with _LOCKDOWN:
                self._con = con
                # No check first: a database just opened is not locked yet, and one another connection of
                # the process locked already refuses the settings, which _lock_file_access then checks.
                self._lock_file_access()
        except BaseException:
            self._con = None
            con.close()
            raise
        return con

    def _lock_file_access(self) -> None:
        """No file outside the ones the spec's models name (read_csv, read_text, ATTACH, COPY, extensions).

        Locking the configuration keeps a query from turning access back on. DuckDB shares one
        database instance between the connections of a process to the same file: when an earlier
        connection locked it already, it is locked down and stays so.
        """
        import duckdb

        settings = []
        if self.allowed_files:
            listed = ", ".join("'" + os.path.abspath(p).replace("'", "''") + "'" for p in self.allowed_files)
            settings.append(f"SET allowed_paths = [{listed}]")
        # DuckDB draws a progress bar on stdout for queries over two seconds: it would corrupt
        # `--format json`. Set before the configuration is locked.
        settings += ["SET enable_progress_bar = false", "SET enable_external_access = false",
                     "SET lock_configuration = true"]
        try:
            self._con.execute("; ".join(settings))  # one round trip; DuckDB runs them in order
        except duckdb.Error:
            # Another connection to the same file (a thread of the dashboard) locked it meanwhile.
            if not self._locked_down():
                raise

    def _locked_down(self) -> bool:
        setting = "SELECT current_setting('lock_configuration'), current_setting('enable_external_access')"
        locked, external = self._con.execute(setting).fetchone()
        if locked and external:
            raise self.error("the database is open elsewhere in this process with file access enabled "
                             "and its configuration locked", hint="close the other connection first")
        return bool(locked)

    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        import duckdb

        if self._con is None:
            self.connect()
        timer = None
        if timeout:
            # DuckDB has no statement timeout: interrupt the connection from a timer thread.
            timer = threading.Timer(timeout, self._con.interrupt)
            timer.start()
        try:
            cur = self._con.execute(sql)
            rows = cur.fetchall()
            columns = [d[0] for d in cur.description]
        except duckdb.InterruptException:
            raise self.error(f"query cancelled after the {timeout:g}s timeout",
                             hint="raise `timeout` on the run or narrow the date range") from None
        except duckdb.Error as exc:
            raise self.error(f"query failed: {exc}") from None
        finally:
            if timer:
                timer.cancel()
        return QueryResult(columns, rows)

    def table_columns(self, table: str) -> list[str] | None:
        if self._con is None:
            self.connect()
        parts = table.split(".")
        params = [parts[-1]] + ([parts[-2]] if len(parts) > 1 else [])
        q = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        if len(parts) > 1:
            q += " AND table_schema = ?"
        rows = self._con.execute(q + " ORDER BY ordinal_position", params).fetchall()
        return [r[0] for r in rows] or None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()  # a cursor of a shared database closes alone; the command's scope closes the rest
            self._con = None


@hookimpl
def kpiengine_source_types():
    return [DuckDBSource]
