"""Real processes: `kpi check` twice at once, and a check killed with SIGKILL mid-way.

A small DuckDB warehouse and spec folder are written by the test; the webhook
sink posts to a local recording HTTP server; `kpi` runs as the installed CLI.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kpiengine.testing import RecordingHTTPServer, Reply

from alerting_helpers import DROP_WEEK, build_mini_warehouse, write_mini_project

KPI = str(Path(sys.executable).parent / "kpi")


@pytest.fixture
def mini(tmp_path):
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    return tmp_path, db


def env_for(tmp_path):
    env = dict(os.environ)
    env.pop("KPIENGINE_HISTORY", None)
    env["HOME"] = str(tmp_path)
    return env


def kpi_check(spec: Path, tmp_path, *extra) -> subprocess.Popen:
    return subprocess.Popen([KPI, "check", "-s", str(spec), "--period", DROP_WEEK.isoformat(), "--format", "json",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(tmp_path), cwd=tmp_path)


def outbox(spec: Path) -> list[dict]:
    con = sqlite3.connect(spec / ".kpiengine" / "history.db")
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM alert_outbox ORDER BY id")]
    con.close()
    return rows


def test_two_concurrent_checks_notify_once(mini):
    tmp_path, db = mini
    with RecordingHTTPServer() as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"))
        procs = [kpi_check(spec, tmp_path) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        codes = [p.returncode for p in procs]
        assert codes == [2, 2], outs
        time.sleep(0.2)
        assert len(server.requests) == 1  # one notification, not two
        body = server.requests[0].json()
        assert [(i["dimensions"], i["severity"]) for i in body["items"]] == [({"region": "east"}, "critical")]
        assert body["items"][0]["value"] == pytest.approx(10 / 200)
        assert body["items"][0]["baseline"] == pytest.approx(40 / 200)
        reports = [json.loads(o) for o, _e in outs]
        assert sorted(len(r["notifications"]) for r in reports) == [0, 1]
        # both saw the same, single transition history
        con = sqlite3.connect(spec / ".kpiengine" / "history.db")
        events = con.execute("SELECT transition, key FROM alert_events").fetchall()
        con.close()
        assert events == [("firing", '{"region": "east"}')]


CHILD = textwrap.dedent("""
    import sys, time
    from datetime import date
    from kpiengine.loader import load_project
    from kpiengine.alerting.check import run_check
    project = load_project(sys.argv[1])
    mode = sys.argv[2]
    result = run_check(project, period=date.fromisoformat(sys.argv[3]), deliver=(mode == "send"))
    print("WRITTEN", len(result.notifications), flush=True)
    time.sleep(120)
""")


def start_child(tmp_path, spec, mode) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen([sys.executable, str(script), str(spec), mode, DROP_WEEK.isoformat()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path),
                            cwd=tmp_path)


def test_killed_after_outbox_write_next_run_delivers_exactly_once(mini):
    tmp_path, db = mini
    with RecordingHTTPServer() as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"))
        child = start_child(tmp_path, spec, "write-only")
        line = child.stdout.readline()
        assert line.startswith("WRITTEN 1"), child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert server.requests == []
        assert [r["status"] for r in outbox(spec)] == ["pending"]
        first = kpi_check(spec, tmp_path)
        out, err = first.communicate(timeout=120)
        assert first.returncode == 2, err
        assert len(json.loads(out)["notifications"]) == 0  # nothing new to say: the pending row is sent
        assert len(server.requests) == 1
        second = kpi_check(spec, tmp_path)
        second.communicate(timeout=120)
        assert len(server.requests) == 1  # exactly once
        assert [r["status"] for r in outbox(spec)] == ["delivered"]


def test_killed_while_sending_is_resent_with_the_same_key(mini):
    tmp_path, db = mini
    with RecordingHTTPServer() as server:
        server.script(Reply.hang_for(30))
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"), timeout=60)
        child = start_child(tmp_path, spec, "send")
        server.wait_for_requests(1, timeout=60)  # the request is on the wire, no answer yet
        child.send_signal(signal.SIGKILL)
        child.wait()
        [row] = outbox(spec)
        assert row["status"] == "pending" and row["lease_owner"]  # leased by a process that is gone
        again = kpi_check(spec, tmp_path)
        _out, err = again.communicate(timeout=120)
        assert again.returncode == 2, err
        assert len(server.requests) == 2
        first_key, second_key = (r.header("Idempotency-Key") for r in server.requests)
        assert first_key == second_key == row["idempotency_key"]  # the receiver can drop the duplicate
        assert [r["status"] for r in outbox(spec)] == ["delivered"]
