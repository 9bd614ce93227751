"""A real DuckDB warehouse whose weekly visits and won deals per region are planted exactly.

Tests of the state machine, routing and messages (issue 13) run ``kpi check`` on
it through the real engine and history store, and compute what they expect by
hand from the planted counts: conversion of a week is won / visits.
"""
from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

MONDAY = date(2026, 1, 5)


def week(i: int) -> date:
    return MONDAY + timedelta(weeks=i)


def build_rate_warehouse(db_path: Path, weeks: dict[str, list[tuple[int, int]]]) -> None:
    """``weeks[region][i] = (visits, won)`` for week i from MONDAY; rows spread over Monday..Friday."""
    import duckdb

    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    plan = [(region, i, visits, won) for region, counts in weeks.items()
            for i, (visits, won) in enumerate(counts)]
    con.execute("CREATE TABLE plan (region VARCHAR, w INTEGER, visits INTEGER, won INTEGER)")
    con.executemany("INSERT INTO plan VALUES (?, ?, ?, ?)", plan)
    start = MONDAY.isoformat()
    con.execute(f"""
        CREATE TABLE activities AS
        SELECT row_number() OVER () AS activity_id,
               DATE '{start}' + INTERVAL (w * 7 + i % 5) DAY + INTERVAL 10 HOUR AS happened_at,
               region, 'visit' AS kind
        FROM plan, range(visits) s(i)""")
    con.execute(f"""
        CREATE TABLE deals AS
        SELECT row_number() OVER () AS deal_id,
               DATE '{start}' + INTERVAL (w * 7 + i % 5) DAY + INTERVAL 15 HOUR AS closed_at,
               region, 'won' AS stage
        FROM plan, range(won) s(i)""")
    con.execute("DROP TABLE plan")
    con.close()


def write_rate_project(folder: Path, db_path: Path, alerts_yaml: str, *, timezone: str = "UTC",
                       extra_project: str = "") -> Path:
    """project.yml over the warehouse (visits, deals_won, conversion by region) plus ``alerts.yml``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.yml").write_text(textwrap.dedent(f"""
        project:
          name: rates
          default_source: warehouse
          timezone: {timezone}
        {extra_project}
        sources:
          warehouse: {{type: duckdb, path: "{db_path}"}}
        models:
          activities: {{table: activities, time: happened_at, entity: activity_id, dimensions: {{region: region}}}}
          deals: {{table: deals, time: closed_at, entity: deal_id, dimensions: {{region: region}}}}
        kpis:
          visits: {{label: Visits, unit: count, model: activities, aggregate: count, filter: "kind = 'visit'"}}
          deals_won: {{label: Deals won, unit: count, model: deals, aggregate: count, filter: "stage = 'won'"}}
          conversion: {{label: Conversion, unit: percent, formula: deals_won / visits}}
    """), encoding="utf-8")
    (folder / "alerts.yml").write_text(textwrap.dedent(alerts_yaml), encoding="utf-8")
    return folder


def file_lines(path: Path) -> list[dict]:
    """What the real file sink wrote (one JSON notification a line)."""
    try:
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        return []
