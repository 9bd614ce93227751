"""`kpi explain conversion --change` on the demo warehouse names the planted region and the rate effect."""
from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.analysis.explain_change import explain, explain_change, top_drivers_text


def weekly_by_region(path, week):
    """visits and won deals per region in the week starting ``week``, straight from the tables."""
    con = duckdb.connect(path, read_only=True)
    try:
        end = week + timedelta(days=7)
        visits = dict(con.execute("SELECT region, count(*) FROM activities WHERE kind = 'visit' "
                                  "AND happened_at >= ? AND happened_at < ? GROUP BY region", [week, end]).fetchall())
        won = dict(con.execute("SELECT region, count(*) FROM deals WHERE stage = 'won' "
                               "AND closed_at >= ? AND closed_at < ? GROUP BY region", [week, end]).fetchall())
    finally:
        con.close()
    return won, visits


def test_planted_drop_is_named_with_independent_numbers(demo_engine):
    engine, info = demo_engine
    week, before = info.planted_week, info.planted_week - timedelta(days=7)
    ex = explain(engine, "conversion", before, week, ["region", "channel"], grain="week", search="dimensions")
    best = ex.best_view()
    top = best.split.segments[0]
    assert best.split.dimensions == ["region"] and top.key == (info.planted_region,)
    # independent rate effect for east: average visit share x change of its own rate
    n0, d0 = weekly_by_region(info.path, before)
    n1, d1 = weekly_by_region(info.path, week)
    east = info.planted_region
    w0, w1 = d0[east] / sum(d0.values()), d1[east] / sum(d1.values())
    r0, r1 = n0.get(east, 0) / d0[east], n1.get(east, 0) / d1[east]
    assert top.rate_effect == pytest.approx((w0 + w1) / 2 * (r1 - r0))
    assert ex.before == pytest.approx(sum(n0.values()) / sum(d0.values()))
    assert ex.after == pytest.approx(sum(n1.values()) / sum(d1.values()))
    assert abs(top.rate_effect) > 5 * abs(top.mix_effect)
    assert sum(s.contribution for s in best.split.segments) == pytest.approx(ex.change)
    text = top_drivers_text(engine, "conversion", week, grain="week", by=["region"])
    assert text.startswith("conversion -") and "week on week" in text
    assert f"region {east} explains" in text and "rate effect" in text and "visits steady" in text


def test_performance_goes_through_the_formula_tree(demo_engine):
    engine, info = demo_engine
    ex = explain(engine, "performance", info.planted_week - timedelta(days=7), info.planted_week, ["region"],
                 grain="week")
    kids = {d.name: d for d in ex.driver.children}
    assert set(kids) == {"mindset", "visits", "conversion"}
    assert sum(d.contribution for d in kids.values()) == pytest.approx(ex.change)
    assert max(kids.values(), key=lambda d: abs(d.contribution)).name == "conversion"
    through = [v for v in ex.views if v.through == "conversion"][0]
    assert through.split.segments[0].key == (info.planted_region,)
    assert sum(s.contribution for s in through.split.segments) == pytest.approx(kids["conversion"].contribution)


def test_table_and_json_outputs(demo_engine):
    engine, info = demo_engine
    frm, to = (info.planted_week - timedelta(days=7)).isoformat(), info.planted_week.isoformat()
    table = explain_change(engine, "conversion", frm, to, ["region"], "table")
    assert "By region: rate effect" in table and info.planted_region in table
    data = json.loads(explain_change(engine, "conversion", frm, to, ["region*channel"], "json"))
    assert data["kpi"] == "conversion" and data["dimensions"][0]["dimensions"] == ["region", "channel"]
    assert data["dimensions"][0]["segments"][0]["dimensions"]["region"] == info.planted_region
    assert data["summary"].startswith("conversion")


