"""DuckDB connections are shared for one command (connection_scope) and released when it ends."""
from __future__ import annotations

import subprocess
import sys
import threading

import duckdb
import pytest

from kpiengine.sources import connection_scope
from kpiengine_plugins.duckdb_source import DuckDBSource


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(10)")
    con.close()
    return str(path)


def writable_from_another_process(path: str) -> bool:
    code = f"import duckdb; duckdb.connect({path!r}).execute('CREATE TABLE IF NOT EXISTS w (x INT)')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_scope_keeps_one_database_open_and_releases_it(db):
    with connection_scope():
        for _ in range(3):  # three requests of one command
            with DuckDBSource("w", {"path": db}) as src:
                assert src.execute("SELECT sum(i) FROM t").rows == [(45,)]
        assert not writable_from_another_process(db)  # still open for the rest of the command
    assert writable_from_another_process(db)  # the command is over: nothing holds the file


def test_without_a_scope_close_releases_the_file(db):
    with DuckDBSource("w", {"path": db}) as src:
        assert src.execute("SELECT count(*) FROM t").rows == [(10,)]
    assert writable_from_another_process(db)


def test_other_threads_do_not_share_the_commands_connection(db):
    seen = []

    def request():
        with DuckDBSource("w", {"path": db}) as src:
            seen.append(src.execute("SELECT max(i) FROM t").rows[0][0])

    with connection_scope():
        worker = threading.Thread(target=request)
        worker.start()
        worker.join()
    assert seen == [9]
    assert writable_from_another_process(db)


def test_threads_opening_one_file_at_once_all_connect(tmp_path):
    """The dashboard opens the warehouse from two threads at once; the file lock-down must not race.

    DuckDB shares one database instance per file within a process, so one thread's
    `SET lock_configuration` can land between another's check and its own settings.
    """
    import threading

    import duckdb

    from kpiengine_plugins.duckdb_source import DuckDBSource

    failures = []
    for round_ in range(15):
        path = tmp_path / f"w{round_}.duckdb"
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(10)")
        con.close()
        barrier = threading.Barrier(6)
        sources = [DuckDBSource("w", {"path": str(path)}) for _ in range(6)]

        def open_and_count(source):
            barrier.wait()
            try:
                source.connect()
                assert source.execute("SELECT count(*) FROM t").rows[0][0] == 10
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(f"round {round_}: {exc}")
            finally:
                source.close()

        threads = [threading.Thread(target=open_and_count, args=(s,)) for s in sources]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


# -- opened ahead: a thread of the scope opens the database while the command reads history --------
def test_a_database_opened_ahead_is_the_one_the_command_queries(db):
    from kpiengine.sources import _scope, open_ahead

    ahead = DuckDBSource("w", {"path": db})
    with connection_scope():
        open_ahead([lambda: (ahead.connect(), ahead.close())])
        with DuckDBSource("w", {"path": db}) as src:  # waits for the thread's connection, opens no second
            assert src.execute("SELECT sum(i) FROM t").rows == [(45,)]
        pool = _scope.pool
        assert len(pool.entries) == 1 and not pool.opening
        assert not writable_from_another_process(db)
    assert writable_from_another_process(db)  # the ahead thread's database is closed with the scope


def test_a_connect_waits_for_the_one_opening_and_opens_once(tmp_path):
    from kpiengine.sources import open_ahead, shared_connection

    opened, closed = [], []
    started = threading.Event()

    def slow_open():
        started.set()
        threading.Event().wait(0.2)  # a catalog being built
        opened.append(object())
        return opened[-1]

    with connection_scope():
        open_ahead([lambda: shared_connection("k", slow_open, closed.append)])
        assert started.wait(5)
        handle, shared = shared_connection("k", slow_open, closed.append)
        assert shared and len(opened) == 1 and handle is opened[0]
    assert closed == opened


def test_a_failed_open_ahead_is_reported_by_the_connect_that_needs_it(tmp_path):
    from kpiengine.errors import SourceError
    from kpiengine.sources import open_ahead

    missing = str(tmp_path / "gone.duckdb")
    ahead = DuckDBSource("w", {"path": missing})
    with connection_scope():
        open_ahead([lambda: (ahead.connect(), ahead.close())])
        with pytest.raises(SourceError, match="does not exist"):
            DuckDBSource("w", {"path": missing}).connect()


def test_an_open_that_fails_in_the_thread_is_tried_again_by_the_waiting_connect():
    from kpiengine.sources import open_ahead, shared_connection

    calls = []
    started = threading.Event()

    def flaky_open():
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            started.set()
            threading.Event().wait(0.1)
            raise RuntimeError("server busy")
        return "connection"

    with connection_scope():
        open_ahead([lambda: shared_connection("k", flaky_open, lambda h: None)])
        assert started.wait(5)
        assert shared_connection("k", flaky_open, lambda h: None) == ("connection", True)
    assert calls == ["kpiengine-open", threading.current_thread().name]


def test_outside_a_scope_nothing_is_opened_ahead(db):
    from kpiengine.sources import open_ahead

    ran = []
    open_ahead([lambda: ran.append(1)])
    assert ran == [] and writable_from_another_process(db)
