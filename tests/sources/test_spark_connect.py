"""Spark Connect: `remote:` runs the spec on a Spark that is already running; no JVM starts in the client.

The ``spark_connect_url`` fixture (tests/conftest.py) starts a real Spark
Connect server (PySpark's own ``start-connect-server.sh``, local mode,
loopback, a free port); ``kpi run`` runs against it and is compared with sums
computed in Python.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import pytest

pytestmark = pytest.mark.spark


ROWS = [(i, datetime(2026, 3, 2) + timedelta(hours=7 * i), ["east", "west", None][i % 3], i % 5) for i in range(90)]


@pytest.fixture(scope="module")
def spec(tmp_path_factory, spark_connect_url):
    folder = tmp_path_factory.mktemp("connect-spec")
    con = duckdb.connect()
    con.execute("CREATE TABLE e (id INT, ts TIMESTAMP, region TEXT, amount INT)")
    con.executemany("INSERT INTO e VALUES (?, ?, ?, ?)", ROWS)
    con.execute(f"COPY e TO '{folder / 'events.parquet'}' (FORMAT parquet)")
    (folder / "s.yml").write_text(f"""
project: {{name: connect, timezone: UTC, history: hist.db}}
sources:
  lake:
    type: spark
    remote: "{spark_connect_url}"
    tables: {{events: {{path: "{folder / 'events.parquet'}", format: parquet}}}}
models:
  events: {{table: events, time: ts, dimensions: {{region: region}}}}
kpis:
  events: {{label: Events, model: events, aggregate: count}}
  amount: {{label: Amount, model: events, aggregate: sum, column: amount}}
  per_event: {{label: Amount per event, formula: amount / events}}
""", encoding="utf-8")
    return folder


def expected():
    out: dict = {}
    for _id, ts, region, amount in ROWS:
        week = (ts.date() - timedelta(days=ts.weekday())).isoformat()
        n, total = out.get((week, region), (0, 0))
        out[week, region] = (n + 1, total + amount)
    return out


def test_kpi_run_on_a_running_spark(spec):
    # A separate process, as a user runs it: it must not start a JVM of its own.
    code = ("import sys; from kpiengine.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "from pyspark import SparkContext\n"
            "print('JVM in client:', SparkContext._active_spark_context is not None, file=sys.stderr)\n"
            "sys.exit(code)\n")
    out = subprocess.run([sys.executable, "-c", code, "run", "-s", str(spec), "--by", "region", "--format", "json",
                          "--no-history"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "JVM in client: False" in out.stderr
    rows = json.loads(out.stdout)["rows"]
    got = {(r["kpi"], r["period_start"], r["dimensions"]["region"]): r["value"] for r in rows}
    for (week, region), (n, total) in expected().items():
        assert got["events", week, region] == n
        assert got["amount", week, region] == total
        assert got["per_event", week, region] == pytest.approx(total / n)
    assert len(rows) == 3 * len(expected())


def test_timeout_interrupts_the_query_by_its_tag(spark_connect_url):
    # In a process of its own: PySpark refuses a Connect session beside the local one other tests start.
    code = f"""
from kpiengine.errors import SourceError
from kpiengine_plugins.spark_source import SparkSource
with SparkSource("lake", {{"remote": {spark_connect_url!r}}}) as src:
    try:
        src.execute("SELECT count(*) FROM range(0, 1000000000000)", timeout=1)
        print("not cancelled")
    except SourceError as exc:
        print(exc)
    print(src.execute("SELECT 1 / 0, current_timezone()").rows[0] == (None, "UTC"))  # ANSI off, UTC
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "query cancelled after the 1s timeout" in out.stdout and out.stdout.strip().endswith("True")


def test_remote_excludes_master_and_an_unreachable_server_is_a_clear_error(tmp_path):
    from kpiengine.errors import SourceError, SpecError
    from kpiengine.spec.loader import load_project
    from kpiengine_plugins.spark_source import SparkSource

    (tmp_path / "s.yml").write_text("sources:\n  lake: {type: spark, remote: 'sc://127.0.0.1:1', master: 'local[2]'}\n")
    with pytest.raises(SpecError, match="source 'lake'"):
        load_project(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = s.getsockname()[1]
    with pytest.raises(SourceError, match="cannot reach Spark Connect at sc://127.0.0.1:"):
        with SparkSource("lake", {"remote": f"sc://127.0.0.1:{nobody}"}) as src:
            src.execute("SELECT 1")
