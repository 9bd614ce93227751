"""Issue 13, item 15: a KPI `target: 5%` is read like rule thresholds (validate and check agree)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kpiengine.cli import main

from rate_warehouse import build_rate_warehouse, week, write_rate_project


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def _own_history(monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)


def spec_with_target(tmp_path, target: str):
    db = tmp_path / "w.duckdb"
    # east converts 4 of 100 (4 %), west 6 of 100 (6 %)
    build_rate_warehouse(db, {"east": [(100, 4)], "west": [(100, 6)]})
    folder = write_rate_project(tmp_path / "spec", db, f"""
        sinks:
          log: {{type: file, path: "{tmp_path}/sent.jsonl"}}
        routes:
          sinks: [log]
        rules:
          conversion_vs_target:
            kpi: conversion
            type: target
            by: [region]
            warning: {{below: 100%}}
    """)
    text = (folder / "project.yml").read_text()
    (folder / "project.yml").write_text(text.replace(
        "conversion: {label: Conversion, unit: percent, formula: deals_won / visits}",
        f"conversion: {{label: Conversion, unit: percent, formula: deals_won / visits, target: {target}}}"))
    return folder


@pytest.mark.parametrize("target", ["5%", "0.05", "{region: {east: 5%, west: 5%}}"])
def test_percent_target_validates_and_checks(tmp_path, target):
    folder = spec_with_target(tmp_path, target)
    assert kpi("validate", "-s", folder).exit_code == 0
    res = kpi("check", "-s", folder, "--period", week(0), "--format", "json")
    assert res.exit_code == 1, res.output  # a warning fires; before: a traceback (float('5%'))
    alerts = json.loads(kpi("alerts", "-s", folder, "--all", "--format", "json").output)
    firing = {a["dimensions"]["region"]: a for a in alerts if a["state"] == "firing"}
    assert set(firing) == {"east"}  # 4 % < 5 %; west's 6 % meets it
    assert firing["east"]["baseline"] == pytest.approx(0.05)


@pytest.mark.parametrize("target", ["five", "{region: {east: lots}}", ".nan"])
def test_a_target_that_is_no_number_is_a_located_validation_error(tmp_path, target):
    folder = spec_with_target(tmp_path, target)
    res = kpi("validate", "-s", folder)
    assert res.exit_code != 0
    line = next(i + 1 for i, t in enumerate((folder / "project.yml").read_text().splitlines()) if "target:" in t)
    assert f"project.yml:{line}" in res.output and "percent such as 5%" in res.output
    check = kpi("check", "-s", folder, "--period", week(0))
    assert check.exit_code == 3 and "Traceback" not in check.output
