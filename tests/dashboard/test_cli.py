"""`kpi report` and `kpi serve` as a user runs them: real processes, clear errors, no tracebacks."""
from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request

from dash_testdata import KPI, run_kpi


def test_report_errors_name_the_option_and_exit_non_zero(demo_dir, tmp_path):
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(tmp_path / "r.html"), "--grain", "fortnight"],
                   demo_dir["folder"], demo_dir["env"])
    assert done.returncode != 0
    assert "option 'grain': 'fortnight' is not a grain" in done.stderr and "Traceback" not in done.stderr
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(tmp_path / "no" / "such" / "r.html")],
                   demo_dir["folder"], demo_dir["env"])
    assert done.returncode != 0 and "cannot write the report" in done.stderr and "Traceback" not in done.stderr


def test_report_for_a_chosen_period_and_breakdown(demo_dir, tmp_path):
    out = tmp_path / "r.html"
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(out), "--by", "channel", "--period", "2026-10-14"],
                   demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    assert "2026-W42 (Oct 12) vs 2026-W41 (Oct 5), by channel" in done.stdout
    html = out.read_text(encoding="utf-8")
    assert '"by": "channel"' in html and '"current": "2026-10-12"' in html


def test_kpi_serve_answers_on_loopback_and_stops_cleanly(demo_dir):
    proc = subprocess.Popen([KPI, "serve", "--spec", "kpi_specs", "--port", "0", "--quiet"], cwd=demo_dir["folder"],
                            env=demo_dir["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("dashboard at http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "api/status", timeout=10) as resp:
                    assert "stamp" in json.loads(resp.read())
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(url + "api/alerts", timeout=60) as resp:
            alerts = json.loads(resp.read())
        assert any(a["kpi"] == "conversion" and a["state"] == "firing" for a in alerts["active"])
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C, as a user stops it
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out and "Traceback" not in err
