"""Every networked source gives up on a server that accepts TCP and never speaks (issue 13, item 3).

A real TCP server on loopback accepts each connection and then says nothing
(what a MySQL client sees when pointed at a port that never greets, or a
firewall that swallows packets after the handshake). Each source must fail
within its ``connect_timeout`` (plus one second of slack), with a clear,
located error that names the server and gives a hint.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from kpiengine.testing import SilentTCPServer

CONNECT_TIMEOUT = 2


def mysql(port):
    from kpiengine_plugins.mysql_source import MySQLSource
    return MySQLSource("shop", {"host": "127.0.0.1", "port": port, "user": "root", "password": "pw-Secret-1",
                                "connect_timeout": CONNECT_TIMEOUT})


def postgres(port):
    from kpiengine_plugins.postgres_source import PostgresSource
    return PostgresSource("shop", {"host": "127.0.0.1", "port": port, "user": "x", "password": "pw-Secret-1",
                                   "dbname": "test", "connect_timeout": CONNECT_TIMEOUT})


def sqlalchemy_postgres(port):
    from kpiengine_plugins.sqlalchemy_source import SQLAlchemySource
    return SQLAlchemySource("shop", {"url": f"postgresql+psycopg://x:pw-Secret-1@127.0.0.1:{port}/test",
                                     "connect_timeout": CONNECT_TIMEOUT})


def sqlalchemy_mysql(port):
    from kpiengine_plugins.sqlalchemy_source import SQLAlchemySource
    return SQLAlchemySource("shop", {"url": f"mysql+pymysql://root:pw-Secret-1@127.0.0.1:{port}/test",
                                     "connect_timeout": CONNECT_TIMEOUT})


@pytest.mark.parametrize("make", [mysql, postgres, sqlalchemy_postgres, sqlalchemy_mysql],
                         ids=lambda f: f.__name__)
def test_silent_server_gives_up_within_the_connect_timeout(make, source_error):
    with SilentTCPServer() as server:
        src = make(server.port)
        t = time.monotonic()
        outcome: list[str] = []
        # run in a thread so a regression fails the test instead of hanging the suite
        worker = threading.Thread(target=lambda: outcome.append(
            source_error(lambda: (src.connect(), src.execute("SELECT 1")), "shop", secrets=("pw-Secret-1",))),
            daemon=True)
        worker.start()
        worker.join(CONNECT_TIMEOUT + 10)
        took = time.monotonic() - t
        assert not worker.is_alive(), f"{make.__name__} still waiting after {took:.1f}s"
        src.close()
    [text] = outcome
    assert took < CONNECT_TIMEOUT + 1.5, (took, text)
    assert server.accepted >= 1  # it did reach the server
    assert "no answer from" in text and f"within {CONNECT_TIMEOUT}s" in text, text
    assert "hint:" in text and "connect_timeout" in text


SPARK_SCRIPT = """
import os, sys, time
from kpiengine.errors import SourceError
from kpiengine_plugins.spark_source import SparkSource, remote_session
url = sys.argv[1]
remote_session(url, 2)  # the client's session object is made without the server: not timed
src = SparkSource("shop", {"remote": url, "connect_timeout": 2})
t = time.monotonic()
try:
    src.connect()
    src.execute("SELECT 1")
except SourceError as exc:
    print(f"{time.monotonic() - t:.2f}|{exc}", flush=True)
# the abandoned gRPC call sits in PySpark's thread pool, which Python joins at exit (known gap)
os._exit(0)
"""


def test_silent_server_spark_connect_gives_up_within_the_connect_timeout():
    pytest.importorskip("pyspark.sql.connect.session", reason="Spark Connect client not installed")
    with SilentTCPServer() as server:
        # in a process of its own: a Connect session turns the process's PySpark to remote mode
        out = subprocess.run([sys.executable, "-c", SPARK_SCRIPT, f"sc://127.0.0.1:{server.port}"],
                             capture_output=True, text=True, timeout=120)
    took, _, text = out.stdout.strip().partition("|")
    assert text, out.stderr[-2000:]
    assert float(took) < CONNECT_TIMEOUT + 1.5, (took, text)
    assert text.startswith("source 'shop': no answer from Spark Connect at sc://127.0.0.1:")
    assert f"within {CONNECT_TIMEOUT}s" in text and "connect_timeout" in text
