"""The kpi command line, end to end on a real DuckDB file."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from kpiengine.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("""CREATE TABLE visits AS SELECT i AS id, TIMESTAMP '2026-03-02' + INTERVAL (i * 5) HOUR AS ts,
                   CASE i % 3 WHEN 0 THEN 'east' WHEN 1 THEN 'west' END AS region FROM range(300) t(i)""")
    con.execute("""CREATE TABLE deals AS SELECT i AS id, TIMESTAMP '2026-03-02' + INTERVAL (i * 11) HOUR AS ts,
                   CASE i % 2 WHEN 0 THEN 'east' END AS region,
                   CASE WHEN i % 5 = 0 THEN 'won' ELSE 'lost' END AS stage FROM range(120) t(i)""")
    con.close()
    spec = tmp_path / "specs"
    spec.mkdir()
    (spec / "s.yml").write_text(f"""
project: {{name: cli, timezone: UTC, history: hist.db}}
sources:
  w: {{type: duckdb, path: "{db}"}}
process:
  - id: sales
    label: 銷售體系 Sales
    children: [{{id: closing, label: 成交 Closing}}]
models:
  visits: {{table: visits, time: ts, dimensions: {{region: region}}}}
  deals: {{table: deals, time: ts, dimensions: {{region: region}}}}
kpis:
  visits: {{label: 拜訪量, model: visits, aggregate: count, unit: count}}
  deals_won: {{label: Won, model: deals, aggregate: count, filter: "stage = 'won'", unit: count}}
  conversion: {{label: 轉化率, formula: deals_won / visits, unit: percent, process: closing,
               playbook: "Call the regional lead."}}
