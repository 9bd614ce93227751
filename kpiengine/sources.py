"""The data-source interface: what a warehouse connector implements.

A source plugin returns ``Source`` subclasses from the ``kpiengine_source_types``
hook. The engine creates one instance per ``sources:`` entry in the spec,
calls :meth:`Source.connect`, runs the compiled SQL with :meth:`Source.execute`,
and always calls :meth:`Source.close`.

Connectors must turn driver exceptions into :class:`kpiengine.errors.SourceError`
(refused connection, bad password, missing table, timeout) so the user sees which
source failed and nothing partial is recorded as a success.
"""
from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Hashable, Iterator, Sequence

from .errors import SourceError


@dataclass
class QueryResult:
    """Rows of one query, as the driver returned them (no copy into another form).

    ``rows`` is a sequence of tuples in ``columns`` order. Values may be any of
    int, float, Decimal, str, date, datetime or None; the engine normalises them.
    """

    columns: list[str]
    rows: Sequence[tuple]


class Source(ABC):
    """One configured connection to a warehouse.

    Class attributes:
      ``type_name``: the ``type:`` a spec uses (``duckdb``, ``postgres``...).
      ``dialect``: the sqlglot dialect the compiler targets for this source.
      ``options_schema``: JSON Schema of the options this type accepts; the spec
        validator checks a spec's source options against it.
      ``supports_files``: True when models may read CSV/Parquet files directly.
      ``supports_timezone``: True when the engine can convert timestamps to the
        project time zone in SQL.
    """

    type_name: ClassVar[str] = ""
    dialect: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options_schema: ClassVar[dict] = {"type": "object"}
    supports_files: ClassVar[bool] = False
    supports_timezone: ClassVar[bool] = True
    #: option names whose values are secrets: never printed, never logged.
    secret_options: ClassVar[tuple[str, ...]] = ("password", "token", "secret", "url", "dsn")
    #: True when :meth:`connect` takes its connection from the command's scope (:func:`shared_connection`)
    #: and a connection opened in one thread may be used from another. The engine may then open it
    #: ahead, in a thread of its own, while it reads history (:func:`open_ahead`): an embedded
    #: database builds its catalog meanwhile (DuckDB: 10-14 ms) instead of before every query.
    opens_ahead: ClassVar[bool] = False

    def __init__(self, name: str, options: dict[str, Any]):
        self.name = name
        self.options = dict(options)
        self.allowed_files: list[str] = []

    def allow_files(self, paths: Sequence[str]) -> None:
        """The files the spec's models name for this source, set before :meth:`connect`.

        A source that can read files (``supports_files``) must keep every other
        file out of reach of the SQL it runs (DuckDB: external access disabled,
        these paths allowed, configuration locked).
        """
        self.allowed_files = list(paths)

    def dialect_for(self) -> str:
        """The sqlglot dialect to compile for. Override when it depends on options (SQLAlchemy URL)."""
        return self.dialect

    @abstractmethod
    def connect(self) -> None:
        """Open the connection, with a connect timeout. Raise SourceError on failure."""

    @abstractmethod
    def execute(self, sql: str, *, timeout: float | None = None) -> QueryResult:
        """Run one query read-only and return its rows. Raise SourceError on failure or timeout.

        Read-only means the query itself cannot undo it: a read-only transaction
        opened for the query (PostgreSQL, MySQL), ``query_only`` (SQLite), no
        file access beyond :attr:`allowed_files` (DuckDB).
        """

    def table_columns(self, table: str) -> list[str] | None:
        """Column names of ``table`` (for ``kpi validate --connect``), or None if unknown."""
        return None

    def close(self) -> None:
        """Release the connection. Must be safe to call twice and after a failed connect."""

    def error(self, message: str, *, hint: str | None = None) -> SourceError:
        return SourceError(self.name, message, hint=hint)

    def __enter__(self) -> "Source":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- connections kept for the length of a command -------------------------------------------------
_scope = threading.local()


class _Pool:
    """The connections of one scope, by key; ``opening`` those a thread is opening (others wait for them)."""

    def __init__(self) -> None:
        self.entries: dict[Hashable, tuple[Any, Callable[[], None]]] = {}
        self.opening: dict[Hashable, threading.Event] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []


