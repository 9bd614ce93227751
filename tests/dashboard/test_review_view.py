"""The Review view in a real headless Chromium, on the demo after `kpi demo` + `kpi check`.

The live page (/review on `kpi serve`) and the offline file (`kpi report --review`)
show the KPI tree with statuses, attainment and driver share, the decisions of
the window and the diff since the last review; neither requests anything from
outside, and the page prints.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

import duckdb
import pytest
from browser import Browser, require_browser
from dash_testdata import run_kpi, serving

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("KPIENGINE_ARTIFACTS") or REPO / "out" / "dashboard")
WINDOW = "from=2026-07-01&to=2026-11-02"


@pytest.fixture(scope="module")
def browser():
    require_browser()
    b = Browser()
    yield b
    b.quit()


@pytest.fixture(scope="module")
def live(demo_dir):
    with serving(demo_dir) as srv:
        yield srv


def east_q4_conversion(db) -> float:
    con = duckdb.connect(str(db), read_only=True)
    try:
        won = con.execute("SELECT count(*) FROM deals WHERE stage = 'won' AND region = 'east' "
                          "AND closed_at >= DATE '2026-10-01' AND closed_at < DATE '2026-11-02'").fetchone()[0]
        visits = con.execute("SELECT count(*) FROM activities WHERE kind = 'visit' AND region = 'east' "
                             "AND happened_at >= DATE '2026-10-01' AND happened_at < DATE '2026-11-02'").fetchone()[0]
    finally:
        con.close()
    return won / visits


def css(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.driver.find_elements(By.CSS_SELECTOR, selector)


def check_review_page(browser, demo_dir):
    tree = css(browser, "#tree li[data-kpi=performance] li[data-kpi=conversion]")
    assert tree, "conversion is drawn under performance in the KPI tree"
    conversion = tree[0].text
    assert "strengthened" in conversion and "2026-Q4" in conversion and "of performance" in conversion
    mindset = css(browser, "#tree li[data-kpi=performance] li[data-kpi=mindset]")[0].text
    assert "weaken" in mindset
    lead_to_visit = css(browser, "#tree li[data-kpi=lead_to_visit]")[0].text
    assert "weakened" in lead_to_visit
    east = next(r.text for r in css(browser, "#attainment tr") if "conversion 2026-Q4" in r.text and "region=east" in r.text)
    assert f"{east_q4_conversion(demo_dir['db']) * 100:.1f}%" in east and "20.5%" in east and "short" in east
    decisions = css(browser, "#decisions")[0].text
    assert "2026-07-03" in decisions and "strengthen" in decisions and "weaken" in decisions
    assert css(browser, "#diff") and css(browser, "#evidence tr[data-kpi=conversion]")
    row = css(browser, "#evidence tr[data-kpi=conversion]")[0].text
    assert "where:" in row and "east" in row


def test_the_live_review_view(browser, live, demo_dir):
    browser.open(f"{live.url}review?{WINDOW}")
    check_review_page(browser, demo_dir)
    errors = [e for e in browser.console() if e["level"] == "SEVERE"]
    assert not errors, errors
    # data: URLs are the browser's own (the date input's icons), never a network request
    outside = [u for u in browser.requested_urls() if not u.startswith((live.url, "data:"))]
    assert not outside, outside
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(str(ARTIFACTS / "review.png"))
    # the window form reloads the page for another window
    from selenium.webdriver.common.by import By

    field = browser.driver.find_element(By.NAME, "from")
    browser.driver.execute_script("arguments[0].value = '2026-10-05'", field)
    browser.driver.find_element(By.CSS_SELECTOR, "nav button[type=submit]").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, 60).until(
        lambda d: "2026-10-05 to 2026-11-02" in d.execute_script(
            "var w = document.querySelector('header .window'); return w ? w.textContent : ''"))
    pdf = base64.b64decode(browser.driver.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000


def test_the_offline_review_report(browser, demo_dir, tmp_path):
    path = tmp_path / "review.html"
    done = run_kpi(["report", "--review", "--html", str(path), "--from", "2026-07-01", "--to", "2026-11-02",
                    "--spec", str(demo_dir["specs"])], demo_dir["folder"], demo_dir["env"])
    assert done.returncode == 0, done.stderr + done.stdout
    assert "wrote" in done.stdout
    browser.open(path.as_uri())
    check_review_page(browser, demo_dir)
    assert [u for u in browser.requested_urls() if not u.startswith(("file://", "data:"))] == []


def test_the_review_json(live):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{live.url}api/review?{WINDOW}") as resp:
        data = json.loads(resp.read())
    kpis = {k["kpi"]: k for k in data["kpis"]}
    assert kpis["conversion"]["status"] == "strengthened"
    assert kpis["conversion"]["suggestion"]["drives"] == "performance"
    assert data["outcomes"] == ["revenue", "performance"]
    shares = [s for s in kpis["conversion"]["drivers"] if s["outcome"] == "performance"]
    assert shares and shares[0]["direct"]
