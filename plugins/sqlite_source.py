"""SQLite: a local database file, opened read-only through the standard library driver."""
from __future__ import annotations

import os
import sqlite3
import time

from kpiengine import hookimpl
from kpiengine.sources import QueryResult, Source

# How many SQLite virtual-machine steps run between two deadline checks: small
# enough to stop within milliseconds, large enough to cost nothing measurable.
_PROGRESS_STEPS = 10_000


class SQLiteSource(Source):
    type_name = "sqlite"
    dialect = "sqlite"
    description = "SQLite database file (standard library driver), opened read-only by default."
    # SQLite has no time-zone database: timestamps are used as stored.
    supports_timezone = False
    secret_options = ()
    options_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "database file, or :memory:"},
            "read_only": {"type": "boolean", "default": True},
            "busy_timeout": {"type": "number", "minimum": 0, "default": 5,
                             "description": "seconds to wait for a lock held by a writer"},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self._con: sqlite3.Connection | None = None
        self._deadline: float | None = None

    def connect(self) -> None:
        path = str(self.options.get("path", ""))
        read_only = bool(self.options.get("read_only", True)) and path != ":memory:"
        if path != ":memory:" and not os.path.isfile(path):
            # sqlite3 would silently create an empty file and then report every table missing.
            raise self.error(f"database file {path!r} does not exist",
                             hint="fix `path` (relative paths are resolved from the working directory)")
        target = f"file:{_uri_path(path)}?mode=ro" if read_only else path
        try:
            self._con = sqlite3.connect(target, uri=read_only, check_same_thread=False,
                                        timeout=float(self.options.get("busy_timeout", 5)))
            self._con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            # Read-only even for :memory: and read_only: false; a single SELECT cannot switch it back.
            self._con.execute("PRAGMA query_only = ON")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self.error(f"cannot open database {path!r}: {exc}",
                             hint="check that the file is an SQLite database and readable") from None
        self._con.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)

    def _past_deadline(self) -> int:
        # A non-zero return makes SQLite abort the statement with "interrupted".
        return int(self._deadline is not None and time.monotonic() > self._deadline)

    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        if self._con is None:
            self.connect()
        self._deadline = time.monotonic() + timeout if timeout else None
        try:
            cur = self._con.execute(sql)
            rows = cur.fetchall()
            columns = [d[0] for d in cur.description or ()]
        except sqlite3.OperationalError as exc:
            raise self._query_error(exc, timeout) from None
        except sqlite3.DatabaseError as exc:
            raise self.error(f"query failed: {exc}") from None
        finally:
            self._deadline = None
        return QueryResult(columns, rows)

    def _query_error(self, exc: sqlite3.OperationalError, timeout: float | None):
        text = str(exc)
        if text == "interrupted" and timeout:
            return self.error(f"query cancelled after the {timeout:g}s timeout",
                              hint="raise `timeout` on the run or narrow the date range")
        if text.startswith("no such table"):
            return self.error(f"query failed: {text}",
                              hint="check the model's `table:` and that the database file is the right one")
        if text.startswith("no such column"):
            return self.error(f"query failed: {text}",
                              hint="check the column names used by the model, its dimensions and KPIs")
        return self.error(f"query failed: {text}")

    def table_columns(self, table: str) -> list[str] | None:
        if self._con is None:
            self.connect()
        schema, _, name = table.rpartition(".")
        try:
            rows = self._con.execute("SELECT name FROM pragma_table_info(?, ?) ORDER BY cid",
                                     (name, schema or "main")).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.error(f"cannot read the columns of {table!r}: {exc}") from None
        return [r[0] for r in rows] or None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _uri_path(path: str) -> str:
    # '?' and '#' end the path part of a URI; percent-encode them (and '%').
    return os.path.abspath(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


@hookimpl
def kpiengine_source_types():
    return [SQLiteSource]
