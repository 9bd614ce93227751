"""Weakened KPIs are judged but do not page; retired KPIs are computed for history but never alerted."""
from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner
from review_data import SPEC

from kpiengine.alerting.check import run_check
from kpiengine.cli import main
from kpiengine.loader import load_project
from kpiengine.run.history import HistoryStore

ALERTING = """
rules:
  conversion_floor:
    kpi: conversion
    by: [region]
    warning: {below: 15%}
    critical: {below: 10%}
  revenue_floor:
    kpi: revenue
    warning: {below: 1000000}
sinks:
  pager: {type: file, path: "__DIR__/pager.jsonl"}
  digest: {type: file, path: "__DIR__/digest.jsonl"}
routes:
  sinks: [digest]
  group_by: [rule]
  routes:
    - name: page
      match: {severity: critical}
      sinks: [pager]
"""
PLANTED = date(2026, 10, 26)  # east converts at 8 % from the week of 2026-10-19 on


def project_with(tmp_path, warehouse, statuses: dict[str, str]):
    text = SPEC.replace("__DB__", str(warehouse["db"])) + ALERTING.replace("__DIR__", str(tmp_path))
    for kpi, status in statuses.items():
        text = text.replace(f"  {kpi}:\n    label:", f"  {kpi}:\n    status: {status}\n    label:")
    (tmp_path / "spec.yml").write_text(text, encoding="utf-8")
    return load_project(tmp_path)


def sent(tmp_path, sink: str) -> list[dict]:
    path = tmp_path / f"{sink}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def east(result):
    return next(a for a in result.alerts if a.rule.name == "conversion_floor" and a.state.dimensions == {"region": "east"})


def test_an_active_kpi_pages_its_critical(tmp_path, warehouse):
    result = run_check(project_with(tmp_path, warehouse, {}), period=PLANTED, rule_names=["conversion_floor"])
    assert east(result).state.severity == "critical" and result.exit_code() == 2
    assert [i["severity"] for n in sent(tmp_path, "pager") for i in n["items"]] == ["critical"]


def test_a_weakened_kpis_critical_routes_as_a_warning(tmp_path, warehouse):
    result = run_check(project_with(tmp_path, warehouse, {"conversion": "weakened"}), period=PLANTED,
                       rule_names=["conversion_floor"])
    alert = east(result)
    assert alert.state.state == "firing" and alert.state.severity == "warning"
    assert alert.labels["kpi_status"] == "weakened"
    assert result.exit_code() == 1  # a warning, not a page
    assert sent(tmp_path, "pager") == []
    items = [i for n in sent(tmp_path, "digest") for i in n["items"]]
    assert [(i["severity"], i["dimensions"]) for i in items] == [("warning", {"region": "east"})]
    assert items[0]["labels"]["kpi_status"] == "weakened"


def test_a_retired_kpi_is_computed_for_history_but_not_alerted(tmp_path, warehouse):
    project = project_with(tmp_path, warehouse, {"revenue": "retired"})
    run = CliRunner().invoke(main, ["run", "-s", str(tmp_path), "--format", "json", "--from", "2026-10-26",
                                    "--to", "2026-11-02"])
    assert run.exit_code == 0, run.output
    rows = {r["kpi"]: r["value"] for r in json.loads(run.output)["rows"]}
    won = sum(d[3] for d in warehouse["deals"] if d[2] == "won" and PLANTED <= d[0].date() < date(2026, 11, 2))
    assert rows["revenue"] == pytest.approx(won)
    stored = HistoryStore.for_project(project).values(kpis=["revenue"], grain="week")
    assert [r.value for r in stored] == [pytest.approx(won)]
    result = run_check(project, period=PLANTED)
    assert {a.rule.name for a in result.alerts} == {"conversion_floor"}
    assert any("retired KPI 'revenue'" in w for w in result.warnings)


@pytest.mark.parametrize("week", [date(2026, 9, 14), PLANTED])
def test_a_target_rule_judges_each_period_against_the_target_set_in_advance(tmp_path, warehouse, week):
    rule = "  conversion_target: {kpi: conversion, type: target, by: [region], warning: {below: 100%}}\n"
    text = SPEC.replace("__DB__", str(warehouse["db"])) + ALERTING.replace("__DIR__", str(tmp_path)).replace(
        "rules:\n", "rules:\n" + rule, 1)
    (tmp_path / "spec.yml").write_text(text, encoding="utf-8")
    result = run_check(load_project(tmp_path), period=week, rule_names=["conversion_target"], deliver=False)
    targets = {"east": 0.2, "west": 0.18} if week >= date(2026, 10, 1) else {"east": 0.2, "west": 0.2}
    end = date.fromordinal(week.toordinal() + 7)
    for region, target in targets.items():
        won = sum(1 for d in warehouse["deals"] if d[1] == region and d[2] == "won" and week <= d[0].date() < end)
        visits = sum(1 for v in warehouse["visits"] if v[1] == region and week <= v[0].date() < end)
        alert = next(a for a in result.alerts if a.state.dimensions == {"region": region})
        assert alert.state.baseline == pytest.approx(target)  # Q3: the 20 % total; Q4: the region's own
        assert alert.state.value == pytest.approx(won / visits)
        assert (alert.state.state == "firing") is (won / visits < target)


def test_a_retired_kpi_is_kept_off_the_dashboards_main_view(tmp_path, warehouse):
    from kpiengine.dashboard.collect import collect
    from kpiengine.dashboard.options import parse_options
    from kpiengine.dashboard.views import build_dashboard

    project = project_with(tmp_path, warehouse, {"revenue": "retired"})
    assert CliRunner().invoke(main, ["run", "-s", str(tmp_path), "--from", "2026-10-05", "--to", "2026-11-02"]
                              ).exit_code == 0
    page = build_dashboard(collect(project, parse_options(project, {"by": "none"})))
    shown = set(page["process"]["tiles"])
    assert "revenue" not in shown and {"visits", "conversion"} <= shown
    assert HistoryStore.for_project(project).values(kpis=["revenue"], grain="week")  # its history goes on
