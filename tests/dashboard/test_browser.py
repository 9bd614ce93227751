"""The dashboard in a real headless Chromium, on the demo, at desktop (1440 px) and phone (390 px) width.

Every panel is checked at both widths: the page never scrolls sideways, no two
text boxes overlap, every control is reachable with Tab, and axe-core finds no
serious or critical WCAG 2.1 AA violation (light and dark theme). Numbers the
page shows under a segment filter and a period comparison are checked against
plain SQL on the demo tables. Screenshots of each panel go to
$KPIENGINE_ARTIFACTS, else to the pytest temporary folder (never committed).
"""
from __future__ import annotations

import os
import shutil
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import Browser, require_browser
from dash_testdata import run_kpi
from page_checks import axe_violations, keyboard_unreached, overlaps, page_width

from kpiengine.dashboard.server import start_in_thread
from kpiengine.cli.demo_data import PLANTED_REGION, PLANTED_WEEK

REPO = Path(__file__).resolve().parents[2]
WEEK = PLANTED_WEEK.isoformat()
BEFORE = (PLANTED_WEEK - timedelta(days=7)).isoformat()
MONTH_BEFORE = (PLANTED_WEEK - timedelta(days=28)).isoformat()
PANELS = ["attention", "process", "detail", "why", "alerts", "compare", "funnel", "matrix", "team", "trends"]
WIDTHS = [1440, 390]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = Path(os.environ.get("KPIENGINE_ARTIFACTS") or tmp_path_factory.mktemp("dashboard-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    require_browser()
    b = Browser()
    yield b
    b.quit()


@pytest.fixture(scope="module")
def unchecked_demo(tmp_path_factory):
    """`kpi demo` only: no `kpi check` has ever run, so no alert state exists."""
    folder = tmp_path_factory.mktemp("dash_unchecked")
    shutil.copytree(REPO / "kpi_specs", folder / "kpi_specs", ignore=shutil.ignore_patterns(".kpiengine"))
    env = {k: v for k, v in os.environ.items() if k not in ("KPI_DEMO_DB", "KPIENGINE_HISTORY", "KPI_SPECS")}
    done = run_kpi(["demo", "--spec", "kpi_specs"], folder, env)
    assert done.returncode == 0, done.stderr + done.stdout
    return {"folder": folder, "specs": folder / "kpi_specs", "db": folder / "demo.duckdb"}


def _serve(demo):
    old = os.environ.get("KPI_DEMO_DB")
    os.environ["KPI_DEMO_DB"] = str(demo["db"])
    srv = start_in_thread(str(demo["specs"]))
    return srv, old


def _stop(srv, old):
    srv.shutdown()
    srv.server_close()
    if old is None:
        os.environ.pop("KPI_DEMO_DB", None)
    else:
        os.environ["KPI_DEMO_DB"] = old


@pytest.fixture(scope="module")
def live(unchecked_demo):
    srv, old = _serve(unchecked_demo)
    yield srv
    _stop(srv, old)


@pytest.fixture(scope="module")
def checked(demo_dir):
    srv, old = _serve(demo_dir)
    yield srv
    _stop(srv, old)


def sql(db, query: str, params=()):
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def week_count(db, table: str, time: str, week: str, where: str = "TRUE") -> int:
    return sql(db, f"SELECT count(*) FROM {table} WHERE {where} AND {time} >= CAST(? AS DATE) "
                   f"AND {time} < CAST(? AS DATE) + INTERVAL 7 DAY", [week, week])[0][0]


def severe(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e.get("level") == "SEVERE"]


def at_width(browser, width: int, url: str):
    browser.driver.set_window_size(width, 900)
    browser.console()  # drop earlier pages' messages (a test may provoke a 400 on purpose)
    browser.open(url)
    return browser.driver


def text(driver, selector: str) -> str:
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", selector)


# -- every panel at both widths ----------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_every_panel_fits_reads_and_is_reachable_at(width, browser, live, artifacts):
    d = at_width(browser, width, live.url)
    assert severe(browser.console()) == []
    host = urlsplit(live.url).netloc
    assert all(urlsplit(u).netloc == host or u.startswith("data:") for u in browser.requested_urls())
    scroll, client = page_width(d)
    assert scroll == client and d.execute_script("return window.innerWidth") == width  # no sideways scroll
    for panel in PANELS:
        found = overlaps(d, f"#{panel}")
        assert found["count"] > 0, f"{panel}: no text at all"
        assert found["overlaps"] == [], f"{panel} at {width}px: overlapping text {found['overlaps']}"
        element = d.find_element("css selector", f"#{panel}")
        d.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(artifacts / f"{panel}-{width}.png"))
    assert keyboard_unreached(d) == []
    assert axe_violations(d) == []


def test_dark_theme_follows_the_system_and_stays_accessible(browser, live, artifacts):
    d = browser.driver
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        at_width(browser, 1440, live.url)
        background = d.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # the dark palette, chosen by the system setting alone
        assert axe_violations(d) == []
        d.save_screenshot(str(artifacts / "dark-1440.png"))
    finally:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})


