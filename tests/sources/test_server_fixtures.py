"""The shared server fixtures: skip with a reason when a server is down, fail instead in CI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
PROBE = """
def test_needs_postgres(pg_conn):
    pass

def test_needs_mariadb(mysql_conn):
    pass
"""


def run_probe(tmp_path, **env) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    environ = {k: v for k, v in os.environ.items() if k != "KPIENGINE_REQUIRE_SERVERS"}
    environ.update(KPIENGINE_TEST_PG_PORT="1", KPIENGINE_TEST_MYSQL_PORT="1", **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)


def test_unreachable_servers_skip_with_a_reason(tmp_path):
    result = run_probe(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout
    assert "PostgreSQL not reachable at 127.0.0.1:1" in result.stdout
    assert "MariaDB not reachable at 127.0.0.1:1" in result.stdout
    assert "set KPIENGINE_REQUIRE_SERVERS=1 in CI to make this a failure" in result.stdout


def test_unreachable_servers_fail_when_required(tmp_path):
    result = run_probe(tmp_path, KPIENGINE_REQUIRE_SERVERS="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 errors" in result.stdout or "2 failed" in result.stdout
    assert "PostgreSQL not reachable at 127.0.0.1:1" in result.stdout
    assert "Traceback" not in result.stdout
