"""What makes first requests cheap keeps every number: results lent between addresses, databases held per request.

Numbers are checked against plain SQL over the demo tables; the held database must be
closed when the request ends (a writer can open the file afterwards).
"""
from __future__ import annotations

import json
import os
import urllib.request

import duckdb
import pytest

from kpiengine.cli.demo_data import PLANTED_WEEK
from kpiengine.dashboard.server import start_in_thread

WEEK = PLANTED_WEEK.isoformat()
IN_WEEK = "{t} >= CAST(? AS DATE) AND {t} < CAST(? AS DATE) + INTERVAL 7 DAY"


@pytest.fixture
def server(demo_dir):
    old = os.environ.get("KPI_DEMO_DB")
    os.environ["KPI_DEMO_DB"] = str(demo_dir["db"])
    srv = start_in_thread(str(demo_dir["specs"]))
    yield srv
    srv.shutdown()
    srv.server_close()
    if old is None:
        os.environ.pop("KPI_DEMO_DB", None)
    else:
        os.environ["KPI_DEMO_DB"] = old


def _doc(server, query: str) -> dict:
    with urllib.request.urlopen(f"{server.url}api/dashboard?{query}", timeout=120) as resp:
        return json.loads(resp.read())


def _by(db, sql: str) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute(sql, [WEEK, WEEK]).fetchall())
    finally:
        con.close()


def test_switching_the_breakdown_lends_the_funnel_total_and_keeps_every_number(server, demo_dir):
    db = demo_dir["db"]
    leads = _by(db, f"SELECT 'all', count(*) FROM leads WHERE {IN_WEEK.format(t='created_at')}")["all"]
    per_rep = _by(db, f"SELECT rep_name, count(*) FROM leads WHERE {IN_WEEK.format(t='created_at')} GROUP BY 1")
    visits = _by(db, f"SELECT rep_name, count(*) FROM activities WHERE kind = 'visit' AND "
                     f"{IN_WEEK.format(t='happened_at')} GROUP BY 1")
    first = _doc(server, f"by=region&period={WEEK}")
    then = _doc(server, f"by=rep&period={WEEK}")  # the funnel's total and the totals come from the first request
    for doc in (first, then):
        column = doc["funnel"]["funnels"][0]["columns"][-1]
        assert column["period"] == WEEK and column["total"][0]["entities"] == leads
    column = then["funnel"]["funnels"][0]["columns"][-1]
    assert {r["name"]: r["entities"][0] for r in column["breakdown"]} == per_rep
    tile = then["process"]["tiles"]["visits"]
    assert tile["value"] == sum(visits.values())
    assert all(r["value"] == visits[r["name"]] for r in tile["breakdown"])
    # another address on the same values: a clicked node recomputes nothing and shows the same numbers
    node = _doc(server, f"by=rep&period={WEEK}&node=closing")
    assert node["process"]["tiles"]["visits"]["value"] == tile["value"]
    assert node["funnel"] == then["funnel"]


def test_a_request_holds_the_database_only_while_it_runs(server, demo_dir):
    _doc(server, "by=channel")
    # DuckDB refuses a read-write connection while this process holds the file read-only: this one
    # opens, so the request's connections are closed (a `kpi demo` or a loader could write now)
    con = duckdb.connect(str(demo_dir["db"]), read_only=False)
    con.close()