# -- the numbers -------------------------------------------------------------------------------------

def test_the_planted_drop_is_first_without_kpi_check(browser, live, unchecked_demo):
    assert not (unchecked_demo["specs"] / ".kpiengine" / "history.db").exists() or \
        "alert_state" not in sql_tables(unchecked_demo["specs"] / ".kpiengine" / "history.db")
    d = at_width(browser, 1440, live.url)
    first = text(d, "#attention li")
    assert f"region {PLANTED_REGION}" in first and "Conversion" in first
    won = dict(sql(unchecked_demo["db"], "SELECT region, count(*) FROM deals WHERE stage = 'won' AND closed_at >= "
                   "CAST(? AS DATE) AND closed_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY 1", [WEEK, WEEK]))
    visits = dict(sql(unchecked_demo["db"], "SELECT region, count(*) FROM activities WHERE kind = 'visit' AND "
                      "happened_at >= CAST(? AS DATE) AND happened_at < CAST(? AS DATE) + INTERVAL 7 DAY GROUP BY 1",
                      [WEEK, WEEK]))
    assert f"{won[PLANTED_REGION] / visits[PLANTED_REGION] * 100:.1f}%" in first
    assert "maturing" not in first.lower()  # funnel cohorts that are not final never head the list


def sql_tables(path) -> set:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def test_segment_filter_applies_to_every_panel(browser, live, unchecked_demo):
    db = unchecked_demo["db"]
    d = at_width(browser, 1440, live.url + f"?filter=region={PLANTED_REGION}&by=channel&period={WEEK}")
    assert severe(browser.console()) == []
    east = f"region = '{PLANTED_REGION}'"
    won = week_count(db, "deals", "closed_at", WEEK, f"{east} AND stage = 'won'")
    visits = week_count(db, "activities", "happened_at", WEEK, f"{east} AND kind = 'visit'")
    # tiles
    assert text(d, "#process .tile[data-kpi='conversion'] .val") == f"{won / visits * 100:.1f}%"
    assert text(d, "#process .tile[data-kpi='visits'] .val") == f"{visits:,}"
    # the comparison table, both periods
    visits_before = week_count(db, "activities", "happened_at", BEFORE, f"{east} AND kind = 'visit'")
    row = d.execute_script("return Array.from(document.querySelectorAll(`#compare tr[data-kpi='visits'] td`)).map(c => c.textContent)")
    assert row[:2] == [f"{visits:,}", f"{visits_before:,}"]
    # the breakdown inside the segment: channel web within east
    web = week_count(db, "activities", "happened_at", WEEK, f"{east} AND kind = 'visit' AND channel = 'web'")
    d.execute_script("document.querySelector(`#process .node[data-node='visits'] .node-head`).click()")
    cells = d.execute_script("const r = document.querySelector(`#detail .detail-kpi[data-kpi='visits'] tr[data-name='web']`);"
                             "return r ? Array.from(r.children).map(c => c.textContent) : null;")
    assert cells and cells[1] == f"{web:,}"
    # the funnel: east's leads of the week; the team: only east's reps
    leads = week_count(db, "leads", "created_at", WEEK, east)
    assert text(d, "#funnel tr[data-step='lead'] td") == f"{leads:,}"
    reps = {r[0] for r in sql(db, f"SELECT DISTINCT rep_name FROM activities WHERE {east} AND kind = 'visit' AND "
                                  "happened_at >= CAST(? AS DATE) AND happened_at < CAST(? AS DATE) + INTERVAL 7 DAY",
                              [WEEK, WEEK])}
    shown = set(d.execute_script("return fetch('/api/team?' + location.search.slice(1)).then(r => r.json())"
                                 ".then(t => t.bubbles.map(b => b.name))"))
    assert shown == reps
    assert PLANTED_REGION in text(d, "#period-label")