@contextlib.contextmanager
def connection_scope(*, close_later: list[Callable[[], None]] | None = None) -> Iterator[None]:
    """Let sources opened in this thread share connections until the block ends (one ``kpi`` command).

    A command that computes several requests (explain, check, a report) would
    otherwise reconnect for each, and an embedded engine loses its cache with
    the connection. The scope is per thread and ends with the command: a
    long-running server's request threads never hold a database open between
    requests (a writer could not get in, and new data would not be seen).

    ``close_later``: the connections are not closed at the end of the block but handed over (as
    callables) to the caller, who closes them, with :func:`close_in_background` for one.
    """
    if getattr(_scope, "pool", None) is not None:  # nested: the outer scope owns the connections
        yield
        return
    _scope.pool = _Pool()
    try:
        yield
    finally:
        pool, _scope.pool = _scope.pool, None
        for thread in pool.threads:  # a connection still being opened ahead is closed with the rest
            thread.join()
        closers = [close for _handle, close in pool.entries.values()]
        if close_later is not None:
            close_later.extend(closers)
        else:
            close_all(closers)


def open_ahead(connects: list[Callable[[], None]]) -> None:
    """Run ``connects`` (each a source's connect-then-close) in a thread sharing this scope's connections.

    Whatever the thread opens stays in the scope: the source that connects to it next takes it,
    waiting if it is still being opened. A connect that fails here is not reported: the next one
    in the scope opens it again, in its own thread, and raises the error where the run handles it.
    Outside a scope nothing is kept, so nothing is opened.
    """
    pool = getattr(_scope, "pool", None)
    if pool is None or not connects:
        return

    def run() -> None:
        _scope.pool = pool
        try:
            for connect in connects:
                try:
                    connect()
                except Exception:  # noqa: BLE001 - raised again by the connect that needs it
                    pass
        finally:
            _scope.pool = None

    thread = threading.Thread(target=run, name="kpiengine-open", daemon=True)
    pool.threads.append(thread)
    thread.start()


def close_in_background(closers: list[Callable[[], None]]) -> threading.Thread:
    """Close connections in a thread of their own, for the caller to ``join()`` before it returns.

    Closing an embedded database frees its buffers and catalog (5-7 ms for DuckDB at 10M rows):
    an incremental run writes its history meanwhile instead of waiting.
    """
    thread = threading.Thread(target=close_all, args=(list(closers),), name="kpiengine-close", daemon=True)
    thread.start()
    return thread


def close_all(closers: list[Callable[[], None]]) -> None:
    for close in closers:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing at the end of a command must not hide its result
            pass


def shared_connection(key: Hashable, open_: Callable[[], Any], close: Callable[[Any], None]) -> tuple[Any, bool]:
    """(connection, shared): the scope's connection for ``key``, opened on first use; a new one outside a scope.

    When ``shared`` is True the scope closes it; the source must not. While another thread of the
    scope opens it (:func:`open_ahead`), this one waits for that connection rather than open a second.
    """
    pool = getattr(_scope, "pool", None)
    if pool is None:
        return open_(), False
    while True:
        with pool.lock:
            if key in pool.entries:
                return pool.entries[key][0], True
            opened = pool.opening.get(key)
            if opened is None:
                opened = pool.opening[key] = threading.Event()
                break
        opened.wait()  # opened (taken above next time round) or failed (opened again here, its error raised)
    try:
        handle = open_()
        with pool.lock:
            pool.entries[key] = (handle, lambda: close(handle))
        return handle, True
    finally:
        with pool.lock:
            del pool.opening[key]
        opened.set()


# -- hard time limits on driver calls -------------------------------------------------------------
#: a statement may run this much longer than its timeout before the client stops waiting for the server
#: (the server cancels it at the timeout; the grace covers the cancel's round trip)
STATEMENT_GRACE = 5.0


class CallTimedOut(Exception):
    """A driver call did not return within the time allowed."""


def call_within(seconds: float, fn: Callable[..., Any], *args: Any, on_late: Callable[[Any], None] | None = None,
                **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, given up after ``seconds``: raises :class:`CallTimedOut`.

    Drivers honour their own connect timeouts only for part of the way (PyMySQL
    times the TCP connect, then waits forever for the server's greeting; a
    libpq connect may retry without TLS, doubling the wait). Run in a daemon
    thread, the call is bounded whatever the driver does. A result that arrives
    after the caller gave up is handed to ``on_late`` (to close a late connection).
    """
    done = threading.Event()
    outcome: dict[str, Any] = {}
    lock = threading.Lock()

    def run():
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread as is
            outcome["error"] = exc
        else:
            with lock:
                late = done.is_set()
                outcome["value"] = value
            if late and on_late is not None:
                try:
                    on_late(value)
                except Exception:  # noqa: BLE001 - nobody is left to tell
                    pass
        finally:
            done.set()

    worker = threading.Thread(target=run, name="kpi-source-call", daemon=True)
    worker.start()
    finished = done.wait(seconds)
    with lock:
        if not finished and "value" not in outcome and "error" not in outcome:
            done.set()  # from now on a late result is the thread's to close
            raise CallTimedOut(f"no answer within {seconds:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
