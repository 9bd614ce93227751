"""On the demo warehouse, `kpi check` finds the planted conversion drop in the right region and
week, and nothing else; backtests over all 26 weeks agree. Conversion is recomputed here with
plain SQL over the demo tables, independently of the engine."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK, build_demo

from alerting_helpers import REPO

KPI = str(Path(sys.executable).parent / "kpi")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    db = root / "demo.duckdb"
    build_demo(str(db))
    spec = root / "kpi_specs"
    shutil.copytree(REPO / "kpi_specs", spec)
    env = dict(os.environ, KPI_DEMO_DB=str(db), KPI_ALERT_LOG=str(root / "alerts.jsonl"), HOME=str(root))
    env.pop("KPIENGINE_HISTORY", None)
    return root, db, spec, env


def weekly_conversion(db) -> dict[tuple[str, str], tuple[float, int]]:
    """(week, region) -> (won deals / visits, visits), straight from the tables."""
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("""
        WITH v AS (SELECT date_trunc('week', happened_at)::DATE AS wk, region, count(*) AS visits
                   FROM activities WHERE kind = 'visit' GROUP BY ALL),
             w AS (SELECT date_trunc('week', closed_at)::DATE AS wk, region, count(*) AS won
                   FROM deals WHERE stage = 'won' GROUP BY ALL)
        SELECT v.wk, v.region, coalesce(w.won, 0)::DOUBLE / v.visits, v.visits
        FROM v LEFT JOIN w USING (wk, region)""").fetchall()
    con.close()
    return {(str(wk), region): (conv, visits) for wk, region, conv, visits in rows}


def run(args, env, cwd):
    return subprocess.run([KPI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_check_finds_the_planted_drop_and_nothing_else(demo):
    root, db, spec, env = demo
    conv = weekly_conversion(db)
    week = PLANTED_WEEK.isoformat()
    prev4 = [str(PLANTED_WEEK.fromordinal(PLANTED_WEEK.toordinal() - 7 * k)) for k in range(1, 5)]
    value, visits = conv[(week, PLANTED_REGION)]
    baseline = sum(conv[(w, PLANTED_REGION)][0] for w in prev4) / 4

    proc = run(["check", "-s", str(spec), "--format", "json"], env, root)
    assert proc.returncode == 2, proc.stderr  # critical firing
    report = json.loads(proc.stdout)
    assert set(report["periods"].values()) == {week}  # the latest complete week with data
    firing = [(a["rule"], a["dimensions"], a["last_period"]) for a in report["alerts"] if a["state"] == "firing"]
    assert sorted(firing) == [("conversion_drop", {"region": PLANTED_REGION}, week),
                              ("revenue_drop", {"region": PLANTED_REGION}, week)]
    drop = next(a for a in report["alerts"] if a["rule"] == "conversion_drop" and a["state"] == "firing")
    assert drop["value"] == pytest.approx(value)
    assert drop["baseline"] == pytest.approx(baseline)
    assert drop["severity"] == "critical"

    # the message as the ops person reads it (file sink): KPI, region, value, baseline, change,
    # process path and playbook
    sent = [json.loads(x) for x in (root / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    conv_msgs = [n for n in sent if n["items"][0]["kpi"] == "conversion"]
    assert len(conv_msgs) == 1
    item = conv_msgs[0]["items"][0]
    assert item["kpi_label"] == "轉化率 Conversion" and item["dimensions"] == {"region": PLANTED_REGION}
    assert f"{value * 100:.1f} %" in item["message"] and f"{baseline * 100:.1f} %" in item["message"]
    assert f"{(value - baseline) / baseline * 100:+.1f} %" in item["message"]
    assert "Sales system / 銷售體系 > Closing / 成交" in item["message"]
    assert item["playbook"].startswith("1. Find where it fell")
    # explain: true puts the root cause next to the symptom
    assert f"region {PLANTED_REGION} explains" in conv_msgs[0]["text"]
    assert "轉化率 Conversion" in proc.stderr  # the console sink (stream: stderr)


def test_the_week_before_is_quiet(demo):
    root, db, spec, env = demo
    before = PLANTED_WEEK.fromordinal(PLANTED_WEEK.toordinal() - 7).isoformat()
    quiet_env = dict(env, KPIENGINE_HISTORY=str(root / "quiet.db"))
    proc = run(["check", "-s", str(spec), "--period", before, "--format", "json", "--no-send"], quiet_env, root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert [a for a in report["alerts"] if a["state"] in ("firing", "pending")] == []


def test_backtest_over_all_weeks_fires_once_in_the_planted_week(demo):
    root, db, spec, env = demo
    conv = weekly_conversion(db)
    # independent check of the claim "the other regions stay normal"
    for (wk, region), (c, _v) in conv.items():
        if wk == PLANTED_WEEK.isoformat() and region != PLANTED_REGION:
            assert 0.13 < c < 0.30
    proc = run(["backtest", "conversion_drop", "-s", str(spec), "--from", "2026-05-04", "--to", "2026-11-02",
                "--format", "json"], env, root)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["periods"] == 26
    assert [(e["fired"], e["dimensions"], e["severity"]) for e in report["episodes"]] == \
        [(PLANTED_WEEK.isoformat(), {"region": PLANTED_REGION}, "critical")]
    assert report["notifications"] == 1


def test_kpi_test_passes_on_the_demo_rules(demo):
    root, _db, spec, env = demo
    proc = run(["test", "-s", str(spec)], env, root)
    assert proc.returncode == 0, proc.stdout
    assert "8 passed, 0 failed" in proc.stdout
