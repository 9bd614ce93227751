"""The dashboard on the demo after `kpi demo` + `kpi check`: report file and live server, real numbers.

Expected numbers are computed here with plain SQL over the demo tables,
independently of the engine's compiler.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from dash_testdata import run_kpi, serving

from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK
from kpiengine.dashboard.server import start_in_thread

WEEK = PLANTED_WEEK.isoformat()
BEFORE = (PLANTED_WEEK - timedelta(days=7)).isoformat()


def independent_conversion(db: str, week: str) -> dict[str, float]:
    """Won deals closed in the week / visits in the week, per region, straight from the tables."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        won = dict(con.execute(
            "SELECT region, count(*) FROM deals WHERE stage = 'won' AND closed_at >= CAST(? AS DATE) "
            "AND closed_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY region", [week, week]).fetchall())
        visits = dict(con.execute(
            "SELECT region, count(*) FROM activities WHERE kind = 'visit' AND happened_at >= CAST(? AS DATE) "
            "AND happened_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY region", [week, week]).fetchall())
    finally:
        con.close()
    return {r: won.get(r, 0) / visits[r] for r in visits}


def embedded_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.DOTALL)
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(demo_dir):
    out = demo_dir["folder"] / "report.html"
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(out)], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    return {"path": out, "stdout": done.stdout, "html": out.read_text(encoding="utf-8")}


def test_report_is_one_small_offline_file(report):
    html = report["html"]
    assert report["path"].stat().st_size < 2_000_000  # small enough to mail
    # nothing is fetched at view time: no external script, stylesheet, image, font or frame
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html, re.IGNORECASE)
    assert "@import" not in html and "@font-face" not in html
    assert "default-src 'none'" in html  # the page's CSP forbids any request
    assert '"Noto Sans CJK SC"' in html and '"Microsoft YaHei"' in html and '"PingFang SC"' in html
    assert "wrote" in report["stdout"] and "by region" in report["stdout"]


def test_report_shows_the_planted_drop_in_its_region(report, demo_dir):
    board = embedded_data(report["html"])
    assert board["meta"]["current"] == WEEK and board["meta"]["by"] == "region"
    expected = independent_conversion(str(demo_dir["db"]), WEEK)
    before = independent_conversion(str(demo_dir["db"]), BEFORE)
    rows = {r["name"]: r for r in board["process"]["tiles"]["conversion"]["breakdown"]}
    for region, value in expected.items():
        assert rows[region]["value"] == pytest.approx(value)
    east = rows[PLANTED_REGION]
    assert east["display"] == f"{expected[PLANTED_REGION] * 100:.1f}%"
    assert east["change"]["text"] == f"{(expected[PLANTED_REGION] - before[PLANTED_REGION]) * 100:+.1f} pp"
    assert east["tone"] == "bad" and east["status"] == "firing"  # kpi check fired on it
    first = board["attention"]["items"][0]
    assert (first["kpi"], first["scope"], first["status"]) == ("conversion", PLANTED_REGION, "firing")
    assert "轉化率 Conversion — region east" in first["text"]
    # why it changed: the region explains the fall, as a rate effect
    why = board["why"]
    assert why["kpi"] == "conversion"
    top = min((c for c in why["contributions"] if c["kind"] == "segment"), key=lambda c: c["value"])
    assert top["name"] == f"region {PLANTED_REGION}" and "rate effect" in top["effect"]
    alerts = board["alerts"]
    assert any(a["kpi"] == "conversion" and a["scope"] == PLANTED_REGION and a["state"] == "firing" for a in alerts["active"])
    conv_trend = next(t for t in board["trends"]["kpis"] if t["kpi"] == "conversion")
    assert any(m["period_start"] == WEEK and m["dimensions"] == {"region": PLANTED_REGION} for m in conv_trend["markers"])
    assert conv_trend["targets"][0]["value"] == pytest.approx(0.18)


