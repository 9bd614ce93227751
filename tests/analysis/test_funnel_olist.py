"""The Olist lead -> won deal funnel against numbers computed independently (conftest.olist_expected: csv + datetime)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpiengine.engine import Engine
from kpiengine.analysis.funnels import attach_funnels, run_funnel


@pytest.mark.parametrize("days", [30, 60, 90])
def test_olist_by_month_and_origin_duckdb(olist_duckdb_project, olist_expected, days, olist_check):
    result = run_funnel(Engine(olist_duckdb_project), f"won_{days}d", grain="month", by=["origin"])
    expected = olist_expected(days)
    olist_check(result, expected, by_origin=True)
    assert any(k[1] is None for k in expected)  # the 60 blank origins are a group of their own
    total_won = sum(v[1] for v in expected.values())
    assert total_won == sum(r.steps[1].entities for r in result.rows) > 0


def test_olist_by_month_sqlite(olist_sqlite_project, olist_expected, olist_check):
    for days in (30, 90):
        result = run_funnel(Engine(olist_sqlite_project), f"won_{days}d", grain="month", by=["origin"])
        olist_check(result, olist_expected(days), by_origin=True)


def test_olist_event_view_counts_wins_when_they_happen(olist_duckdb_project, olist_expected):
    result = run_funnel(Engine(olist_duckdb_project), "won_90d", grain="month", by=[], view="event")
    expected = olist_expected(90, view="event", by_origin=False)
    got = {r.period_start: (r.steps[0].entities, r.steps[1].entities) for r in result.rows}
    assert got == {k[0]: (v[0], v[1]) for k, v in expected.items()}
    assert result.to_dict()["attribution"].startswith("event")


def test_olist_date_range_is_on_the_cohort(olist_duckdb_project, olist_expected):
    result = run_funnel(Engine(olist_duckdb_project), "won_60d", grain="month", by=[],
                        start=date(2018, 1, 1), end=date(2018, 4, 1))
    expected = olist_expected(60, by_origin=False)
    got = {r.period_start: (r.steps[0].entities, r.steps[1].entities) for r in result.rows}
    assert got == {k[0]: (v[0], v[1]) for k, v in expected.items() if date(2018, 1, 1) <= k[0] < date(2018, 4, 1)}


def test_olist_funnel_outputs_are_kpis(olist_duckdb_project, olist_expected):
    import copy

    project = copy.deepcopy(olist_duckdb_project)
    attach_funnels(project)
    assert project.kpis["won_30d_won_rate"].formula == "won_30d_won / won_30d_lead"
    rs = Engine(project).compute(["won_30d_lead", "won_30d_won", "won_30d_won_rate"], grain="month", by=["origin"])
    expected = olist_expected(30)
    for (month, origin), (n_leads, n_won, _) in expected.items():
        assert rs.value("won_30d_lead", month, origin=origin) == n_leads
        assert rs.value("won_30d_won", month, origin=origin) == n_won
        assert rs.value("won_30d_won_rate", month, origin=origin) == pytest.approx(n_won / n_leads)


def test_olist_with_a_primary_lead_entity(olist_duckdb_project, olist_expected, olist_check, tmp_path):
    """Declared one row per lead, the entries are read without ROW_NUMBER: the same independent numbers."""
    from kpiengine.loader import load_project
    from kpiengine.sql.funnel_sql import compile_funnel

    folder = olist_duckdb_project.folder
    text = (Path(folder) / "olist.yml").read_text(encoding="utf-8")
    text = text.replace("    entity: mql_id\n    dimensions:\n      origin: origin",
                        "    entity: mql_id\n    entities:\n      lead: {type: primary, key: mql_id}\n"
                        "    dimensions:\n      origin: origin", 1)
    assert "type: primary" in text
    (tmp_path / "olist.yml").write_text(text, encoding="utf-8")
    project = load_project(str(tmp_path))
    engine = Engine(project)
    from kpiengine.analysis.funnels import parse_funnels

    funnel = parse_funnels(project)[0]["won_90d"]
    sql = compile_funnel(project, funnel, "month", ["origin"], None, None, "cohort", "duckdb").sql()
    assert "ROW_NUMBER" not in sql.upper()
    for days in (30, 90):
        olist_check(run_funnel(engine, f"won_{days}d", grain="month", by=["origin"]), olist_expected(days),
                    by_origin=True)