def test_period_comparison_gives_deltas_checked_against_sql(browser, live, unchecked_demo):
    db = unchecked_demo["db"]
    d = at_width(browser, 390, live.url + f"?period={WEEK}&compare={MONTH_BEFORE}")
    now = week_count(db, "deals", "closed_at", WEEK, "stage = 'won'")
    then = week_count(db, "deals", "closed_at", MONTH_BEFORE, "stage = 'won'")
    row = d.execute_script("return Array.from(document.querySelectorAll(`#compare tr[data-kpi='deals_won'] td`)).map(c => c.textContent)")
    assert row[0] == f"{now:,}" and row[1] == f"{then:,}"
    assert row[2].endswith(f"{(now / then - 1) * 100:+.1f}%")
    assert "2026-W40" in text(d, "#compare h2")  # four weeks before W44


def test_bad_address_option_shows_the_error_and_the_default_controls(browser, live):
    d = at_width(browser, 390, live.url + "?grain=fortnight&by=region")
    banner = d.find_element("css selector", "#error")
    assert banner.is_displayed() and "option 'grain': 'fortnight' is not a grain" in banner.text
    assert d.execute_script("return document.querySelector('select[name=grain]').value") == "week"
    assert d.execute_script("return document.querySelectorAll('#process .tile').length") > 10
    assert "grain=" not in d.current_url and "by=region" in d.current_url


def test_where_typed_in_the_control_filters_the_page_like_sql(browser, live, unchecked_demo):
    from selenium.webdriver.common.keys import Keys

    db = unchecked_demo["db"]
    d = at_width(browser, 390, live.url + f"?by=channel&period={WEEK}")
    box = d.find_element("css selector", "#opt-where")
    box.send_keys("region = 'east' AND channel IN ('web', 'partner')", Keys.TAB)  # change fires on leaving the box
    browser.wait_for(lambda: "where" in (text(d, "#period-label") or "")
                     and not d.execute_script("return document.body.hasAttribute('data-loading')"))
    cond = "region = 'east' AND channel IN ('web', 'partner') AND kind = 'visit'"
    visits = week_count(db, "activities", "happened_at", WEEK, cond)
    assert text(d, "#process .tile[data-kpi='visits'] .val") == f"{visits:,}"
    assert "where=" in d.current_url and severe(browser.console()) == []
    leads = week_count(db, "leads", "created_at", WEEK, "region = 'east' AND channel IN ('web', 'partner')")
    assert text(d, "#funnel tr[data-step='lead'] td") == f"{leads:,}"
    width, viewport = page_width(d)
    assert width == viewport  # the new control fits the phone: no sideways scroll


def test_bad_where_shows_the_located_error_and_the_default_controls(browser, live):
    d = at_width(browser, 390, live.url + "?where=region%20%3D%20'east'%3B%20DROP%20TABLE%20deals&by=region")
    banner = d.find_element("css selector", "#error")
    assert banner.is_displayed() and "option 'where'" in banner.text and "';' is not allowed" in banner.text
    assert d.execute_script("return document.querySelector('#opt-where').value") == ""
    assert d.execute_script("return document.querySelectorAll('#process .tile').length") > 10
    assert "where=" not in d.current_url and "by=region" in d.current_url