def test_team_bubbles_are_the_reps_of_the_week(report, demo_dir):
    import duckdb

    team = embedded_data(report["html"])["team"]
    assert team["by"] == "rep" and team["period"] == WEEK
    con = duckdb.connect(str(demo_dir["db"]), read_only=True)
    visits = dict(con.execute(
        "SELECT rep_name, count(*) FROM activities WHERE kind = 'visit' AND happened_at >= CAST(? AS DATE) "
        "AND happened_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY rep_name", [WEEK, WEEK]).fetchall())
    con.close()
    got = {b["name"]: b["x"] for b in team["bubbles"]}
    assert got == {k: float(v) for k, v in visits.items()}
    xs = sorted(visits.values())
    mid = len(xs) // 2
    assert team["median_x"] == pytest.approx(xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2)


def _get(url: str, host: str | None = None, method: str = "GET"):
    req = urllib.request.Request(url, method=method, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


@pytest.fixture(scope="module")
def server(demo_dir):
    with serving(demo_dir) as srv:
        yield srv


def test_server_json_endpoints_and_period_control(server, demo_dir):
    assert server.server_address[0] == "127.0.0.1"
    status, ctype, body = _get(server.url + "api/process?by=region")
    assert status == 200 and ctype.startswith("application/json")
    tiles = json.loads(body)["tiles"]
    expected = independent_conversion(str(demo_dir["db"]), WEEK)
    east = next(r for r in tiles["conversion"]["breakdown"] if r["name"] == PLANTED_REGION)
    assert east["value"] == pytest.approx(expected[PLANTED_REGION])
    # another period: the numbers follow
    status, _, body = _get(server.url + f"api/process?by=region&period={BEFORE}")
    tiles = json.loads(body)["tiles"]
    east = next(r for r in tiles["conversion"]["breakdown"] if r["name"] == PLANTED_REGION)
    assert east["value"] == pytest.approx(independent_conversion(str(demo_dir["db"]), BEFORE)[PLANTED_REGION])
    for view in ("meta", "attention", "funnel", "trends", "team", "why", "alerts"):
        status, _, body = _get(server.url + f"api/{view}")
        assert status == 200, (view, body)
    status, ctype, body = _get(server.url)
    assert status == 200 and ctype.startswith("text/html") and b'data-mode="live"' in body


def test_server_errors_are_clear_and_it_is_read_only(server):
    status, _, body = _get(server.url + "api/dashboard?grain=fortnight")
    assert status == 400 and "option 'grain'" in json.loads(body)["error"]
    status, _, body = _get(server.url + "api/dashboard?by=planet")
    assert status == 400 and "region" in json.loads(body)["error"]
    assert _get(server.url + "api/process", method="POST")[0] == 405
    assert _get(server.url + "api/nothing")[0] == 404
    # DNS rebinding: a page on another site pointing its name at 127.0.0.1 gets nothing
    assert _get(server.url + "api/dashboard", host="attacker.example:8765")[0] == 403


def test_a_new_run_changes_the_status_stamp(server, demo_dir):
    _, _, body = _get(server.url + "api/status")
    before = json.loads(body)["stamp"]
    done = run_kpi(["run", "--spec", "kpi_specs", "--kpi", "visits", "--last", "1"], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    _, _, body = _get(server.url + "api/status")
    assert json.loads(body)["stamp"] != before


FIRST_VISITS = (
    # each lead's first visit on or after it came in, within the window (the funnel's ordered step 2)
    "WITH v AS (SELECT l.lead_id, l.created_at AS entered, min(a.happened_at) AS t FROM leads l "
    "JOIN activities a ON a.lead_id = l.lead_id AND a.kind = 'visit' AND a.happened_at >= l.created_at "
    "AND a.happened_at <= l.created_at + INTERVAL (?) DAY GROUP BY 1, 2) ")


def board(demo_env, **raw):
    from kpiengine.dashboard.collect import collect
    from kpiengine.dashboard.options import parse_options
    from kpiengine.dashboard.views import build_dashboard
    from kpiengine.loader import load_project

    project = load_project(demo_env["specs"])
    return build_dashboard(collect(project, parse_options(project, raw)))


@pytest.mark.parametrize("view, window, anchor", [
    ("cohort", 60, "entered"),  # the default: counted like the funnel's KPIs on the tiles
    ("event", 60, "t"),
    ("cohort", 7, "entered"),  # the conversion-window control recomputes the funnel
])
def test_funnel_counts_each_stage_in_its_view_and_window(demo_env, view, window, anchor):
    import duckdb

    raw = {"period": WEEK} if (view, window) == ("cohort", 60) else {"period": WEEK, "funnel_view": view,
                                                                     "funnel_window": f"{window}d"}
    funnel = board(demo_env, **raw)["funnel"]["funnels"][0]
    assert funnel["view"] == view and funnel["window_seconds"] == window * 86400
    assert [s["tier"] for s in funnel["steps"]] == ["free", "traffic", "hit", "profit"]
    previous, current = funnel["columns"]
    assert (previous["period"], current["period"]) == (BEFORE, WEEK)
    assert current["maturing"] == (view == "cohort")  # the last week's leads can still be visited
    con = duckdb.connect(str(demo_env["db"]), read_only=True)
    leads = con.execute("SELECT count(*) FROM leads WHERE created_at >= CAST(? AS DATE) "
                        "AND created_at < CAST(? AS DATE) + INTERVAL 7 DAY", [WEEK, WEEK]).fetchone()[0]
    visited = con.execute(FIRST_VISITS + f"SELECT count(*) FROM v WHERE {anchor} >= CAST(? AS DATE) "
                          f"AND {anchor} < CAST(? AS DATE) + INTERVAL 7 DAY", [window, WEEK, WEEK]).fetchone()[0]
    # the time-to-convert distribution of the visit step: hours from lead to first visit, bucketed
    hours = [r[0] for r in con.execute(FIRST_VISITS + f"SELECT epoch(t) - epoch(entered) FROM v WHERE {anchor} >= "
                                       f"CAST(? AS DATE) AND {anchor} < CAST(? AS DATE) + INTERVAL 7 DAY",
                                       [window, WEEK, WEEK]).fetchall()]
    con.close()
    lead, visit = current["total"][0], current["total"][1]
    assert (lead["entities"], visit["entities"]) == (leads, visited)
    assert visit["from_previous"] == pytest.approx(visited / leads)
    assert visit["drop_off"] == leads - visited
    dist = funnel["distribution"]
    assert funnel["distribution_period"] == WEEK and dist["steps"][0]["step"] == "visit"
    edges = dist["edges_seconds"]
    expected = [sum(1 for x in hours if (i == 0 or x >= edges[i - 1]) and (i == len(edges) or x < edges[i]))
                for i in range(len(edges) + 1)]
    assert dist["steps"][0]["counts"] == expected and sum(expected) == visited
    assert PLANTED_REGION in {r["name"] for r in current["breakdown"]}


def test_product_matrix_names_the_tier_that_fails_to_move_customers_down(demo_env):
    board_ = board(demo_env, period=WEEK, funnel_view="event")
    matrix = board_["matrix"]["funnels"][0]
    stages = board_["funnel"]["funnels"][0]["columns"][-1]["total"]
    rows = {r["tier"]: r for r in matrix["rows"]}
    assert list(rows) == ["free", "traffic", "hit", "profit", "brand"] and rows["brand"]["stage"] is None
    weakest = min(stages[1:], key=lambda s: s["from_previous"])
    assert matrix["weakest_tier"] == weakest["tier"] and rows[weakest["tier"]]["weakest"]
    assert rows["traffic"]["entities"] == stages[1]["entities"]


def test_a_broken_spec_is_reported_on_the_page_and_recovers(demo_dir, tmp_path):
    import shutil

    specs = tmp_path / "kpi_specs"
    shutil.copytree(demo_dir["specs"], specs, ignore=shutil.ignore_patterns(".kpiengine"))
    srv = start_in_thread(str(specs))
    try:
        sales = specs / "sales.yml"
        good = sales.read_text(encoding="utf-8")
        sales.write_text(good.replace("formula: deals_won / visits", "formula: deals_won / visitz"), encoding="utf-8")
        status, ctype, body = _get(srv.url)
        assert status == 400 and ctype.startswith("text/html")
        assert "visitz" in body.decode() and "sales.yml:" in body.decode()  # located: file and line
        status, _, body = _get(srv.url + "api/dashboard")
        assert status == 400 and "visitz" in json.loads(body)["error"]
        sales.write_text(good, encoding="utf-8")  # fixed: the next request works, no restart
        assert _get(srv.url)[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_why_under_a_segment_filter_explains_the_segments_own_change(demo_env):
    """Filtered to east, "why revenue changed" splits east's change by channel; the warehouse-wide
    segment scan (which would explain every region's change) is left out with a note."""
    import duckdb

    why = board(demo_env, period=WEEK, filter=f"region={PLANTED_REGION}", by="channel", kpi="revenue")["why"]
    con = duckdb.connect(str(demo_env["db"]), read_only=True)
    try:
        def revenue(week):
            return dict(con.execute(
                "SELECT coalesce(channel, '∅'), CAST(sum(amount) AS DOUBLE) FROM deals WHERE stage = 'won' AND region = ? AND "
                "closed_at >= CAST(? AS DATE) AND closed_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY 1",
                [PLANTED_REGION, week, week]).fetchall())
        before, after = revenue(BEFORE), revenue(WEEK)
    finally:
        con.close()
    assert why["root_cause"] is None and any("not shown under a filter" in n for n in why["notes"])
    (segments,) = [g for g in why["groups"] if g["kind"] == "segment"]
    assert sum(c["value"] for c in segments["items"]) == pytest.approx(sum(after.values()) - sum(before.values()))
    shown = {c["name"]: c["value"] for c in segments["items"] if not c.get("other")}
    for name, value in shown.items():
        channel = name.removeprefix("channel ")
        assert value == pytest.approx(after.get(channel, 0) - before.get(channel, 0))


def test_the_response_cache_holds_across_reads_and_a_new_run_ends_it(server, demo_dir):
    """Issue 16 item 7: a repeated request is served from the cache. SQLite touched the empty
    write-ahead log on every read, which changed the cache key each time: the cache never hit."""
    from kpiengine.dashboard.server import freshness

    url = server.url + "api/dashboard?by=channel&period=" + BEFORE
    first = _get(url)[2]
    entries = len(server._cache)
    stamp = freshness(str(demo_dir["specs"]))
    assert _get(url)[2] == first and len(server._cache) == entries  # served from the cache: no new entry
    assert freshness(str(demo_dir["specs"])) == stamp
    done = run_kpi(["run", "--spec", "kpi_specs", "--kpi", "visits", "--last", "1"], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    assert freshness(str(demo_dir["specs"])) != stamp  # a new run is a new key: the page shows it
    _get(url)
    assert len(server._cache) == entries + 1


def test_team_has_one_bubble_per_rep_whatever_the_breakdown(demo_env):
    """By region each rep has one region and the bubble is coloured by it; by channel a rep sells in
    several channels, so the bubbles stay one per rep (not six) and the page says why they are not coloured."""
    import duckdb

    con = duckdb.connect(str(demo_env["db"]), read_only=True)
    try:
        rows = con.execute(
            "SELECT rep_name, min(region), max(region), count(*) FROM activities WHERE kind = 'visit' AND happened_at "
            ">= CAST(? AS DATE) AND happened_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY 1", [WEEK, WEEK]).fetchall()
    finally:
        con.close()
    assert all(lo == hi for _, lo, hi, _ in rows)  # the demo's reps work in one region each
    by_region = board(demo_env, period=WEEK, by="region")
    assert {(b["name"], b["group"]) for b in by_region["team"]["bubbles"]} == {(r, lo) for r, lo, _, _ in rows}
    by_channel = board(demo_env, period=WEEK, by="channel")
    team = by_channel["team"]
    assert team["group_by"] is None and {b["name"]: b["x"] for b in team["bubbles"]} == {r: float(n) for r, _, _, n in rows}
    assert "not coloured by channel" in by_channel["meta"]["notes"]["team_colour"]


@pytest.mark.parametrize("raw", [{"by": "rep"}, {"by": "rep", "grain": "day"}, {"by": "channel"}])
def test_dashboard_document_stays_under_300_kb_and_keeps_its_numbers(demo_env, raw):
    """Issue 16 item 7: by rep (and by rep and day) the document used to be 0.35-0.58 MB, mostly
    17-digit sparkline floats and leading nulls of trend lines; compacted it is under 300 KB and a
    padded-back trend line is the same line."""
    from kpiengine.dashboard import data
    from kpiengine.dashboard.collect import collect
    from kpiengine.dashboard.options import parse_options
    from kpiengine.dashboard.views import build_dashboard
    from kpiengine.loader import load_project

    project = load_project(demo_env["specs"])
    inputs = collect(project, parse_options(project, raw))
    doc = build_dashboard(inputs)
    assert len(json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")) < 300_000
    full = {t["kpi"]: t for t in data.trends_view(inputs)["kpis"]}
    for trend in doc["trends"]["kpis"]:
        for shown, exact in zip(trend["series"], full[trend["kpi"]]["series"], strict=True):
            padded = [None] * shown["start"] + shown["values"]
            assert len(padded) == len(exact["values"]) == len(doc["trends"]["periods"])
            assert padded == [None if v is None else pytest.approx(v, rel=1e-6) for v in exact["values"]]
    tile = doc["process"]["tiles"]["conversion"]
    assert tile["value"] == data.process_view(inputs)["tiles"]["conversion"]["value"]  # numbers keep every digit
    assert "weight" not in tile["breakdown"][0] and "spark" in tile["breakdown"][0]


def test_a_maturing_cohort_names_no_weakest_tier_or_step(demo_env):
    """In cohort view the last week's leads are still being visited (60-day window): their low
    visit rate is youth, not a weak tier, so neither the matrix nor the funnel names one."""
    board_ = board(demo_env, period=WEEK)
    matrix, funnel = board_["matrix"]["funnels"][0], board_["funnel"]["funnels"][0]
    assert funnel["view"] == "cohort" and funnel["columns"][-1]["maturing"]
    assert funnel["columns"][-1]["worst_step"] is None
    assert matrix["weakest_tier"] is None and not any(r["weakest"] for r in matrix["rows"])
    assert "still maturing" in matrix["summary"] and "no tier is named" in matrix["summary"]


def test_alert_states_as_of_a_judged_past_period_and_unknown_before(demo_dir, tmp_path, monkeypatch):
    """kpi check for W42, W43 and W44 in turn: W44 shows the firing east alerts (now); W43, judged
    quiet, shows none as of W43 and says it is known; W42, before the one period a state remembers,
    is unknown. The states come from the real `kpi check`; east's drop fired in W44 only."""
    import shutil

    specs = tmp_path / "kpi_specs"
    shutil.copytree(demo_dir["specs"], specs, ignore=shutil.ignore_patterns(".kpiengine"))
    two_before = (PLANTED_WEEK - timedelta(days=14)).isoformat()
    for period in (two_before, BEFORE, WEEK):
        done = run_kpi(["check", "--spec", "kpi_specs", "--period", period], tmp_path, demo_dir["env"])
        assert done.returncode in (0, 1, 2), done.stderr
    monkeypatch.setenv("KPI_DEMO_DB", str(demo_dir["db"]))
    dirs = {"specs": specs, "db": demo_dir["db"]}
    now = board(dirs, period=WEEK)["alerts"]
    assert now["scope"] == "now" and {(a["rule"], a["scope"]) for a in now["active"] if a["state"] == "firing"} >= \
        {("conversion_drop", "east")}
    past = board(dirs, period=BEFORE)
    assert (past["alerts"]["scope"], past["alerts"]["known"]) == ("as_of", True)
    assert past["alerts"]["active"] == [] and past["meta"]["alerts_available"]
    older = board(dirs, period=two_before)
    assert (older["alerts"]["known"], older["meta"]["alerts_available"]) == (False, False)
