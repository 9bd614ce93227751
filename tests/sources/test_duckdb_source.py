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
