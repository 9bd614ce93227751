"""Apache Spark SQL through PySpark: catalog (Hive) tables, or CSV/Parquet files registered as views.

One SparkSession serves the whole process (starting a JVM takes seconds and
Spark allows one active context anyway). Static settings (``master``,
``app_name``, ``hive``, non-``spark.sql.*`` ``conf`` keys) therefore come from
the first Spark source connected; ``spark.sql.*`` settings and the session time
zone are runtime settings applied by every source when it connects.

With ``remote: sc://host:15002`` the source is a Spark Connect client of a
Spark that is already running (a cluster, or ``start-connect-server.sh``):
no JVM starts in this process, so a command costs a connection instead of
the half minute a local Spark takes to start. It needs ``pyspark[connect]``.
Timeouts interrupt the query by its tag instead of cancelling a job group.
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import threading
import urllib.parse
import warnings

from kpiengine import hookimpl
from kpiengine.errors import SourceError
from kpiengine.sources import CallTimedOut, QueryResult, Source, call_within

_TIMEOUT_HINT = "raise `timeout` on the run or narrow the date range"

# Settings for a small local engine: no web UI (nothing listens on a port), few shuffle
# partitions (the default 200 makes tiny aggregations slow), and ANSI mode off so that
# division by zero and unparsable dates give NULL as on the other engines instead of failing.
_DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.ansi.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

_session = None
_remote_sessions: dict[str, object] = {}
_session_lock = threading.Lock()
_job_ids = itertools.count(1)


def remote_session(url: str, connect_timeout: float = 10.0):
    """A Spark Connect session to the Spark at ``url`` (``sc://host:port``), one per URL per process."""
    with _session_lock:
        session = _remote_sessions.get(url)
        if session is not None and not getattr(session, "is_stopped", False):
            return session
        # The gRPC client retries an unreachable server with back-off for minutes: try the port first.
        host, port = _host_port(url)
        socket.create_connection((host, port), timeout=connect_timeout).close()
        with warnings.catch_warnings():
            # PySpark's Connect client warns about the pandas version it finds; nothing here uses pandas.
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\.|$)")
            from pyspark.sql import SparkSession  # lazy: PySpark (and its Connect client) only when used

            session = _remote_sessions[url] = SparkSession.builder.remote(url).getOrCreate()
        _quiet_query_error_loggers()
        return session


def _host_port(url: str) -> tuple[str, int]:
    """``sc://host[:port][/;params]`` -> (host, port); Spark Connect listens on 15002 by default."""
    parts = urllib.parse.urlsplit("http://" + url[len("sc://"):])
    return parts.hostname or "localhost", parts.port or 15002


def shared_session(master: str = "local[2]", app_name: str = "kpiengine", conf: dict | None = None,
                   hive: bool = False):
    """The process-wide SparkSession, created on first use with these settings."""
    global _session
    with _session_lock:
        if _session is not None and _alive(_session):
            return _session
        from pyspark.sql import SparkSession  # lazy: starting PySpark costs seconds; only Spark sources need it

        builder = SparkSession.builder.master(master).appName(app_name)
        for key, value in {**_DEFAULT_CONF, **{k: _conf_value(v) for k, v in (conf or {}).items()}}.items():
            builder = builder.config(key, value)
        if hive:
            builder = builder.enableHiveSupport()
        # Spark warns that the host name resolves to a loopback address unless told which to use.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        _session = builder.getOrCreate()
        _session.sparkContext.setLogLevel("ERROR")
        _quiet_query_error_loggers()
        return _session


def _quiet_query_error_loggers() -> None:
    # PySpark 4 logs every failed query with its JVM stack trace as JSON on stderr; the
    # SourceError raised here already says what failed, so the log is only noise.
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # PySpark 3 has no such logging
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL + 1)


def _alive(session) -> bool:
    try:
        return not session.sparkContext._jsc.sc().isStopped()
    except Exception:  # stopped sessions drop their JVM handles
        return False


