"""The dashboard in a real headless Chromium, on the demo after `kpi demo` + `kpi check`.

Screenshots for review are written to $KPIENGINE_ARTIFACTS (default: out/dashboard/
in the repository, which git ignores).
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import Browser, require_browser
from dash_testdata import run_kpi

from kpiengine.dashboard.server import start_in_thread
from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK
from kpiengine.loader import load_project

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("KPIENGINE_ARTIFACTS") or REPO / "out" / "dashboard")
BEFORE = (PLANTED_WEEK - timedelta(days=7)).isoformat()


@pytest.fixture(scope="module")
def browser():
    require_browser()
    b = Browser()
    yield b
    b.quit()


@pytest.fixture(scope="module")
def live(demo_dir):
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


def total_conversion(db: str, week: str) -> float:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        won = con.execute("SELECT count(*) FROM deals WHERE stage = 'won' AND closed_at >= CAST(? AS DATE) "
                          "AND closed_at < CAST(? AS DATE) + INTERVAL 7 DAY", [week, week]).fetchone()[0]
        visits = con.execute("SELECT count(*) FROM activities WHERE kind = 'visit' AND happened_at >= CAST(? AS DATE) "
                             "AND happened_at < CAST(? AS DATE) + INTERVAL 7 DAY", [week, week]).fetchone()[0]
    finally:
        con.close()
    return won / visits


def severe(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e.get("level") == "SEVERE"]


def tile_value(browser, node: str, kpi: str) -> str:
    return browser.driver.execute_script(
        "return document.querySelector(`#process .node[data-node='${arguments[0]}'] "
        ".tiles > .tile[data-kpi='${arguments[1]}'] .val`).textContent", node, kpi)


def east_row(browser, kpi: str) -> list[str]:
    return browser.driver.execute_script(
        "var r = document.querySelector(`#detail .detail-kpi[data-kpi='${arguments[0]}'] tr[data-name='${arguments[1]}']`);"
        "return r ? Array.from(r.cells).map(c => c.textContent) : null;", kpi, PLANTED_REGION)


def test_live_page_renders_the_demo_with_no_errors_and_no_outside_requests(browser, live, demo_dir):
    browser.open(live.url)
    assert severe(browser.console()) == []
    host = urlsplit(live.url).netloc
    urls = browser.requested_urls()
    assert urls, "the network log is empty: the check would prove nothing"
    outside = [u for u in urls if not (u.startswith("data:") or urlsplit(u).netloc == host)]
    assert outside == []
    resources = browser.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(urlsplit(u).netloc == host for u in resources)

    project = load_project(demo_dir["specs"])
    d = browser.driver
    nodes = d.execute_script("return Array.from(document.querySelectorAll('#process .node')).map(n => n.dataset.node)")
    assert set(nodes) == set(project.process)  # every level-1, 2 and 3 process is drawn
    # the bubble chart: one bubble per rep, with the median lines
    bubbles = d.execute_script("return document.querySelectorAll('#team svg g.bubble').length")
    team = d.execute_script("return fetch('/api/team').then(r => r.json())")
    assert bubbles == len(team["bubbles"]) > 10
    assert d.execute_script("return document.querySelectorAll('#team svg line.median').length") == 2
    # the funnel: each stage drawn with its volume (when the spec has funnels)
    if project.section("funnels"):
        steps = d.execute_script("return document.querySelectorAll('#funnel .funnel-step').length")
        assert steps >= 2 * 2  # two periods side by side, at least two stages
    else:
        assert "no funnel" in d.find_element("css selector", "#funnel .empty").text
    # the planted drop is the first thing on the page
    first = d.find_element("css selector", "#attention li").text
    assert "firing" in first and "region east" in first and "轉化率" in first

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard-live.png"
    browser.screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


def test_clicking_a_process_shows_its_kpis(browser, live):
    browser.open(live.url)
    d = browser.driver
    d.find_element("css selector", "#process .node[data-node='lead_generation'] .node-head").click()
    assert "Lead generation" in d.find_element("css selector", "#detail h2").text
    shown = d.execute_script("return Array.from(document.querySelectorAll('#detail .detail-kpi')).map(e => e.dataset.kpi)")
    assert "leads" in shown and "conversion" not in shown
    d.find_element("css selector", "#process .node[data-node='closing'] .node-head").click()
    shown = d.execute_script("return Array.from(document.querySelectorAll('#detail .detail-kpi')).map(e => e.dataset.kpi)")
    assert "conversion" in shown and "leads" not in shown
    row = east_row(browser, "conversion")
    assert row[0] == PLANTED_REGION and row[3].startswith("▼")  # conversion fell there
    # the trends follow the selection
    charts = d.execute_script("return Array.from(document.querySelectorAll('#trends .chart-card')).map(e => e.dataset.kpi)")
    assert "conversion" in charts and "leads" not in charts


def test_changing_the_period_updates_the_numbers(browser, live, demo_dir):
    from selenium.webdriver.support.ui import Select

    browser.open(live.url)
    d = browser.driver
    now = tile_value(browser, "closing", "conversion")
    ready = d.execute_script("return document.body.getAttribute('data-ready')")
    Select(d.find_element("css selector", "select[name='period']")).select_by_value(BEFORE)
    browser.wait_ready(previous=ready)
    before = tile_value(browser, "closing", "conversion")
    assert before != now
    # the page shows that week's conversion, worked out here from the tables, formatted as a percentage
    assert before == f"{total_conversion(str(demo_dir['db']), BEFORE) * 100:.1f}%"
    assert now == f"{total_conversion(str(demo_dir['db']), PLANTED_WEEK.isoformat()) * 100:.1f}%"
    assert "period=" + BEFORE in d.current_url  # the choice is kept in the address, so refresh keeps it
    assert severe(browser.console()) == []


def test_breakdown_control_reloads_by_another_dimension(browser, live):
    from selenium.webdriver.support.ui import Select

    browser.open(live.url)
    d = browser.driver
    ready = d.execute_script("return document.body.getAttribute('data-ready')")
    Select(d.find_element("css selector", "select[name='by']")).select_by_value("channel")
    browser.wait_ready(previous=ready)
    d.find_element("css selector", "#process .node[data-node='closing'] .node-head").click()
    header = d.execute_script("return document.querySelector(`#detail .detail-kpi[data-kpi='conversion'] th`).textContent")
    assert header == "channel"


def test_offline_report_opens_from_a_file_without_any_request(browser, demo_dir, tmp_path):
    out = tmp_path / "report.html"
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(out)], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    browser.driver.get_log("performance")  # drop earlier pages' events
    browser.open(out.as_uri())
    assert severe(browser.console()) == []
    urls = browser.requested_urls()
    assert [u for u in urls if not (u.startswith("file:") or u.startswith("data:"))] == []
    d = browser.driver
    assert d.execute_script("return document.querySelectorAll('#process .tile').length") > 10
    assert d.execute_script("return document.querySelectorAll('#team svg g.bubble').length") > 10
    assert "offline report" in d.find_element("css selector", "#source").text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(str(ARTIFACTS / "dashboard-report.png"))


def test_totals_only_and_explain_controls(browser, live):
    from selenium.webdriver.support.ui import Select

    browser.open(live.url + "?node=closing")
    d = browser.driver
    assert "Closing" in d.find_element("css selector", "#detail h2").text  # the address keeps the selection
    ready = d.execute_script("return document.body.getAttribute('data-ready')")
    Select(d.find_element("css selector", "select[name='by']")).select_by_value("none")
    ready = browser.wait_ready(previous=ready)
    assert d.execute_script("return document.querySelectorAll('#detail table.breakdown').length") == 0
    assert "by=none" in d.current_url
    Select(d.find_element("css selector", "#why select[name='kpi']")).select_by_value("performance")
    ready = browser.wait_ready(previous=ready)
    assert "Performance" in d.find_element("css selector", "#why h2").text
    drivers = d.execute_script("return Array.from(document.querySelectorAll('#why .why-row')).map(r => r.dataset.name)")
    assert len(drivers) == 3 and any("Mindset" in n for n in drivers)  # performance = mindset * visits * conversion
    Select(d.find_element("css selector", "#why select[name='kpi']")).select_by_value("revenue")
    browser.wait_ready(previous=ready)  # a sum without a breakdown has nothing to split: the panel says so
    assert d.find_element("css selector", "#why h2").text == "Why it changed"
    assert "breakdown" in d.find_element("css selector", "#why .empty").text
    assert severe(browser.console()) == []
