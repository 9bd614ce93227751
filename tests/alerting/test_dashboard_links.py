"""Every notification links to the dashboard at its alert's KPI, period and dimension values (issue 13).

The link is checked twice: its query is the one written out here from the alert's known
values, and a real `kpi serve` opened at it shows that period, that segment and that KPI,
with the conversion of the segment computed by hand-written SQL.
"""
from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import duckdb
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.testing import RecordingHTTPServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alerting_helpers import DROP_WEEK, build_mini_warehouse, write_mini_project  # noqa: E402


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _with_url(spec: Path, url: str | None) -> None:
    project = spec / "project.yml"
    text = project.read_text(encoding="utf-8")
    if url is not None:
        text = text.replace("  name: mini\n", f"  name: mini\n  url: {url}\n")
    project.write_text(text, encoding="utf-8")


def _fired(tmp_path, url):
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    with RecordingHTTPServer() as server:
        spec = write_mini_project(tmp_path / "spec", db, server.url_for("/hook"))
        _with_url(spec, url)
        out = kpi("check", "-s", spec, "--period", DROP_WEEK)
        assert out.exit_code == 2, out.output
        items = [i for r in server.requests for i in r.json()["items"] if i["status"] == "firing"]
    return db, spec, items


def test_every_notification_links_to_its_kpi_period_and_segment(tmp_path):
    _db, _spec, items = _fired(tmp_path, "https://kpi.example.com/ops/")
    assert [i["dimensions"] for i in items] == [{"region": "east"}]
    expected = "https://kpi.example.com/ops/?" + urlencode(
        {"kpi": "conversion", "grain": "week", "period": DROP_WEEK.isoformat(), "filter": "region=east"})
    assert items[0]["url"] == expected


def test_the_text_forms_carry_the_link_and_the_default_is_kpi_serve(tmp_path):
    from kpiengine.render import to_html, to_markdown, to_text
    from kpiengine.sinks import AlertItem, Notification

    _db, _spec, items = _fired(tmp_path, None)
    url = items[0]["url"]
    assert url.startswith("http://127.0.0.1:8765/?")  # kpi serve's own address when project.url is not set
    n = Notification(idempotency_key="k", title="t", severity="critical", status="firing", text="",
                     items=[AlertItem(**items[0])])
    assert f"Dashboard: {url}" in to_text(n)
    assert f"[Open in the dashboard]({url})" in to_markdown(n)
    assert f'<a href="{url.replace("&", "&amp;")}">Open in the dashboard</a>' in to_html(n)


def test_the_link_opens_the_dashboard_at_that_place(tmp_path):
    from kpiengine.dashboard.server import start_in_thread

    db, spec, items = _fired(tmp_path, "http://127.0.0.1:1/")
    query = urlsplit(items[0]["url"]).query
    server = start_in_thread(str(spec))
    try:
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/api/dashboard?{query}", timeout=60) as resp:
            doc = json.loads(resp.read())
    finally:
        server.shutdown()
        server.server_close()
    assert doc["meta"]["current"] == DROP_WEEK.isoformat()
    assert doc["meta"]["options"]["kpi"] == "conversion"
    assert parse_qs(query)["filter"] == ["region=east"]
    con = duckdb.connect(str(db), read_only=True)
    won, visits = (con.execute(f"SELECT count(*) FROM {t} WHERE region = 'east' AND {c} >= ? "
                               f"AND {c} < CAST(? AS DATE) + INTERVAL 7 DAY AND {w}",
                               [DROP_WEEK, DROP_WEEK]).fetchone()[0]
                   for t, c, w in (("deals", "closed_at", "stage = 'won'"),
                                   ("activities", "happened_at", "kind = 'visit'")))
    con.close()
    tile = doc["process"]["tiles"]["conversion"]
    assert tile["value"] == won / visits  # east's conversion, not the whole warehouse's


def test_a_project_url_that_is_no_http_address_is_a_located_error(tmp_path):
    db = tmp_path / "mini.duckdb"
    build_mini_warehouse(db)
    spec = write_mini_project(tmp_path / "spec", db, "http://127.0.0.1:9/hook")
    _with_url(spec, "kpi.example.com")
    out = kpi("validate", "-s", spec)
    assert out.exit_code != 0
    assert "project.yml:4" in out.output and "project url must be an http(s) address" in out.output
