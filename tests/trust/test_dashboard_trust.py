"""The dashboard on data ending mid-week: it opens on the last complete week, says so, shades a partial week
and notes the stale model, in the feed (plain data) and in a real headless Chromium.
"""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.dashboard.collect import collect
from kpiengine.dashboard.options import parse_options
from kpiengine.dashboard.views import build_dashboard
from kpiengine.loader import load_project

from .conftest import count_by, load_duckdb, make_orders, week_of, write_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))


@pytest.fixture
def shop_duckdb(tmp_path):
    db = tmp_path / "w.duckdb"
    rows = make_orders()
    load_duckdb(db, rows)
    folder = write_spec(tmp_path / "specs", f'{{type: duckdb, path: "{db}"}}', "orders")
    for args in (["run", "-s", str(folder)], ["check", "-s", str(folder)]):
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code in (0, 1), res.output
    return folder, rows


def _tile(data, kpi):
    return data["process"]["tiles"][kpi]


def test_feed_opens_on_the_last_complete_week_and_marks_the_partial_one(shop_duckdb):
    folder, rows = shop_duckdb
    project = load_project(str(folder))
    weeks = count_by(rows, lambda r: week_of(r[3].date()))
    data = build_dashboard(collect(project, parse_options(project, {"grain": "week"})))
    meta = data["meta"]
    assert meta["current"] == "2026-03-02" and meta["current_complete"] is True
    assert "the last complete week" in meta["period_note"]
    assert any("model orders is stale" in s for s in meta["stale"])
    assert _tile(data, "orders")["value"] == weeks[date(2026, 3, 2)]
    assert _tile(data, "orders")["state"] is None
    health = {h["model"]: h for h in meta["model_health"]}
    assert health["orders"]["stale"] is True and health["orders"]["status"] == "warning"  # the freshness rule fires

    partial = build_dashboard(collect(project, parse_options(project, {"grain": "week", "period": "2026-03-09"})))
    tile = _tile(partial, "orders")
    assert tile["value"] == weeks[date(2026, 3, 9)] and tile["state"] == "partial"
    assert tile["tone"] == "flat"  # never coloured as good or bad news
    assert "partial" in partial["meta"]["period_note"]


def test_browser_shades_the_partial_week_and_shows_the_stale_note(shop_duckdb):
    from browser import Browser, require_browser

    from kpiengine.dashboard.server import start_in_thread

    require_browser()
    folder, _rows = shop_duckdb
    srv = start_in_thread(str(folder))
    browser = Browser()
    try:
        browser.open(srv.url + "?grain=week")
        d = browser.driver
        note = d.execute_script("return document.querySelector('#freshness .period-note').textContent")
        assert note.startswith("Showing 2026-W10") and "the last complete week" in note
        stale = d.execute_script("return [...document.querySelectorAll('#freshness .stale-note')]"
                                 ".map(e => e.textContent)")
        assert any("model orders is stale" in s for s in stale)
        assert d.execute_script("return document.querySelectorAll('.tile.not-final').length") == 0

        browser.open(srv.url + "?grain=week&period=2026-03-09")
        shaded = d.execute_script(
            "var t = document.querySelector('.tile[data-kpi=orders]');"
            "return [t.className, getComputedStyle(t).backgroundImage, t.textContent]")
        assert "not-final" in shaded[0] and "partial" in shaded[0]
        assert "repeating-linear-gradient" in shaded[1]
        assert "partial" in shaded[2]
        assert "partial" in d.execute_script("return document.querySelector('#freshness .period-note').textContent")
    finally:
        browser.quit()
        srv.shutdown()
        srv.server_close()