def _conf_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class SparkSource(Source):
    type_name = "spark"
    dialect = "spark"
    description = "Apache Spark SQL (PySpark): catalog tables, or CSV/Parquet files registered as views."
    secret_options = ()
    options_schema = {
        "type": "object",
        "properties": {
            "remote": {"type": "string", "pattern": "^sc://",
                       "description": "Spark Connect URL of a running Spark, e.g. sc://spark-host:15002 "
                                      "(needs pyspark[connect]; then master, app_name, hive and static conf "
                                      "are the server's)"},
            "connect_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10,
                                "description": "seconds to wait for the Spark Connect server's port"},
            "master": {"type": "string", "default": "local[2]", "description": "e.g. local[2], spark://host:7077, yarn"},
            "app_name": {"type": "string", "default": "kpiengine"},
            "conf": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
                     "description": "Spark configuration, e.g. spark.sql.shuffle.partitions: 8"},
            "hive": {"type": "boolean", "default": False, "description": "use the Hive metastore catalog"},
            "database": {"type": "string", "description": "catalog database for unqualified table names"},
            "timezone": {"type": "string", "default": "UTC",
                         "description": "spark.sql.session.timeZone: the zone stored timestamps are in. Keep "
                                        "UTC for UTC data; the project time zone is applied by the compiled SQL"},
            "tables": {
                "type": "object",
                "description": "views over files: name -> {path, format, options}",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "path": {"type": "string"},
                        "format": {"enum": ["csv", "parquet"]},
                        "options": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                    },
                    "required": ["path", "format"],
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
        # A Connect client has no master, application or catalog of its own: the server's apply.
        "not": {"anyOf": [{"required": ["remote", "master"]}, {"required": ["remote", "hive"]},
                          {"required": ["remote", "app_name"]}]},
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self._spark = None
        self._views: list[str] = []

    @property
    def remote(self) -> str | None:
        return self.options.get("remote")

    def connect(self) -> None:
        o = self.options
        try:
            if self.remote:
                self._spark = remote_session(self.remote, float(o.get("connect_timeout", 10)))
            else:
                self._spark = shared_session(o.get("master", "local[2]"), o.get("app_name", "kpiengine"),
                                             o.get("conf"), bool(o.get("hive", False)))
        except ImportError as exc:
            raise self.error(f"cannot use Spark Connect: {exc}",
                             hint="install the client: pip install 'pyspark[connect]'") from None
        except Exception as exc:  # py4j / gRPC / JVM start-up failures have no common base class
            if self.remote:
                raise self.error(f"cannot reach Spark Connect at {self.remote}: {_first_line(exc)}",
                                 hint="start the server (sbin/start-connect-server.sh) or fix `remote`") from None
            raise self.error(f"cannot start Spark: {_first_line(exc)}",
                             hint="Spark needs Java 17+ (`java -version`, or set JAVA_HOME) "
                                  "and a reachable `master`") from None
        # SQL settings are per session and runtime: set them again here, in case the session was
        # started by other code (a notebook, a test) with Spark's defaults (ANSI mode on in Spark 4).
        runtime = {k: v for k, v in {**_DEFAULT_CONF, **(o.get("conf") or {})}.items() if k.startswith("spark.sql.")}
        runtime["spark.sql.session.timeZone"] = o.get("timezone", "UTC")
        if self.remote:
            # The TCP connect above proves little: a port that accepts and never speaks gRPC makes
            # the first call hang for good. Bound the first round trip by the connect timeout.
            limit = float(o.get("connect_timeout", 10))
            try:
                call_within(limit, self._spark.conf.set, "spark.sql.session.timeZone",
                            runtime["spark.sql.session.timeZone"])
            except CallTimedOut:
                _remote_sessions.pop(self.remote, None)
                self._spark = None
                raise self.error(f"no answer from Spark Connect at {self.remote} within {limit:g}s",
                                 hint="is it a Spark Connect port? check `remote` and firewalls, "
                                      "or raise `connect_timeout`") from None
            except Exception as exc:
                _remote_sessions.pop(self.remote, None)
                self._spark = None
                raise self.error(f"cannot reach Spark Connect at {self.remote}: {_first_line(exc)}",
                                 hint="start the server (sbin/start-connect-server.sh) or fix `remote`") from None
        try:
            for key, value in runtime.items():
                self._spark.conf.set(key, _conf_value(value))
            if o.get("database"):
                self._spark.catalog.setCurrentDatabase(o["database"])
            for view, table in (o.get("tables") or {}).items():
                self._register_view(view, table)
        except Exception as exc:
            self.close()
            if isinstance(exc, SourceError):
                raise
            raise self.error(f"cannot prepare the Spark session: {_first_line(exc)}",
                             hint="check `conf`, `timezone` and `database`") from None

    def _register_view(self, view: str, table: dict) -> None:
        path, fmt = table["path"], table["format"]
        if "://" not in path and not os.path.exists(path):
            raise self.error(f"table {view!r}: file {path!r} does not exist",
                             hint="fix `tables.<name>.path` (relative paths start at the working directory)")
        reader = self._spark.read.format(fmt)
        options = {"header": "true", "inferSchema": "true"} if fmt == "csv" else {}
        options.update({k: _conf_value(v) for k, v in (table.get("options") or {}).items()})
        try:
            reader.options(**options).load(path).createOrReplaceTempView(view)
        except Exception as exc:
            raise self.error(f"table {view!r}: cannot read {fmt} at {path!r}: {_first_line(exc)}",
                             hint="check `format` and `options` of the table") from None
        self._views.append(view)

    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        if self._spark is None:
            self.connect()
        group = f"kpiengine-{self.name}-{next(_job_ids)}"
        fired, done = threading.Event(), threading.Event()
        cancel, untag = self._label(group)

        def cancel_when_late():
            if done.wait(timeout):
                return
            fired.set()
            # Cancelling only reaches jobs already submitted; a query still being planned
            # submits its jobs later, so keep cancelling until execute() gives up.
            while not done.is_set():
                cancel()
                done.wait(0.2)

        watchdog = threading.Thread(target=cancel_when_late, daemon=True) if timeout else None
        try:
            if watchdog:
                watchdog.start()
            frame, rows = self._collect(sql)  # in this thread: the cancel finds the query by this thread's tag
            columns = list(frame.columns)
        except Exception as exc:
            if fired.is_set():
                raise self.error(f"query cancelled after the {timeout:g}s timeout", hint=_TIMEOUT_HINT) from None
            raise self._query_error(exc) from None
        finally:
            done.set()
            if watchdog:
                watchdog.join()
            untag()
        return QueryResult(columns, rows)

    def _collect(self, sql: str):
        frame = self._spark.sql(sql)
        return frame, frame.collect()  # Row is a tuple: no second copy

    def _label(self, group: str):
        """Mark what this thread runs next as ``group``; returns (cancel it, remove the mark)."""
        spark = self._spark
        if self.remote:
            # Tags are per thread, like job groups: interrupting the tag stops this query only.
            spark.addTag(group)
            return (lambda: spark.interruptTag(group)), (lambda: spark.removeTag(group))
        context = spark.sparkContext
        # Job groups are per thread: everything this query starts belongs to `group`.
        context.setJobGroup(group, f"kpiengine source {self.name}", interruptOnCancel=True)
        return (lambda: context.cancelJobGroup(group)), (lambda: context.setLocalProperty("spark.jobGroup.id", None))

    def _query_error(self, exc: Exception):
        text = _first_line(exc)
        if "TABLE_OR_VIEW_NOT_FOUND" in text:
            return self.error(f"query failed: {text}",
                              hint="check the model's `table:`; files must be listed under the source's `tables:`")
        if "UNRESOLVED_COLUMN" in text:
            return self.error(f"query failed: {text}",
                              hint="check the column names used by the model, its dimensions and KPIs")
        return self.error(f"query failed: {text}")

    def table_columns(self, table: str) -> list[str] | None:
        if self._spark is None:
            self.connect()
        try:
            return list(self._spark.table(table).columns) or None
        except Exception as exc:
            if "TABLE_OR_VIEW_NOT_FOUND" in str(exc):
                return None
            raise self.error(f"cannot read the columns of {table!r}: {_first_line(exc)}") from None

    def close(self) -> None:
        # The session is shared by the process: only this source's views go away.
        if self._spark is not None:
            for view in self._views:
                try:
                    self._spark.catalog.dropTempView(view)
                except Exception:  # session already stopped: the views are gone with it
                    pass
        self._views = []
        self._spark = None


def _first_line(exc: Exception) -> str:
    """The useful part of a Spark error: its first real line, without py4j's wrapper or the JVM stack."""
    for line in str(exc).splitlines():
        line = line.strip().lstrip(": ")
        if not line or line.startswith("An error occurred while calling"):
            continue
        line = re.sub(r"^(\w+\.)+\w+(Exception|Error): ", "", line)  # drop the Java class name
        return line if len(line) <= 600 else line[:600] + " ..."
    return type(exc).__name__


@hookimpl
def kpiengine_source_types():
    return [SparkSource]