def test_cli_explain_and_funnel(demo_engine, monkeypatch):
    from kpiengine.cli import main

    engine, info = demo_engine
    monkeypatch.setenv("KPI_DEMO_DB", info.path)
    specs = engine.project.folder
    runner = CliRunner()
    frm, to = (info.planted_week - timedelta(days=7)).isoformat(), info.planted_week.isoformat()
    out = runner.invoke(main, ["explain", "conversion", "--spec", specs, "--change", frm, to, "--by", "region"])
    assert out.exit_code == 0, out.output
    assert f"region {info.planted_region} explains" in out.output
    out = runner.invoke(main, ["funnel", "sales_funnel", "--spec", specs, "--grain", "week", "--from", frm,
                               "--to", to, "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [s["product"] for s in data["steps"]] == ["free", "traffic", "hit", "profit"]
    for row in data["rows"]:
        counts = [s["entities"] for s in row["steps"]]
        assert counts == sorted(counts, reverse=True) and counts[0] > 0
    out = runner.invoke(main, ["funnel", "nope", "--spec", specs])
    assert out.exit_code != 0 and "unknown funnel 'nope'" in out.output and "Traceback" not in out.output


def test_average_kpi_is_split_as_sum_over_count(demo_engine):
    engine, info = demo_engine
    week, before = info.planted_week, info.planted_week - timedelta(days=7)
    ex = explain(engine, "mindset", before, week, ["region"], grain="week")
    con = duckdb.connect(info.path, read_only=True)
    try:
        scores = {w: con.execute("SELECT region, sum(score), count(score) FROM rep_mindset WHERE week_start = ? "
                                 "GROUP BY region", [w]).fetchall() for w in (before, week)}
    finally:
        con.close()
    avg = {w: float(sum(r[1] for r in rows)) / sum(r[2] for r in rows) for w, rows in scores.items()}
    assert (ex.before, ex.after) == (pytest.approx(avg[before]), pytest.approx(avg[week]))
    split = ex.views[0].split
    assert split.kind == "ratio"
    assert sum(s.contribution for s in split.segments) == pytest.approx(ex.change)
    perf = explain(engine, "performance", before, week, ["region"], grain="week")
    assert {v.through for v in perf.views} == {"mindset", "visits", "conversion"}


def test_periods_without_data_give_an_undefined_change(demo_engine):
    engine, info = demo_engine
    ex = explain(engine, "conversion", "2020-01-06", "2020-01-13", ["region"], grain="week")
    assert ex.change is None and ex.views == []
    assert "change not defined" in top_drivers_text(ex)
    table = explain_change(engine, "conversion", "2020-W02", "2020-W03", ["region"], "table")
    assert "note:" in table and "not defined" in table


def test_demo_funnel_kpis_match_the_funnel(demo_engine):
    import copy

    from kpiengine.engine import Engine
    from kpiengine.analysis.funnels import attach_funnels, run_funnel
    from kpiengine.loader import validate_project

    engine, info = demo_engine
    project = copy.deepcopy(engine.project)
    attach_funnels(project)
    assert validate_project(project) == []
    start, end = info.planted_week - timedelta(days=21), info.planted_week + timedelta(days=7)
    rs = Engine(project).compute(["sales_funnel_visit", "sales_funnel_proposal_rate", "sales_funnel_won_from_top"],
                                 grain="week", by=["region"], start=start, end=end)
    funnel = run_funnel(engine, "sales_funnel", grain="week", by=["region"], start=start, end=end)
    assert len(funnel.rows) == 4 * 5
    for row in funnel.rows:
        region = row.dimensions["region"]
        visit, proposal, won = row.steps[1], row.steps[2], row.steps[3]
        assert rs.value("sales_funnel_visit", row.period_start, region=region) == visit.entities
        assert rs.value("sales_funnel_proposal_rate", row.period_start, region=region) == \
            pytest.approx(proposal.conversion_from_previous)
        assert rs.value("sales_funnel_won_from_top", row.period_start, region=region) == \
            pytest.approx(won.conversion_from_top)


def test_bad_dimension_is_a_clear_error(demo_engine):
    from kpiengine.errors import SpecError

    engine, info = demo_engine
    with pytest.raises(SpecError, match="unknown dimension 'regoin'") as err:
        explain(engine, "conversion", "2026-10-19", "2026-10-26", ["regoin"])
    assert "did you mean 'region'" in str(err.value)
    ex = explain(engine, "conversion", "2026-10-19", "2026-10-26", ["team"])  # a dimension of another model
    assert ex.views == [] and any("cannot split by team" in n for n in ex.notes)


def test_cli_combination_search_names_the_planted_region(demo_engine, monkeypatch):
    """`kpi explain conversion --change --by region,channel,rep`: region=east alone, its rate effect from SQL."""
    from kpiengine.cli import main

    engine, info = demo_engine
    monkeypatch.setenv("KPI_DEMO_DB", info.path)
    week, before = info.planted_week, info.planted_week - timedelta(days=7)
    out = CliRunner().invoke(main, ["explain", "conversion", "--spec", engine.project.folder, "--change",
                                    before.isoformat(), week.isoformat(), "--by", "region,channel,rep",
                                    "--format", "json"])
    assert out.exit_code == 0, out.output
    rc = json.loads(out.output)["root_cause"][0]
    assert [e["dimensions"] for e in rc["elements"]] == [{"region": info.planted_region}]
    n0, d0 = weekly_by_region(info.path, before)
    n1, d1 = weekly_by_region(info.path, week)
    east = info.planted_region
    w0, w1 = d0[east] / sum(d0.values()), d1[east] / sum(d1.values())
    r0, r1 = n0.get(east, 0) / d0[east], n1.get(east, 0) / d1[east]
    e = rc["elements"][0]
    assert e["rate_effect"] == pytest.approx((w0 + w1) / 2 * (r1 - r0)) and e["moved"] == ["rate"]
    assert e["share"] > 0.9
    for quiet in (week - timedelta(days=14), week - timedelta(days=7)):  # ordinary weeks: nothing stands out
        ex = explain(engine, "conversion", quiet - timedelta(days=7), quiet, ["region,channel,rep"])
        assert ex.best_root_cause().localization.elements == []
