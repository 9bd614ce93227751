"""The Olist lead -> won deal funnel against numbers computed here with the csv module and datetime."""
from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest

from kpiengine.engine import Engine
from kpiengine.funnels import attach_funnels, run_funnel


def independent(olist_rows, days: int, view: str = "cohort", by_origin: bool = True):
    """{(month, origin): [leads, won, [seconds from contact to won]]} by plain Python."""
    leads, deals = olist_rows
    won_at = defaultdict(list)
    for mql, won_date, _ in deals:
        won_at[mql].append(datetime.strptime(won_date, "%d-%m-%Y %H:%M"))
    entry = {}
    for mql, contact, origin in leads:
        t = datetime.strptime(contact, "%d-%m-%Y")
        if mql not in entry or t < entry[mql][0]:
            entry[mql] = (t, origin)
    out = defaultdict(lambda: [0, 0, []])
    for mql, (t, origin) in entry.items():
        month = date(t.year, t.month, 1)
        out[(month, origin if by_origin else None)][0] += 1
        hits = [w for w in won_at.get(mql, []) if t <= w <= t + timedelta(days=days)]
        if hits:
            w = min(hits)
            when = month if view == "cohort" else date(w.year, w.month, 1)
            cell = out[(when, origin if by_origin else None)]
            cell[1] += 1
            cell[2].append((w - t).total_seconds())
    return out


def check(result, expected, by_origin: bool):
    got = {}
    for row in result.rows:
        key = (row.period_start, row.dimensions.get("origin") if by_origin else None)
        got[key] = row
    assert set(got) == set(expected)
    for key, (n_leads, n_won, gaps) in expected.items():
        lead, won = got[key].steps
        assert (lead.entities, won.entities) == (n_leads, n_won), key
        if n_leads:
            assert won.conversion_from_previous == pytest.approx(n_won / n_leads)
            assert won.drop_off == n_leads - n_won
        if gaps:
            assert won.median_seconds == pytest.approx(statistics.median(gaps)), key
        else:
            assert won.median_seconds is None


@pytest.mark.parametrize("days", [30, 60, 90])
def test_olist_by_month_and_origin_duckdb(olist_duckdb_project, olist_rows, days):
    result = run_funnel(Engine(olist_duckdb_project), f"won_{days}d", grain="month", by=["origin"])
    expected = independent(olist_rows, days)
    check(result, expected, by_origin=True)
    assert any(k[1] is None for k in expected)  # the 60 blank origins are a group of their own
    total_won = sum(v[1] for v in expected.values())
    assert total_won == sum(r.steps[1].entities for r in result.rows) > 0


def test_olist_by_month_sqlite(olist_sqlite_project, olist_rows):
    for days in (30, 90):
        result = run_funnel(Engine(olist_sqlite_project), f"won_{days}d", grain="month", by=["origin"])
        check(result, independent(olist_rows, days), by_origin=True)


def test_olist_event_view_counts_wins_when_they_happen(olist_duckdb_project, olist_rows):
    result = run_funnel(Engine(olist_duckdb_project), "won_90d", grain="month", by=[], view="event")
    expected = independent(olist_rows, 90, view="event", by_origin=False)
    got = {r.period_start: (r.steps[0].entities, r.steps[1].entities) for r in result.rows}
    assert got == {k[0]: (v[0], v[1]) for k, v in expected.items()}
    assert result.to_dict()["attribution"].startswith("event")


def test_olist_date_range_is_on_the_cohort(olist_duckdb_project, olist_rows):
    result = run_funnel(Engine(olist_duckdb_project), "won_60d", grain="month", by=[],
                        start=date(2018, 1, 1), end=date(2018, 4, 1))
    expected = independent(olist_rows, 60, by_origin=False)
    got = {r.period_start: (r.steps[0].entities, r.steps[1].entities) for r in result.rows}
    assert got == {k[0]: (v[0], v[1]) for k, v in expected.items() if date(2018, 1, 1) <= k[0] < date(2018, 4, 1)}


def test_olist_funnel_outputs_are_kpis(olist_duckdb_project, olist_rows):
    import copy

    project = copy.deepcopy(olist_duckdb_project)
    attach_funnels(project)
    assert project.kpis["won_30d_won_rate"].formula == "won_30d_won / won_30d_lead"
    rs = Engine(project).compute(["won_30d_lead", "won_30d_won", "won_30d_won_rate"], grain="month", by=["origin"])
    expected = independent(olist_rows, 30)
    for (month, origin), (n_leads, n_won, _) in expected.items():
        assert rs.value("won_30d_lead", month, origin=origin) == n_leads
        assert rs.value("won_30d_won", month, origin=origin) == n_won
        assert rs.value("won_30d_won_rate", month, origin=origin) == pytest.approx(n_won / n_leads)
