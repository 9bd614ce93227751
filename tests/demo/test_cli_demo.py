"""`kpi demo` end to end: builds the file, computes and records the KPIs, prints them and the next steps."""
from __future__ import annotations

import shutil
from collections import Counter
from datetime import timedelta

import duckdb
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK


def copy_specs(specs_dir, tmp_path):
    target = tmp_path / "kpi_specs"
    shutil.copytree(specs_dir, target, ignore=shutil.ignore_patterns(".kpiengine", "__pycache__"))
    return target


def test_kpi_demo_builds_computes_records_and_guides(specs_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KPI_DEMO_DB", "restored-after-the-test")
    specs = copy_specs(specs_dir, tmp_path)
    db = tmp_path / "demo.duckdb"
    result = CliRunner().invoke(main, ["demo", "--spec", str(specs), "--scale", "0.2", "--weeks", "6"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert db.exists()
    assert "轉化率 Conversion" in out and "拜訪量 Visits" in out and "業績指數 Performance" in out
    assert f"{PLANTED_WEEK}  {PLANTED_REGION}" in out
    assert str(db) in out
    assert "kpi run --by region --last 4" in out and "kpi explain conversion" in out
    assert "Traceback" not in out

    # what was recorded is what the raw rows say, for the planted region and week
    con = duckdb.connect(str(db), read_only=True)
    visits = con.execute("SELECT count(*) FROM activities WHERE kind = 'visit' AND region = ? "
                         "AND happened_at >= ? AND happened_at < ?",
                         [PLANTED_REGION, PLANTED_WEEK, PLANTED_WEEK + timedelta(days=7)]).fetchone()[0]
    won = Counter(r[0] for r in con.execute(
        "SELECT region FROM deals WHERE stage = 'won' AND closed_at >= ? AND closed_at < ?",
        [PLANTED_WEEK, PLANTED_WEEK + timedelta(days=7)]).fetchall())[PLANTED_REGION]
    con.close()
    from kpiengine.run.history import HistoryStore
    from kpiengine.loader import load_project

    monkeypatch.setenv("KPI_DEMO_DB", str(db))
    project = load_project(specs)
    stored = HistoryStore.for_project(project).values(kpis=["conversion"], grain="week", by=["region"],
                                                      start=PLANTED_WEEK, end=None)
    east = [v for v in stored if v.dimensions == {"region": PLANTED_REGION} and v.period_start == PLANTED_WEEK]
    assert len(east) == 1 and abs(east[0].value - won / visits) < 1e-12
    for by in ([], ["channel"], ["rep"]):  # the other breakdowns the dashboard needs are in history too
        assert HistoryStore.for_project(project).values(kpis=["visits"], grain="week", by=by,
                                                        start=None, end=None)


def test_kpi_demo_no_run_only_builds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo", "--no-run", "--path", "w.duckdb", "--scale", "0.05",
                                       "--weeks", "2", "--spec", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w.duckdb").exists()
    assert "export KPI_DEMO_DB=" in result.output  # a non-default file needs the variable later


def test_kpi_demo_bad_option_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo", "--weeks", "1"])
    assert result.exit_code != 0
    assert "weeks must be an integer from 2 to 260" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "demo.duckdb").exists()


def test_kpi_demo_without_a_spec_folder_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo", "--scale", "0.05", "--weeks", "2", "--spec", "missing_specs"])
    assert result.exit_code != 0
    assert "no spec folder 'missing_specs'" in result.output and "--spec" in result.output
