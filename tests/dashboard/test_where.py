"""The dashboard's ``where=`` (and ``kpi report --where``): the SQL filter of ``kpi run --where`` on every panel.

Expected numbers are plain SQL over the demo tables, written here; the filter has a NULL
trap (``channel IN (...)`` leaves out the untracked NULL channel) and a breakdown inside it.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import duckdb
import pytest
from dash_testdata import run_kpi, serving

from kpiengine.cli.demo_data import PLANTED_WEEK

WEEK = PLANTED_WEEK.isoformat()
WHERE = "region = 'east' AND channel IN ('web', 'partner')"
SQL_WHERE = "region = 'east' AND channel IN ('web', 'partner')"  # the same columns in the demo tables
IN_WEEK = "{t} >= CAST(? AS DATE) AND {t} < CAST(? AS DATE) + INTERVAL 7 DAY"


def _sql(db, sql: str, params: list) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def visits_by(db, dim: str, week: str) -> dict:
    return dict(_sql(db, f"SELECT {dim}, count(*) FROM activities WHERE kind = 'visit' AND {SQL_WHERE} AND "
                         f"{IN_WEEK.format(t='happened_at')} GROUP BY 1", [week, week]))


def won_by(db, dim: str, week: str) -> dict:
    return dict(_sql(db, f"SELECT {dim}, count(*) FROM deals WHERE stage = 'won' AND {SQL_WHERE} AND "
                         f"{IN_WEEK.format(t='closed_at')} GROUP BY 1", [week, week]))


def board(demo_env, **raw):
    from kpiengine.dashboard.collect import collect
    from kpiengine.dashboard.options import parse_options
    from kpiengine.dashboard.views import build_dashboard
    from kpiengine.loader import load_project

    project = load_project(demo_env["specs"])
    return build_dashboard(collect(project, parse_options(project, raw)))


def test_where_filters_tiles_breakdown_compare_team_and_funnel_like_sql(demo_env):
    db = demo_env["db"]
    doc = board(demo_env, by="channel", period=WEEK, where=WHERE)
    assert doc["meta"]["options"]["where"] == WHERE
    assert "computed live from the warehouse" in doc["meta"]["source"]["text"]  # history holds unfiltered values
    visits, won = visits_by(db, "'all'", WEEK)["all"], won_by(db, "'all'", WEEK)["all"]
    tiles = doc["process"]["tiles"]
    assert tiles["visits"]["value"] == visits
    assert tiles["deals_won"]["value"] == won
    assert tiles["conversion"]["value"] == pytest.approx(won / visits)
    # the breakdown inside the filter: web and partner only, no NULL channel, no other region's visits
    per = {r["name"]: r["value"] for r in tiles["visits"]["breakdown"]}
    assert per == visits_by(db, "channel", WEEK)
    assert set(per) == {"web", "partner"}
    compare = {r["kpi"]: r for r in doc["compare"]["rows"]}
    assert compare["visits"]["current"] == visits
    # the team's bubbles: visits per rep under the filter
    bubbles = {b["name"]: b["x"] for b in doc["team"]["bubbles"]}
    assert bubbles == {k: v for k, v in visits_by(db, "rep_name", WEEK).items()}
    # the funnel counts the leads whose entry (the lead itself) passes the filter
    leads = _sql(db, f"SELECT count(*) FROM leads WHERE {SQL_WHERE} AND {IN_WEEK.format(t='created_at')}",
                 [WEEK, WEEK])[0][0]
    current = doc["funnel"]["funnels"][0]["columns"][-1]
    assert current["period"] == WEEK and current["total"][0]["entities"] == leads
    by_channel = dict(_sql(db, f"SELECT channel, count(*) FROM leads WHERE {SQL_WHERE} AND "
                               f"{IN_WEEK.format(t='created_at')} GROUP BY 1", [WEEK, WEEK]))
    assert {r["name"]: r["entities"][0] for r in current["breakdown"]} == by_channel
    # alerts are judged on unfiltered values: none shown next to filtered numbers, and the page says so
    assert doc["alerts"]["empty"] and "unfiltered" in doc["alerts"]["reason"]
    # the mindset model has no channel: mindset and the performance formula over it are left out, with a
    # note, instead of a failed page; the window KPI (active customers, 28 days) is filtered like the rest
    note = doc["meta"]["notes"]["filter"]
    assert note.startswith("2 KPI(s) cannot be computed where") and "Mindset" in note and "Performance" in note
    assert tiles["active_customers_28d"]["value"] is not None


def test_where_equals_the_same_segment_written_as_filter(demo_env):
    """``where=region = 'east'`` and ``filter=region=east`` are two ways to ask for one segment."""
    by_where = board(demo_env, by="channel", period=WEEK, where="region = 'east'")
    by_filter = board(demo_env, by="channel", period=WEEK, filter="region=east")
    assert by_where["process"]["tiles"].keys() == by_filter["process"]["tiles"].keys()
    for kpi, tile in by_where["process"]["tiles"].items():
        assert tile["value"] == pytest.approx(by_filter["process"]["tiles"][kpi]["value"]), kpi
    assert by_where["funnel"]["funnels"] == by_filter["funnel"]["funnels"]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def server(demo_dir):
    with serving(demo_dir) as srv:
        yield srv


@pytest.mark.parametrize("where, words", [
    ("region = 'east'; DROP TABLE deals", "';' is not allowed"),
    ("(SELECT 1) = 1", "subqueries are not allowed"),
    ("salary > 100", "'salary' is not a dimension"),
    ("1 = 1", "names no dimension"),
    ("region = ", "cannot parse"),
])
def test_a_bad_where_is_an_error_naming_the_option_with_a_hint(server, where, words):
    status, body = _get(server.url + "api/dashboard?" + urllib.parse.urlencode({"where": where}))
    answer = json.loads(body)
    assert status == 400 and answer["option"] == "where", answer
    assert answer["error"].startswith("option 'where'") and words in answer["error"]


def test_rows_behind_a_number_keep_the_where_filter(server, demo_dir):
    query = urllib.parse.urlencode({"kpi": "deals_won", "period": WEEK, "where": WHERE, "dims": "channel=partner"})
    status, body = _get(server.url + "api/rows?" + query)
    assert status == 200, body
    rows = json.loads(body)
    cols = rows["columns"]
    expected = sorted(r[0] for r in _sql(demo_dir["db"], f"SELECT deal_id FROM deals WHERE stage = 'won' AND "
                                                         f"{SQL_WHERE} AND channel = 'partner' AND "
                                                         f"{IN_WEEK.format(t='closed_at')}", [WEEK, WEEK]))
    assert sorted(r[cols.index("deal_id")] for r in rows["rows"]) == expected and rows["where"] == WHERE


def test_report_with_where_embeds_the_filtered_numbers(demo_dir):
    out = demo_dir["folder"] / "where.html"
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(out), "--by", "channel", "--period", WEEK,
                    "--where", WHERE], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert data["process"]["tiles"]["visits"]["value"] == visits_by(demo_dir["db"], "'all'", WEEK)["all"]
    bad = run_kpi(["report", "--spec", "kpi_specs", "--html", str(out), "--where", "amount > 0; DROP TABLE deals"],
                  demo_dir["folder"], demo_dir["env"])
    assert bad.returncode != 0 and "option 'where'" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
