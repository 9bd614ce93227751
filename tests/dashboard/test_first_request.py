"""What makes first requests cheap keeps every number: results lent between addresses, databases held per request.

Numbers are checked against plain SQL over the demo tables; the held database must be
closed when the request ends (a writer can open the file afterwards).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import duckdb
import pytest
from dash_testdata import serving

from kpiengine.cli.demo_data import PLANTED_WEEK

WEEK = PLANTED_WEEK.isoformat()
IN_WEEK = "{t} >= CAST(? AS DATE) AND {t} < CAST(? AS DATE) + INTERVAL 7 DAY"


@pytest.fixture
def server(demo_dir):
    with serving(demo_dir) as srv:
        yield srv


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


def _board(specs, **raw):
    from kpiengine.dashboard.collect import collect
    from kpiengine.dashboard.options import parse_options
    from kpiengine.dashboard.views import build_dashboard
    from kpiengine.loader import load_project

    project = load_project(specs)
    return build_dashboard(collect(project, parse_options(project, raw)))


def test_kpi_check_stores_the_default_funnels_and_new_data_makes_the_page_compute_again(demo_dir, tmp_path,
                                                                                       monkeypatch):
    import shutil

    folder = tmp_path / "demo"
    shutil.copytree(demo_dir["folder"], folder, ignore=shutil.ignore_patterns("*.html"))
    db, specs = folder / "demo.duckdb", folder / "kpi_specs"
    monkeypatch.setenv("KPI_DEMO_DB", str(db))
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    count = f"SELECT 'all', count(*) FROM leads WHERE {IN_WEEK.format(t='created_at')}"
    # after `kpi check` (the fixture ran it): the page reads the stored funnel, with the numbers of SQL
    funnel = _board(specs, by="region", period=WEEK)["funnel"]["funnels"][0]
    assert funnel["precomputed"] is True
    assert funnel["columns"][-1]["total"][0]["entities"] == _by(db, count)["all"]
    # the page opened on its default period reads the stored time-to-convert too: the visit step's
    # buckets are the hours from each lead of that week to its first visit within 60 days, as SQL says
    default = _board(specs, by="region")["funnel"]["funnels"][0]
    assert default["precomputed"] is True
    shown = default["distribution_period"]
    hours = [r[0] for r in duckdb.connect(str(db), read_only=True).execute(
        "SELECT epoch(min(a.happened_at)) - epoch(l.created_at) FROM leads l JOIN activities a ON a.lead_id = l.lead_id "
        "AND a.kind = 'visit' AND a.happened_at >= l.created_at AND a.happened_at <= l.created_at + INTERVAL 60 DAY "
        f"WHERE {IN_WEEK.format(t='l.created_at')} GROUP BY l.lead_id, l.created_at", [shown, shown]).fetchall()]
    edges = default["distribution"]["edges_seconds"]
    expected = [sum(1 for x in hours if (i == 0 or x >= edges[i - 1]) and (i == len(edges) or x < edges[i]))
                for i in range(len(edges) + 1)]
    assert default["distribution"]["steps"][0]["counts"] == expected
    # another window is not stored: computed, as before
    assert _board(specs, by="region", period=WEEK, funnel_window="7d")["funnel"]["funnels"][0]["precomputed"] is False
    # new data: a lead in the shown week and one after the latest, which moves the leads' watermark
    cols = "channel, region, rep_id, rep_name, grade, product_tier"
    con = duckdb.connect(str(db))
    con.execute(f"INSERT INTO leads SELECT lead_id + 1000000, CAST(? AS DATE) + INTERVAL 1 HOUR, {cols} FROM leads "
                "LIMIT 1", [WEEK])
    con.execute(f"INSERT INTO leads SELECT lead_id + 2000000, created_at + INTERVAL 1 SECOND, {cols} FROM leads "
                "WHERE created_at = (SELECT max(created_at) FROM leads) LIMIT 1")
    con.close()
    funnel = _board(specs, by="region", period=WEEK)["funnel"]["funnels"][0]
    assert funnel["precomputed"] is False
    assert funnel["columns"][-1]["total"][0]["entities"] == _by(db, count)["all"]


def test_without_kpi_check_nothing_is_stored_and_the_page_computes(demo_dir, tmp_path, monkeypatch):
    import shutil
    import sqlite3

    folder = tmp_path / "demo"
    shutil.copytree(demo_dir["folder"], folder, ignore=shutil.ignore_patterns("*.html"))
    history = folder / "kpi_specs" / ".kpiengine" / "history.db"
    con = sqlite3.connect(history)
    con.execute("DROP TABLE dashboard_funnels")  # as after `kpi demo` alone
    con.close()
    monkeypatch.setenv("KPI_DEMO_DB", str(folder / "demo.duckdb"))
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    funnel = _board(folder / "kpi_specs", by="region", period=WEEK)["funnel"]["funnels"][0]
    assert funnel["precomputed"] is False
    con = sqlite3.connect(history)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "dashboard_funnels" not in tables  # the dashboard never writes to history


def test_the_first_screen_leaves_why_and_the_funnels_to_a_second_request_with_the_same_numbers(server, demo_dir):
    """part=first answers every panel but "why" and the funnels (pending); part=rest answers those alone.

    Together they are the whole document: the page draws the first screen without waiting for the
    root-cause and funnel queries, which no stored run covers under a filter."""
    db = demo_dir["db"]
    query = f"by=channel&period={WEEK}&filter=region=east"
    first = _doc(server, query + "&part=first")
    assert first["funnel"]["pending"] and first["matrix"]["pending"] and first["why"]["pending"]
    rest = _doc(server, query + "&part=rest")
    assert set(rest) == {"why", "funnel", "matrix"}
    whole = _doc(server, query)
    assert {k: v for k, v in first.items() if k not in ("why", "funnel", "matrix", "meta")} == \
        {k: v for k, v in whole.items() if k not in ("why", "funnel", "matrix", "meta")}
    assert rest == {"why": whole["why"], "funnel": whole["funnel"], "matrix": whole["matrix"]}
    column = rest["funnel"]["funnels"][0]["columns"][-1]
    leads = _by(db, f"SELECT coalesce(channel, '∅'), count(*) FROM leads WHERE region = 'east' AND "
                    f"{IN_WEEK.format(t='created_at')} GROUP BY 1")
    assert column["period"] == WEEK and column["total"][0]["entities"] == sum(leads.values())
    assert {r["name"]: r["entities"][0] for r in column["breakdown"]} == leads
    visits = _by(db, f"SELECT coalesce(channel, '∅'), count(*) FROM activities WHERE kind = 'visit' AND "
                     f"region = 'east' AND {IN_WEEK.format(t='happened_at')} GROUP BY 1")
    assert {r["name"]: r["value"] for r in first["process"]["tiles"]["visits"]["breakdown"]} == \
        {k: v for k, v in visits.items() if k in {r["name"] for r in first["process"]["tiles"]["visits"]["breakdown"]}}
    with pytest.raises(urllib.error.HTTPError) as bad:
        _doc(server, query + "&part=everything")
    assert bad.value.code == 400 and json.loads(bad.value.read())["option"] == "part"


def test_the_breakdown_loaded_next_to_the_totals_holds_every_period_the_page_shows(demo_env):
    """The breakdown starts loading before the totals say which period is shown (guessed from the
    watermarks); asked for a period after the data ends, the guess is too late and is loaded again."""
    from datetime import date, timedelta

    from kpiengine.dashboard.collect import collect, guessed_start
    from kpiengine.dashboard.history_feed import ValueLoader
    from kpiengine.dashboard.options import parse_options
    from kpiengine.loader import load_project

    project = load_project(demo_env["specs"])
    db = demo_env["db"]
    for raw in ({"by": "rep"}, {"by": "rep", "period": "2027-02-01"}):
        options = parse_options(project, raw)
        inputs = collect(project, options)
        shown = max(p for p in inputs.totals.periods if inputs.totals.complete("visits", p))
        assert guessed_start(options, ValueLoader(project)) is not False
        # the sparkline's twelve weeks, each checked against plain SQL for every rep
        for k in range(12):
            week = (shown - timedelta(days=7 * k)).isoformat()
            con = duckdb.connect(str(db), read_only=True)
            try:
                visits = dict(con.execute(f"SELECT rep_name, count(*) FROM activities WHERE kind = 'visit' AND "
                                          f"{IN_WEEK.format(t='happened_at')} GROUP BY 1", [week, week]).fetchall())
            finally:
                con.close()
            got = {dict(key)["rep"]: inputs.breakdown.get("visits", date.fromisoformat(week), key)
                   for key in inputs.breakdown.keys("visits")}
            assert {r: v for r, v in got.items() if v is not None} == visits, (raw, week)
