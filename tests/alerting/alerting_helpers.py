"""Shared helpers for the alerting tests: a small in-memory project and value builders.

The project is built from real dataclasses and YAML parsed with the located
loader, so rules go through the same parsing as a spec file. Values are plain
rows (kpi, period_start, dimensions, value) like the engine's KpiValue.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from kpiengine.alerting.routing import parse_routing
from kpiengine.alerting.rules import parse_rules
from kpiengine.spec import KpiSpec, ProcessNode, Project
from kpiengine.spec.yamlsrc import load_yaml_text

REPO = Path(__file__).resolve().parents[2]
MONDAY = date(2026, 1, 5)


@dataclass
class Row:
    kpi: str
    period_start: date
    dimensions: dict
    value: float | None


def week(i: int) -> date:
    return MONDAY + timedelta(weeks=i)


def make_project(folder: Path, spec_yaml: str = "") -> Project:
    """A project with leads/visits/deals_won/revenue/conversion and the given rules/sinks/routes YAML."""
    p = Project(name="t", folder=str(folder))
    p.process = {
        "sales": ProcessNode("sales", "Sales system / 銷售體系", 1, children=["closing"]),
        "closing": ProcessNode("closing", "Closing / 成交", 2, parent="sales"),
    }
    p.kpis = {
        "visits": KpiSpec("visits", "拜訪量 Visits", unit="count", model="activities", aggregate="count",
                          process="closing", dimensions=["region"]),
        "deals_won": KpiSpec("deals_won", "Deals won", unit="count", model="deals", aggregate="count",
                             dimensions=["region"]),
        "revenue": KpiSpec("revenue", "Revenue", unit="currency", model="deals", aggregate="sum",
                           column="amount", dimensions=["region", "rep"]),
        "conversion": KpiSpec("conversion", "轉化率 Conversion", unit="percent", formula="deals_won / visits",
                              process="closing", owner="sales-lead@example.com", target=0.18,
                              playbook="Call the regional lead the same day.", dimensions=["region"]),
        "leads": KpiSpec("leads", "Leads", unit="count", model="leads", aggregate="count"),
    }
    if spec_yaml:
        data, issues = load_yaml_text(textwrap.dedent(spec_yaml), str(folder / "alerts.yml"))
        assert not issues, issues
        p.sections.update(rules=data.get("rules", {}) or {}, sinks=data.get("sinks", {}) or {},
                          routes=data.get("routes"))
    return p


def rules_of(project: Project):
    rules, issues = parse_rules(project.section("rules"), project)
    assert not issues, [str(i) for i in issues]
    return rules


def routing_of(project: Project):
    routing, issues = parse_routing(project.section("sinks"), project.section("routes"))
    assert not issues, [str(i) for i in issues]
    return routing


def series(kpi: str, values, start: int = 0, **dims) -> list[Row]:
    return [Row(kpi, week(start + i), dict(dims), v) for i, v in enumerate(values) if v is not None]


class FakeClock:
    """A clock the test moves by hand (delivery backoff and repeat intervals without waiting)."""

    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds




MINI_WEEKS = 6
DROP_WEEK = MONDAY + timedelta(weeks=MINI_WEEKS - 1)  # east's conversion falls in the last week


def build_mini_warehouse(db_path: Path) -> None:
    """Two regions, six weeks, 200 visits a week each; east wins 40 a week, then 10 in the last week."""
    import duckdb

    con = duckdb.connect(str(db_path))
    start = MONDAY.isoformat()
    last = MINI_WEEKS - 1
    # set-based generation: visits and won deals spread over Monday..Friday of each week
    con.execute(f"""
        CREATE TABLE activities AS
        SELECT row_number() OVER () AS activity_id,
               DATE '{start}' + INTERVAL (w * 7 + i % 5) DAY + INTERVAL 10 HOUR AS happened_at,
               region, 'visit' AS kind
        FROM range({MINI_WEEKS}) t(w), range(200) s(i), (VALUES ('east'), ('west')) r(region)""")
    con.execute(f"""
        CREATE TABLE deals AS
        SELECT row_number() OVER () AS deal_id,
               DATE '{start}' + INTERVAL (w * 7 + i % 5) DAY + INTERVAL 15 HOUR AS closed_at,
               region, 'won' AS stage
        FROM range({MINI_WEEKS}) t(w), range(40) s(i), (VALUES ('east'), ('west')) r(region)
        WHERE NOT (region = 'east' AND w = {last} AND i >= 10)""")
    con.close()


def write_mini_project(folder: Path, db_path: Path, hook_url: str, *, timeout: float = 5.0,
                       extra_sinks: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.yml").write_text(textwrap.dedent(f"""
        project:
          name: mini
          default_source: warehouse
        sources:
          warehouse: {{type: duckdb, path: "{db_path}"}}
        process:
          - id: sales
            label: Sales
            children:
              - id: closing
                label: Closing
        models:
          activities: {{table: activities, time: happened_at, entity: activity_id, dimensions: {{region: region}}}}
          deals: {{table: deals, time: closed_at, entity: deal_id, dimensions: {{region: region}}}}
        kpis:
          visits: {{label: Visits, unit: count, model: activities, aggregate: count, filter: "kind = 'visit'",
                    process: closing}}
          deals_won: {{label: Deals won, unit: count, model: deals, aggregate: count, filter: "stage = 'won'",
                       process: closing}}
          conversion: {{label: Conversion, unit: percent, formula: deals_won / visits, process: closing,
                        playbook: Call the regional lead.}}
    """), encoding="utf-8")
    (folder / "alerts.yml").write_text(textwrap.dedent(f"""
        rules:
          conversion_drop:
            kpi: conversion
            type: change
            by: [region]
            critical: {{below: -40%}}
            min_sample: 50
        sinks:
          hook: {{type: webhook, url: "{hook_url}", timeout: {timeout}, connect_timeout: 2}}
        {extra_sinks}
        routes:
          sinks: [hook]
    """), encoding="utf-8")
    return folder
