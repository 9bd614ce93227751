"""A cohort funnel with a 30-day window: cohorts younger than the window are marked maturing and do not fire.

Ten leads a day from 2026-01-01 to 2026-03-31; each lead is won 5 days after
it came in, as long as that day is still in the data (so the last cohort of March
has fewer wins than the older ones: they have not had time). The data covers
up to 2026-04-01 00:00; a weekly cohort is maturing while its end plus 30 days
lies after that. Expected marks and counts are worked out here in Python.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.cli import main

from .conftest import week_of

FIRST, LAST = date(2026, 1, 1), date(2026, 3, 31)
COVERS = datetime(2026, 4, 1)
WINDOW = timedelta(days=30)


def leads_and_wins():
    leads, wins, n = [], [], 0
    d = FIRST
    while d <= LAST:
        for i in range(10):
            n += 1
            at = datetime.combine(d, datetime.min.time()) + timedelta(hours=1 + 2 * i)
            leads.append((n, "east" if i % 2 else "west", at))
            if (at + timedelta(days=5)).date() <= LAST:
                wins.append((n, at + timedelta(days=5)))
        d += timedelta(days=1)
    return leads, wins


SPEC = """
project: {{name: cohorts, timezone: UTC, history: hist.db}}
sources:
  w: {{type: duckdb, path: "{db}"}}
models:
  leads: {{table: leads, time: created_at, entity: lead_id, dimensions: {{region: region}}}}
  wins: {{table: wins, time: won_at, entity: lead_id}}
funnels:
  sales:
    label: Lead to win
    window: 30d
    steps:
      - {{name: lead, model: leads}}
      - {{name: won, model: wins}}
rules:
  won_drop:
    kpi: sales_won
    type: change
    grain: week
    warning: {{below: -20%}}
{extra}
"""


@pytest.fixture
def cohorts(tmp_path):
    db = tmp_path / "w.duckdb"
    leads, wins = leads_and_wins()
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE leads (lead_id INTEGER, region VARCHAR, created_at TIMESTAMP)")
    con.executemany("INSERT INTO leads VALUES (?, ?, ?)", leads)
    con.execute("CREATE TABLE wins (lead_id INTEGER, won_at TIMESTAMP)")
    con.executemany("INSERT INTO wins VALUES (?, ?)", wins)
    con.close()

    def spec(extra=""):
        folder = tmp_path / "specs"
        folder.mkdir(exist_ok=True)
        (folder / "s.yml").write_text(SPEC.format(db=db, extra=extra), encoding="utf-8")
        return folder

    return spec, leads, wins


def expected_marks() -> dict[str, str]:
    """week start -> "partial" | "maturing" | "final", from the covered moment and the window."""
    out, week = {}, week_of(FIRST)
    while week <= LAST:
        end = datetime.combine(week + timedelta(days=7), datetime.min.time())
        out[week.isoformat()] = ("partial" if end > COVERS else "maturing" if end + WINDOW > COVERS else "final")
        week += timedelta(days=7)
    return out


def invoke(*args, ok=(0,)):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code in ok, res.output
    return res


def test_kpi_funnel_marks_maturing_cohorts(cohorts):
    spec, leads, wins = cohorts
    folder = spec()
    doc = json.loads(invoke("funnel", "sales", "-s", str(folder), "--format", "json").stdout)
    marks = expected_marks()
    assert "maturing" in marks.values() and "final" in marks.values() and "partial" in marks.values()
    won_of = {}
    won_ids = {i for i, _t in wins}
    for i, _region, at in leads:
        key = week_of(at.date()).isoformat()
        won_of[key] = won_of.get(key, 0) + (i in won_ids)
    seen = {}
    for row in doc["rows"]:
        p = row["period_start"]
        state = "maturing" if row.get("maturing") else "partial" if row.get("complete") is False else "final"
        seen.setdefault(p, set()).add(state)
        assert state == marks[p], (p, row)
    assert set(seen) == set(marks)
    totals = {}
    for row in doc["rows"]:
        totals[row["period_start"]] = totals.get(row["period_start"], 0) + row["steps"][1]["entities"]
    assert totals == won_of
    table = invoke("funnel", "sales", "-s", str(folder)).output
    young = [p for p, m in marks.items() if m == "maturing"]
    assert f"{young[0]} (maturing)" in table and "(maturing): a cohort younger than the window" in table


def test_funnel_kpis_say_maturing_and_rules_wait_unless_asked(cohorts):
    spec, _leads, _wins = cohorts
    folder = spec()
    marks = expected_marks()
    doc = json.loads(invoke("run", "-s", str(folder), "-k", "sales_won", "-k", "sales_won_rate", "--format",
                            "json", "--no-history").stdout)
    for row in doc["rows"]:
        want = marks[row["period_start"]]
        assert (row.get("maturing", False), row.get("complete", True)) == \
            {"maturing": (True, False), "partial": (False, False), "final": (False, True)}[want], row
    # the latest complete cohort is maturing: its wins are low, and the rule waits
    check = json.loads(invoke("check", "-s", str(folder), "--format", "json").stdout)
    (alert,) = [a for a in check["alerts"] if a["rule"] == "won_drop"]
    latest = max(p for p, m in marks.items() if m != "partial")
    assert marks[latest] == "maturing"
    assert alert["last_period"] == latest and alert["state"] == "inactive" and alert["outcome"] == "maturing"

    folder = spec("    on_maturing: alert\n")
    check = json.loads(invoke("check", "-s", str(folder), "--format", "json", ok=(1,)).stdout)
    (alert,) = [a for a in check["alerts"] if a["rule"] == "won_drop"]
    assert alert["state"] == "firing" and alert["last_period"] == latest
