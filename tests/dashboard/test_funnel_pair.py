"""The funnel panel's total and breakdown from one query (GROUPING SETS), on DuckDB, PostgreSQL and MariaDB.

Five hand-made leads, two of them with a NULL region: the NULL region is a group of its own
in the breakdown and never taken for the total row (the rolled-up rows are told apart by
GROUPING(), not by a NULL). MariaDB has no median aggregate: there the two plain queries run.
Expected figures are worked out by hand below.
"""
from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pytest

from kpiengine.analysis.funnels import parse_funnels
from kpiengine.dashboard.funnel_feed import run_funnel_pair
from kpiengine.engine import Engine
from kpiengine.loader import load_project

LEADS = [(1, datetime(2026, 3, 2, 10), "east"), (2, datetime(2026, 3, 3, 9), "east"), (3, datetime(2026, 3, 4), None),
         (4, datetime(2026, 3, 4, 8), "west"), (5, datetime(2026, 3, 5, 15), None)]
VISITS = [(1, datetime(2026, 3, 3, 10)),  # lead 1 after one day
          (3, datetime(2026, 3, 5, 12)),  # lead 3 after 1.5 days
          (4, datetime(2026, 3, 20, 8))]  # lead 4 after 16 days: outside the 7-day window
WEEK = date(2026, 3, 2)
# (leads, visited, median seconds to the visit) per region of the lead; None is the NULL region
EXPECTED = {"east": (2, 1, 86400.0), "west": (1, 0, None), None: (2, 1, 129600.0)}
TOTAL = (5, 2, (86400.0 + 129600.0) / 2)

SPEC = """project:
  name: pair
  default_source: wh
sources:
  wh:
{source}models:
  leads:
    table: pair_leads
    time: created_at
    entity: lead_id
    dimensions:
      region: region
  visits:
    table: pair_visits
    time: happened_at
    entity: lead_id
funnels:
  reach:
    entity: lead
    window: 7d
    view: {view}
    steps:
      - {{name: lead, model: leads}}
      - {{name: visit, model: visits}}
"""


def _project(tmp_path, source: dict, view: str):
    folder = tmp_path / f"spec_{view}"
    folder.mkdir()
    options = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in source.items())
    (folder / "spec.yml").write_text(SPEC.format(source=options, view=view), encoding="utf-8")
    return load_project(folder)


def _check(project, view: str):
    engine = Engine(project)
    spec = parse_funnels(project)[0]["reach"]
    total, split = run_funnel_pair(engine, spec, "week", [], "region", None, None, view)
    rows = [r for r in total.rows if r.period_start == WEEK]
    assert len(rows) == 1 and rows[0].dimensions == {}
    lead, visit = rows[0].steps
    assert (lead.entities, visit.entities, visit.median_seconds) == TOTAL
    got = {r.dimensions["region"]: (r.steps[0].entities, r.steps[1].entities, r.steps[1].median_seconds)
           for r in split.rows if r.period_start == WEEK}
    assert got == EXPECTED


def _create(cur, timestamp: str) -> None:
    cur.execute("DROP TABLE IF EXISTS pair_leads")
    cur.execute("DROP TABLE IF EXISTS pair_visits")
    cur.execute(f"CREATE TABLE pair_leads (lead_id INTEGER, created_at {timestamp}, region VARCHAR(10))")
    cur.execute(f"CREATE TABLE pair_visits (lead_id INTEGER, happened_at {timestamp})")


@pytest.mark.parametrize("view", ["cohort", "event"])  # the wide and the long form of the query
def test_one_query_gives_the_total_and_the_null_safe_breakdown_on_duckdb(tmp_path, view):
    db = str(tmp_path / "pair.duckdb")
    con = duckdb.connect(db)
    _create(con, "TIMESTAMP")
    con.executemany("INSERT INTO pair_leads VALUES (?, ?, ?)", LEADS)
    con.executemany("INSERT INTO pair_visits VALUES (?, ?)", VISITS)
    con.close()
    _check(_project(tmp_path, {"type": "duckdb", "path": db}, view), view)


@pytest.mark.postgres
@pytest.mark.parametrize("view", ["cohort", "event"])
def test_one_query_gives_the_total_and_the_null_safe_breakdown_on_postgres(tmp_path, pg_conn,
                                                                           postgres_source_options, view):
    with pg_conn.cursor() as cur:
        _create(cur, "TIMESTAMP")
        cur.executemany("INSERT INTO pair_leads VALUES (%s, %s, %s)", LEADS)
        cur.executemany("INSERT INTO pair_visits VALUES (%s, %s)", VISITS)
    _check(_project(tmp_path, {"type": "postgres", **postgres_source_options}, view), view)


@pytest.mark.mysql
def test_without_a_median_aggregate_the_two_queries_give_the_same_figures(tmp_path, mysql_conn, mysql_params):
    with mysql_conn.cursor() as cur:
        _create(cur, "DATETIME")
        cur.executemany("INSERT INTO pair_leads VALUES (%s, %s, %s)", LEADS)
        cur.executemany("INSERT INTO pair_visits VALUES (%s, %s)", VISITS)
    _check(_project(tmp_path, {"type": "mysql", **mysql_params}, "cohort"), "cohort")
