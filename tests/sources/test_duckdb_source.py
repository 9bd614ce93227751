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