""", encoding="utf-8")
    return spec


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_json_contract_and_history(project):
    res = invoke("run", "-s", project, "--by", "region", "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["grain"] == "week" and out["by"] == ["region"] and out["run_id"] == 1
    row = next(r for r in out["rows"] if r["kpi"] == "conversion" and r["dimensions"] == {"region": "east"})
    assert set(row) >= {"kpi", "period_start", "dimensions", "value"}
    assert row["period_start"] == "2026-03-02"
    # independent: first week (Mon 2026-03-02 .. 03-08), visits every 5 h, deals every 11 h
    visits_east = sum(1 for i in range(300) if i * 5 < 168 and i % 3 == 0)
    won_east = sum(1 for i in range(120) if i * 11 < 168 and i % 2 == 0 and i % 5 == 0)
    assert row["value"] == pytest.approx(won_east / visits_east)
    assert any(r["dimensions"] == {"region": None} for r in out["rows"])
    con = sqlite3.connect(project / "hist.db")
    assert con.execute("SELECT status, rows FROM runs").fetchall() == [("ok", len(out["rows"]))]


def test_run_table_and_csv(project):
    res = invoke("run", "-s", project, "--kpi", "conversion", "--by", "region", "--last", "1")
    assert res.exit_code == 0
    assert "轉化率" in res.output and "%" in res.output and "∅" in res.output
    res = invoke("run", "-s", project, "--kpi", "visits", "--format", "csv", "--no-history")
    lines = res.output.splitlines()
    assert lines[0] == "kpi,period_start,value,complete" and lines[1].startswith("visits,2026-03-02,")


def test_validate_reports_located_errors_without_traceback(project):
    (project / "broken.yml").write_text("kpis:\n  x:\n    label: X\n    formula: visit / 0\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", "-s", str(project)])
    assert res.exit_code == 2
    assert "broken.yml:4:14: error: unknown KPI 'visit' in the formula of 'x'" in res.output
    assert "did you mean 'visits'?" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["validate", "-s", str(project), "--format", "json"])
    assert json.loads(res.output)["problems"][0]["line"] == 4


def test_validate_connect_finds_missing_column(project):
    (project / "more.yml").write_text("kpis:\n  amt: {label: A, model: deals, aggregate: sum, column: amount}\n",
                                      encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", "-s", str(project), "--connect"])
    assert res.exit_code == 2
    assert "column 'amount' does not exist in 'deals'" in res.output


def test_compile_for_snowflake(project):
    res = invoke("compile", "-s", project, "--dialect", "snowflake", "--kpi", "conversion", "--by", "region")
    assert res.exit_code == 0
    # one statement for the source, both models' scans and the formula inside it
    assert res.output.count(";") == 1 and "DAYOFWEEKISO" in res.output and "NULLIF" in res.output
    assert res.output.count("FROM deals") == 1 and res.output.count("FROM visits") == 1
    res = invoke("compile", "-s", project, "--dialect", "snowflake", "--kpi", "conversion", "--by", "region",
                 "--per-model")
    assert res.exit_code == 0 and res.output.count(";") == 2 and "NULLIF" not in res.output


def test_explain_shows_path_formula_and_sql(project):
    res = invoke("explain", "-s", project, "conversion")
    assert res.exit_code == 0
    assert "process: 銷售體系 Sales > 成交 Closing" in res.output
    assert "├─ deals_won (Won) = count over model deals" in res.output
    assert "where stage = 'won'" in res.output and "Call the regional lead." in res.output
    assert "FROM deals AS m" in res.output
    data = json.loads(invoke("explain", "-s", project, "conversion", "--format", "json").output)
    assert data["inputs"] == ["deals_won", "visits"] and data["process_path"][-1] == "成交 Closing"


def test_unknown_kpi_and_period_are_clear(project):
    res = CliRunner().invoke(main, ["run", "-s", str(project), "--kpi", "convresion"])
    assert res.exit_code == 2 and "did you mean 'conversion'?" in res.output
    res = CliRunner().invoke(main, ["run", "-s", str(project), "--grain", "fortnight"])
    assert res.exit_code == 2 and "unknown period 'fortnight'" in res.output


def test_source_failure_exits_3_and_records_no_success(project, tmp_path):
    text = (project / "s.yml").read_text()
    (project / "s.yml").write_text(text.replace(str(tmp_path / "w.duckdb"), str(tmp_path / "missing.duckdb")))
    res = CliRunner().invoke(main, ["run", "-s", str(project)])
    assert res.exit_code == 3
    assert "source 'w'" in res.output and "does not exist" in res.output
    con = sqlite3.connect(project / "hist.db")
    assert con.execute("SELECT status FROM runs").fetchall() == [("error",)]
    assert con.execute("SELECT COUNT(*) FROM kpi_values").fetchone()[0] == 0


def test_schema_is_valid_and_accepts_the_demo_specs():
    schema = json.loads(invoke("schema").output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((REPO / "kpi_specs").glob("*.yml")):
        if path.name.endswith(".test.yml"):
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (path.name, errors[:3])


def test_plugins_lists_builtins_as_json():
    out = json.loads(invoke("plugins", "--format", "json").output)
    assert {"duckdb", "sqlite", "postgres", "mysql", "sqlalchemy", "spark"} <= set(out["source_types"])
    assert {"console", "file", "slack", "email", "webhook", "feishu", "dingtalk", "wecom"} <= set(out["sink_types"])
    duck = next(p for p in out["plugins"] if p["name"] == "duckdb")
    assert duck["distribution"] == "kpiengine" and duck["source_types"] == ["duckdb"]
    assert out["problems"] == []


def test_demo_specs_validate():
    res = CliRunner().invoke(main, ["validate", "-s", str(REPO / "kpi_specs")])
    assert res.exit_code == 0, res.output


def test_committed_schema_file_matches_kpi_schema():
    """kpi.schema.json (referenced by the specs' yaml-language-server lines) must not drift."""
    committed = json.loads((REPO / "kpi.schema.json").read_text(encoding="utf-8"))
    assert committed == json.loads(invoke("schema").output), "run: kpi schema > kpi.schema.json"


def test_json_rows_carry_the_process_path(project):
    out = json.loads(invoke("run", "-s", project, "--kpi", "conversion", "--format", "json", "--no-history").output)
    assert out["rows"][0]["process_path"] == ["銷售體系 Sales", "成交 Closing"]
