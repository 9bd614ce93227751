"""`kpi check --delivery-timeout` is a hard limit, and what waits says so (issue 13, items 2 and 5).

Real `kpi check` processes against the mini DuckDB warehouse; the receivers are
real loopback servers: one that accepts TCP and never answers, one that fails
and then recovers.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpiengine.testing import RecordingHTTPServer, Reply, SilentTCPServer

from alerting_helpers import DROP_WEEK, build_mini_warehouse, write_mini_project

KPI = str(Path(sys.executable).parent / "kpi")


@pytest.fixture
def mini(tmp_path):
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    return tmp_path, db


def run_kpi(tmp_path, *args, timeout=120) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ)
    env.pop("KPIENGINE_HISTORY", None)
    t = time.monotonic()
    proc = subprocess.run([KPI, *map(str, args)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=timeout)
    return proc, time.monotonic() - t


def outbox(spec: Path) -> list[dict]:
    con = sqlite3.connect(spec / ".kpiengine" / "history.db")
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM alert_outbox ORDER BY id")]
    con.close()
    return rows


def test_never_answering_receiver_is_cut_at_the_delivery_timeout(mini):
    tmp_path, db = mini
    with SilentTCPServer() as receiver:
        # the sink itself would wait 60 s for an answer: only the run's deadline can end it
        spec = write_mini_project(tmp_path / "spec", db, receiver.url + "/hook", timeout=60)
        baseline, startup = run_kpi(tmp_path, "check", "-s", spec, "--period", DROP_WEEK, "--no-send")
        assert baseline.returncode == 2, baseline.stderr
        # the same check, now delivering: at most 5 s more than evaluating alone (plus 2 s of slack)
        proc, took = run_kpi(tmp_path, "check", "-s", spec, "--period", DROP_WEEK, "--delivery-timeout", 5)
        assert proc.returncode == 2, proc.stderr
        assert took < startup + 7, (took, startup)
        assert took >= 5  # it did try for the whole budget
        assert receiver.accepted == 1  # one request in flight, not a storm of copies
    [row] = outbox(spec)
    assert row["status"] == "pending" and row["attempts"] == 1  # not lost: the next check sends it
    assert "still in flight" in proc.stderr and "stays pending" in proc.stderr


def test_next_check_sends_a_backed_off_row_at_once_and_says_what_waits(mini):
    tmp_path, db = mini
    with RecordingHTTPServer(default=Reply.error(500)) as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"), timeout=2)
        alerts = spec / "alerts.yml"
        alerts.write_text(alerts.read_text().replace("connect_timeout: 2}", "connect_timeout: 2, "
                                                      "retry_initial: 40s, retry_max: 40s}"))
        first, _ = run_kpi(tmp_path, "check", "-s", spec, "--period", DROP_WEEK, "--delivery-timeout", 3)
        assert first.returncode == 2 and len(server.requests) == 1
        # the next try is 20-40 s away, beyond this run: it says so instead of going quiet
        assert "waits until" in first.stderr and "the next `kpi check` sends it" in first.stderr
        [row] = outbox(spec)
        assert row["status"] == "pending" and row["next_attempt_at"] - time.time() > 15

        server.respond(Reply.ok())  # the receiver is back
        second, took = run_kpi(tmp_path, "check", "-s", spec, "--period", DROP_WEEK, "--delivery-timeout", 30)
        assert second.returncode == 2, second.stderr
        assert len(server.requests) == 2 and took < 18  # sent at once, not after its 20-40 s backoff
        assert {r.header("Idempotency-Key") for r in server.requests} == {row["idempotency_key"]}
        [row] = outbox(spec)
        assert row["status"] == "delivered" and row["attempts"] == 2


def test_retry_after_is_still_honoured_by_the_next_check(mini):
    tmp_path, db = mini
    with RecordingHTTPServer() as server:
        server.script(Reply.rate_limited(retry_after=3600))
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"), timeout=2)
        run_kpi(tmp_path, "check", "-s", spec, "--period", DROP_WEEK, "--delivery-timeout", 2)
        again, took = run_kpi(tmp_path, "check", "-s", spec, "--period", DROP_WEEK, "--delivery-timeout", 2)
        assert len(server.requests) == 1 and took < 30  # the receiver asked for an hour: nothing is sent
        assert "waits until" in again.stderr
    [row] = outbox(spec)
    assert row["status"] == "pending" and "429" in row["last_error"]
