"""Issue 13, items 10-13: reserved labels, hysteresis on de-escalation, significance vs recovery,
the edge a band reports. Each runs `kpi check` on a real DuckDB warehouse with planted counts;
expectations are computed by hand from those counts."""
from __future__ import annotations

import math

import pytest

from kpiengine.alerting.check import run_check
from kpiengine.errors import SpecError
from kpiengine.loader import load_project

from alerting_helpers import FakeClock
from rate_warehouse import build_rate_warehouse, file_lines, week, write_rate_project


@pytest.fixture(autouse=True)
def _own_history(monkeypatch):
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)


def project_with(tmp_path, weeks, rules: str):
    db = tmp_path / "w.duckdb"
    build_rate_warehouse(db, weeks)
    alerts = f"""
sinks:
  log: {{type: file, path: "{tmp_path}/sent.jsonl"}}
routes:
  sinks: [log]
{rules}
"""
    return load_project(write_rate_project(tmp_path / "spec", db, alerts))


def check_weeks(project, n):
    """One `kpi check` per week 0..n-1; the state of each (rule, region) after each week."""
    out = []
    for i in range(n):
        clock = FakeClock(1_800_000_000.0 + i * 604800)
        res = run_check(project, period=week(i), clock=clock, sleep=clock.sleep)
        out.append({(a.rule.name, a.state.dimensions.get("region")): (a.state.state, a.state.severity)
                    for a in res.alerts})
    return out


# -- item 10 ---------------------------------------------------------------------------------

def test_reserved_label_is_a_located_error_with_a_hint(tmp_path):
    rules = """
rules:
  low_conversion:
    kpi: conversion
    by: [region]
    warning: {below: 12%}
    labels:
      team: sales
      severity: page
      region: emea
"""
    with pytest.raises(SpecError) as err:
        project_with(tmp_path, {"east": [(100, 20)]}, rules)
    text = str(err.value)
    line_of = {k: i + 1 for i, line in enumerate((tmp_path / "spec/alerts.yml").read_text().splitlines())
               for k in ("severity: page", "region: emea") if k in line}
    assert f"alerts.yml:{line_of['severity: page']}" in text and "label `severity` is reserved" in text
    assert "priority: page" in text  # the hint says what to write instead
    assert f"alerts.yml:{line_of['region: emea']}" in text and "`by` dimension" in text
    assert "team" not in text.split("reserved")[0][-40:]  # an ordinary label is fine


@pytest.mark.parametrize("name", ["rule", "kpi", "kpi_status"])
def test_every_label_the_engine_sets_is_reserved(tmp_path, name):
    rules = f"""
rules:
  low_conversion:
    kpi: conversion
    warning: {{below: 12%}}
    labels: {{{name}: x}}
"""
    with pytest.raises(SpecError, match=f"label `{name}` is reserved"):
        project_with(tmp_path, {"east": [(100, 20)]}, rules)


# -- item 11 ---------------------------------------------------------------------------------

def test_deescalation_keeps_the_warning_hysteresis(tmp_path):
    rules = """
rules:
  low_conversion:
    kpi: conversion
    by: [region]
    critical: {below: 8%}
    warning: {below: 12%, recovery: 14%}
"""
    # conversion 20 %, 7 %, 13 %, 15 %: fire critical, then 13 % is under the warning's recovery 14 %
    project = project_with(tmp_path, {"east": [(100, 20), (100, 7), (100, 13), (100, 15)]}, rules)
    states = [s[("low_conversion", "east")] for s in check_weeks(project, 4)]
    assert states == [("inactive", None), ("firing", "critical"), ("firing", "warning"),
                      ("resolved", "warning")]
    sent = file_lines(tmp_path / "sent.jsonl")
    assert [(n["status"], n["severity"]) for n in sent] == [("firing", "critical"), ("firing", "warning"),
                                                             ("resolved", "warning")]


# -- item 12 ---------------------------------------------------------------------------------

def pooled_p(x1, n1, x0, n0):
    """Hand-written one-sided pooled two-proportion z-test."""
    p = (x1 + x0) / (n1 + n0)
    z = (x1 / n1 - x0 / n0) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
    return 0.5 * (1 + math.erf(-abs(z) / math.sqrt(2)))


def test_significance_does_not_override_recovery(tmp_path):
    rules = """
rules:
  conversion_drop:
    kpi: conversion
    type: change
    by: [region]
    compare: average
    periods: 4
    critical: {below: -40%, recovery: -15%}
    significance: 0.01
"""
    counts = [(1000, 200)] * 4 + [(1000, 100), (100, 13), (1000, 190)]
    project = project_with(tmp_path, {"east": counts}, rules)
    # week 5: 13 of 100 against the mean of weeks 1-4 (20 %, 20 %, 20 %, 10 %)
    base = (0.2 + 0.2 + 0.2 + 0.1) / 4
    change = (0.13 - base) / base
    p = pooled_p(13, 100, 200 * 3 + 100, 4000)
    assert change < -0.15 and p > 0.01  # past the recovery level, and not significant
    states = [s[("conversion_drop", "east")] for s in check_weeks(project, 7)]
    assert states[4] == ("firing", "critical")
    assert states[5] == ("firing", "critical")  # was resolved: p > alpha read as "recovered"
    # week 6: 19 % against mean(20, 20, 10, 13) = 15.75 %: above the recovery level -> resolved
    assert states[6][0] == "resolved"


def test_an_insignificant_change_never_starts_an_alert(tmp_path):
    rules = """
rules:
  conversion_drop:
    kpi: conversion
    type: change
    by: [region]
    critical: {below: -40%}
    significance: 0.01
"""
    # 20 % of 50, then 10 % of 20: -50 %, but p is large with so few visits
    project = project_with(tmp_path, {"east": [(50, 10), (20, 2)]}, rules)
    assert pooled_p(2, 20, 10, 50) > 0.01
    assert check_weeks(project, 2)[1][("conversion_drop", "east")] == ("inactive", None)


# -- item 13 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("visits, edge", [(9000, "8,000"), (600, "1,000")])
def test_band_reports_the_edge_that_was_crossed(tmp_path, visits, edge):
    rules = """
rules:
  visits_band:
    kpi: visits
    by: [region]
    warning: {outside: [1000, 8000]}
    message: "{kpi_label} in {region}: {value}, threshold {threshold}"
"""
    project = project_with(tmp_path, {"east": [(visits, 0)]}, rules)
    check_weeks(project, 1)
    (sent,) = file_lines(tmp_path / "sent.jsonl")
    (item,) = sent["items"]
    assert item["message"] == f"Visits in east: {visits:,}, threshold {edge}"
    assert item["threshold"] == float(edge.replace(",", ""))