def test_crosshair_tooltip_shows_every_series_at_a_period(browser, live):
    from selenium.webdriver.common.action_chains import ActionChains

    d = at_width(browser, 1440, live.url + "?node=closing")
    card = d.find_element("css selector", "#trends .chart-card[data-kpi='conversion'] .chart")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    ActionChains(d).move_to_element_with_offset(card, card.size["width"] // 3, 0).perform()
    tip = d.execute_script("const t = Array.from(document.querySelectorAll('#trends .chart-card[data-kpi=conversion] div'))"
                           ".find(e => e.style.position === 'absolute' && e.textContent.includes('%'));"
                           "return t ? t.textContent : null;")
    assert tip and all(region in tip for region in ("north", "south", "east", "west", "central", "total"))


def test_clicking_a_number_shows_its_rows_and_exports_them(browser, live, unchecked_demo):
    d = at_width(browser, 1440, live.url + f"?node=closing&period={WEEK}")
    d.execute_script("Array.from(document.querySelectorAll('#detail .detail-kpi[data-kpi=deals_won] button.link'))"
                     ".find(b => b.textContent.startsWith('rows behind')).click()")
    browser.wait_for(lambda: d.execute_script("return document.querySelectorAll('#rows tbody tr').length") > 0)
    assert d.execute_script("return document.querySelectorAll('#rows tbody tr').length") == 25  # first page of 100
    href = d.execute_script("return document.querySelector('#rows a[download]').href")
    with urllib.request.urlopen(href, timeout=60) as resp:
        lines = resp.read().decode("utf-8").strip().splitlines()
    won = week_count(unchecked_demo["db"], "deals", "closed_at", WEEK, "stage = 'won'")
    assert len(lines) == 1 + min(100, won) and "deal_id" in lines[0]
    import csv

    table = list(csv.DictReader(lines))
    ids = {r[0] for r in sql(unchecked_demo["db"], "SELECT CAST(deal_id AS VARCHAR) FROM deals WHERE stage = 'won' AND "
                                                    "closed_at >= CAST(? AS DATE) AND closed_at < CAST(? AS DATE) + "
                                                    "INTERVAL 7 DAY", [WEEK, WEEK])}
    assert {r["deal_id"] for r in table} <= ids and len({r["deal_id"] for r in table}) == len(table)
    assert all(r["stage"] == "won" for r in table)


def test_offline_report_opens_from_a_file_without_any_request(browser, demo_dir, tmp_path, artifacts):
    out = tmp_path / "report.html"
    done = run_kpi(["report", "--spec", "kpi_specs", "--html", str(out)], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size < 1_500_000
    browser.driver.get_log("performance")
    d = at_width(browser, 390, out.as_uri())
    assert severe(browser.console()) == []
    assert [u for u in browser.requested_urls() if not u.startswith(("file:", "data:"))] == []
    assert d.execute_script("return document.querySelectorAll('#process .tile').length") > 10
    assert d.execute_script("return document.querySelectorAll('#team svg').length") == 1
    first = text(d, "#attention li")
    assert "firing" in first and f"region {PLANTED_REGION}" in first  # after kpi check the alert is on the line
    assert "offline report" in text(d, "#source")
    assert page_width(d)[0] == page_width(d)[1]
    d.save_screenshot(str(artifacts / "report-390.png"))


def test_past_period_shows_alert_states_of_that_period(browser, checked):
    d = at_width(browser, 1440, checked.url + f"?period={BEFORE}")
    assert "firing" not in (text(d, "#attention") or "")  # the W44 alerts are not shown next to W43's numbers
    # kpi check judged W44 only: W43's states are unknown, which the page says instead of "all good"
    assert "Unknown for 2026-W43 (Oct 19): kpi check first judged 2026-10-26" in text(d, "#alerts")
    assert "No alert was firing" not in text(d, "#alerts") and "0 firing" not in text(d, "#alerts")
    assert "are unknown" in text(d, "#attention .note")
    assert d.execute_script("return document.querySelectorAll('#process .tile .dot').length") == 0  # no green dots
    d = at_width(browser, 1440, checked.url + f"?period={WEEK}")
    assert "Now (the latest period kpi check judged: 2026-10-26)" in text(d, "#alerts .note")
    assert d.execute_script("return document.querySelectorAll('#process .tile .dot.firing').length") > 0


def test_every_won_count_says_whether_it_counts_by_cohort_or_by_event(browser, live, unchecked_demo):
    """Issue 16 item 2: the cohort "Won" (leads of the week won within 60 days) and the event "Deals won"
    (every deal won in the week) are different numbers; each says which it is, and the funnel names both."""
    db = unchecked_demo["db"]
    won_events = week_count(db, "deals", "closed_at", WEEK, "stage = 'won'")
    for view in ("cohort", "event"):
        d = at_width(browser, 390, live.url + f"?period={WEEK}&funnel_view={view}")
        assert text(d, "#process .tile[data-kpi='deals_won'] .val") == f"{won_events:,}"
        assert "counted by event" in text(d, "#process .tile[data-kpi='deals_won']")
        assert "by cohort" in text(d, "#process .tile[data-kpi='sales_funnel_won']")
        funnel_won = text(d, "#funnel tr[data-step='won'] td")
        assert funnel_won != f"{won_events:,}"
        words = text(d, "#funnel .counting-note[data-step='won'][data-kpi='deals_won']")
        assert f"{funnel_won} here, by {view}" in words, words
        assert f"{won_events:,} on the tile" in words and "by event (every one that happened in 2026-W44" in words
        assert page_width(d)[0] == page_width(d)[1]


def test_legend_swatches_have_the_colour_of_their_line(browser, live):
    """The dashed total is grey: the regions' swatches used to shift by one (east's red line under 'central')."""
    d = at_width(browser, 1440, live.url + "?node=closing")
    pairs = d.execute_script("""
      return Array.from(document.querySelectorAll('#trends .chart-card')).map(card => {
        const chart = echarts.getInstanceByDom(card.querySelector('.chart')), drawn = {};
        chart.getModel().eachSeries(s => { drawn[s.name] = s.getData().getVisual('style').fill; });
        return Array.from(card.querySelectorAll('.series-toggle')).map(b => {
          const swatch = getComputedStyle(b.querySelector('.swatch')).backgroundColor;
          return [card.dataset.kpi, b.textContent, swatch, drawn[b.textContent]];
        });
      }).flat();""")
    assert any(p[1] == "total" for p in pairs) and len(pairs) > 10

    def rgb(hex_colour):
        n = int(hex_colour.lstrip("#"), 16)
        return f"rgb({n >> 16}, {(n >> 8) & 255}, {n & 255})"

    assert [p for p in pairs if p[2] != rgb(p[3])] == []


def test_funnel_controls_switch_the_counting_and_the_window(browser, live, unchecked_demo):
    """The Count by and Conversion window controls recompute the funnel; numbers checked against SQL."""
    from selenium.webdriver.support.ui import Select

    db = unchecked_demo["db"]

    def visited(anchor: str, days: int) -> int:
        return sql(db, "WITH v AS (SELECT l.lead_id, l.created_at AS entered, min(a.happened_at) AS t FROM leads l "
                       "JOIN activities a ON a.lead_id = l.lead_id AND a.kind = 'visit' AND a.happened_at >= l.created_at "
                       "AND a.happened_at <= l.created_at + INTERVAL (?) DAY GROUP BY 1, 2) "
                       f"SELECT count(*) FROM v WHERE {anchor} >= CAST(? AS DATE) AND {anchor} < CAST(? AS DATE) + "
                       "INTERVAL 7 DAY", [days, WEEK, WEEK])[0][0]

    d = at_width(browser, 390, live.url + f"?period={WEEK}")
    assert text(d, "#funnel .counting") == "cohort view"
    assert text(d, "#funnel tr[data-step='visit'] td") == f"{visited('entered', 60):,}"
    for name, value, anchor, days in (("funnel_view", "event", "t", 60), ("funnel_window", "7d", "t", 7)):
        before = d.execute_script("return document.body.getAttribute('data-ready')")
        Select(d.find_element("css selector", f"#funnel select[name={name}]")).select_by_value(value)
        browser.wait_ready(before)
        assert f"{name}={value}" in d.current_url
        assert text(d, "#funnel .counting") == "event view"
        assert text(d, "#funnel tr[data-step='visit'] td") == f"{visited(anchor, days):,}"
    assert "conversion window 7d" in text(d, "#funnel")


def test_by_rep_the_phone_page_shows_the_top_rows_and_pages_through_all(browser, live, unchecked_demo):
    """Issue 16 item 7: by rep a tile's table holds the worst and the largest reps, "show all" pages
    through every rep 25 at a time, and the phone page never scrolls sideways."""
    reps = sql(unchecked_demo["db"], "SELECT count(DISTINCT rep_name) FROM activities WHERE kind = 'visit' AND "
                                     "happened_at >= CAST(? AS DATE) - INTERVAL 7 DAY AND happened_at < CAST(? AS DATE) "
                                     "+ INTERVAL 7 DAY", [WEEK, WEEK])[0][0]
    d = at_width(browser, 390, live.url + f"?by=rep&node=field_visits&period={WEEK}")
    scroll, client = page_width(d)
    assert scroll == client and d.execute_script("return window.innerWidth") == 390  # no sideways scroll
    card = "#detail .detail-kpi[data-kpi='visits']"
    shown = d.execute_script(f"return document.querySelectorAll(`{card} tbody tr`).length")
    assert 5 <= shown <= 10  # the 5 worst movers and the 5 largest, some in both
    button = d.execute_script(f"return Array.from(document.querySelectorAll(`{card} button.link`))"
                              ".find(b => b.textContent.startsWith('show all'))")
    assert button.text == f"show all {reps} rep values"
    button.click()
    browser.wait_for(lambda: d.execute_script(f"return document.querySelector(`{card} .pager`) !== null"))
    assert d.execute_script(f"return document.querySelectorAll(`{card} tbody tr`).length") == min(25, reps)
    assert f"page 1 of {-(-reps // 25)} ({reps} rows)" in text(d, f"{card} .pager")
    assert page_width(d)[0] == page_width(d)[1]
    assert keyboard_unreached(d) == [] and axe_violations(d) == []
