"""The command line over a star schema: --by through entities, --where, --order-by/--limit, explain, compile.

Values are checked against plain Python over the fixture rows, not against
another run of the engine.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, timedelta

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.cli import main

from .conftest import DEALS, REPS, write_star_spec

TEAM = {r[0]: r[2] for r in REPS}
NAME = {r[0]: r[1].upper() for r in REPS}


@pytest.fixture(scope="module")
def spec(star_duckdb, tmp_path_factory) -> str:
    return write_star_spec(tmp_path_factory.mktemp("star_cli"), {"type": "duckdb", "path": star_duckdb["path"]})


def kpi(*args) -> CliRunner:
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return res


def _week(ts) -> date:
    return (ts - timedelta(days=ts.weekday())).date()


def rows_of(res) -> list[dict]:
    assert res.exit_code == 0, res.output
    return json.loads(res.output)["rows"]


def test_run_by_a_joined_dimension_in_json(spec):
    rows = rows_of(kpi("run", "-s", spec, "--kpi", "deals", "--by", "rep.team", "--format", "json", "--no-history"))
    got = {(r["period_start"], r["dimensions"]["rep.team"]): r["value"] for r in rows}
    expected = Counter((_week(d[6]).isoformat(), TEAM.get(d[1])) for d in DEALS)
    assert got == dict(expected)
    assert any(team is None for _, team in got)  # the NULL group is in the output, as null


def test_where_filters_every_model_of_a_formula(spec):
    rows = rows_of(kpi("run", "-s", spec, "--kpi", "win_per_visit", "--grain", "month", "--from", "2026-01-01",
                       "--to", "2026-02-01", "--where", "rep.team = 'b'", "--format", "json", "--no-history"))
    from .conftest import VISITS

    won = sum(1 for d in DEALS if d[3] == "won" and TEAM.get(d[1]) == "b" and d[6].month == 1)
    visits = sum(1 for v in VISITS if TEAM.get(v[1]) == "b" and v[2].month == 1)
    assert [r["value"] for r in rows] == [pytest.approx(won / visits)]


def test_order_by_and_limit_keep_the_top_values_of_each_period(spec):
    rows = rows_of(kpi("run", "-s", spec, "--kpi", "won_amount", "--kpi", "deals", "--by", "rep.name",
                       "--order-by", "won_amount", "--limit", "2", "--format", "json", "--no-history"))
    amounts: dict[date, dict] = defaultdict(Counter)
    for d in DEALS:
        amounts[_week(d[6])][NAME.get(d[1])] += d[4] if d[3] == "won" else 0
    for week, by_rep in amounts.items():
        top = sorted(by_rep.items(), key=lambda kv: -kv[1])[:2]
        shown = [(r["dimensions"]["rep.name"], r["value"]) for r in rows
                 if r["period_start"] == week.isoformat() and r["kpi"] == "won_amount"]
        assert shown == top, week
        # The other KPI of the kept groups is there too, and no other group.
        assert {r["dimensions"]["rep.name"] for r in rows if r["period_start"] == week.isoformat()} == \
            {name for name, _ in top}


def test_order_by_ranks_in_the_table(spec):
    res = kpi("run", "-s", spec, "--kpi", "deals", "--by", "rep.team", "--grain", "month", "--from", "2026-01-01",
              "--to", "2026-02-01", "--order-by", "deals:asc", "--layout", "long", "--no-history")
    assert res.exit_code == 0, res.output
    counts = Counter(TEAM.get(d[1]) for d in DEALS if d[6].month == 1)
    lines = [ln.split() for ln in res.output.splitlines()[2:]]
    assert [int(ln[-1]) for ln in lines] == sorted(counts.values())


@pytest.mark.parametrize("args, words", [
    (["--limit", "3"], "--limit needs --order-by"),
    (["--by", "rep.team", "--order-by", "revenue"], "not one of the KPIs"),
    (["--order-by", "deals"], "add --by"),
    (["--by", "rep.team", "--order-by", "deals:up"], "unknown direction"),
])
def test_order_by_mistakes(spec, args, words):
    res = kpi("run", "-s", spec, "--kpi", "deals", "--no-history", *args)
    assert res.exit_code == 2 and words in res.output, res.output


def test_filtered_run_is_not_recorded(spec, tmp_path):
    before = kpi("history", "-s", spec).output
    res = kpi("run", "-s", spec, "--kpi", "deals", "--where", "rep.team = 'a'")
    assert res.exit_code == 0, res.output
    assert kpi("history", "-s", spec).output == before


def test_explain_and_compile_show_the_join_path(spec):
    res = kpi("explain", "-s", spec, "won_amount", "--by", "lead.rep.team")
    assert res.exit_code == 0, res.output
    assert "-- join path lead.rep.team: deals -[lead]-> leads -[rep]-> reps.team" in res.output
    assert "breakdowns available: lead.origin, region, rep.name, rep.region, rep.team, stage" in res.output
    res = kpi("compile", "-s", spec, "--kpi", "deals", "--by", "rep.team", "-d", "postgres")
    assert "-- join rep.team: deals -[rep]-> reps.team" in res.output
    assert "LEFT JOIN sj_reps AS j1" in res.output


def test_list_dimensions_shows_the_reached_ones(spec):
    res = kpi("list", "dimensions", "-s", spec, "--format", "json")
    assert res.exit_code == 0, res.output
    names = {d["name"] for d in json.loads(res.output)}
    assert {"rep.team", "rep.region", "lead.origin", "stage"} <= names


def test_list_values_counts_rows_per_value(spec, star_duckdb):
    res = kpi("list", "values", "rep.team", "-s", spec, "--format", "json")
    assert res.exit_code == 0, res.output
    got = {(r["value"], r["rows"]) for r in json.loads(res.output)["values"]}
    con = duckdb.connect(star_duckdb["path"], read_only=True)
    expected = set(con.execute("SELECT r.team, COUNT(*) FROM sj_deals d LEFT JOIN sj_reps r "
                               "ON d.rep_id = r.rep_id GROUP BY r.team").fetchall())
    assert got == expected


def test_having_keeps_only_groups_whose_kpi_passes(spec):
    rows = rows_of(kpi("run", "-s", spec, "--kpi", "deals", "--kpi", "won_amount", "--by", "rep.name",
                       "--having", "deals > 4 AND won_amount >= 500", "--format", "json", "--no-history"))
    counts: dict[tuple, list] = defaultdict(lambda: [0, 0])
    for d in DEALS:
        cell = counts[(_week(d[6]).isoformat(), NAME.get(d[1]))]
        cell[0] += 1
        cell[1] += d[4] if d[3] == "won" else 0
    expected = {k for k, (n, won) in counts.items() if n > 4 and won >= 500}
    assert expected and len(expected) < len(counts)  # the filter really removes some groups
    assert {(r["period_start"], r["dimensions"]["rep.name"]) for r in rows} == expected
    assert len(rows) == 2 * len(expected)  # both KPIs of each kept group


@pytest.mark.parametrize("having, words", [
    ("deals >> 4", "is not KPI OP NUMBER"),
    ("visits > 4", "not one of the KPIs"),
    ("deals > 4 OR deals < 2", "is not KPI OP NUMBER"),
])
def test_having_mistakes(spec, having, words):
    res = kpi("run", "-s", spec, "--kpi", "deals", "--by", "rep.team", "--no-history", "--having", having)
    assert res.exit_code == 2 and words in res.output, res.output


def test_root_cause_searches_a_joined_dimension(spec):
    res = kpi("explain", "-s", spec, "deals", "--change", "2026-01-19", "2026-01-26", "--by", "rep.team")
    assert res.exit_code == 0, res.output
    assert "rep.team" in res.output and "unknown dimension" not in res.output


def test_alert_rule_by_a_joined_dimension(star_duckdb, tmp_path):
    folder = write_star_spec(tmp_path / "rules", {"type": "duckdb", "path": star_duckdb["path"]})
    (tmp_path / "rules" / "rules.yml").write_text(
        "rules:\n  few_deals:\n    kpi: deals\n    by: [rep.team]\n    warning: {below: 9}\n", encoding="utf-8")
    res = kpi("check", "-s", folder, "--format", "json")
    assert res.exit_code in (0, 1), res.output
    last_week = max(_week(d[6]) for d in DEALS)
    counts = Counter(TEAM.get(d[1]) for d in DEALS if _week(d[6]) == last_week)
    firing = {tuple(a["dimensions"].items()) for a in json.loads(res.stdout)["alerts"] if a["state"] == "firing"}
    assert firing == {(("rep.team", t),) for t, n in counts.items() if n < 9}
    assert 0 < len(firing) < len(counts)  # some teams fire, some do not


def test_list_values_table_shows_null_as_in_every_table(spec):
    res = kpi("list", "values", "rep.team", "-s", spec)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "rep.team: rows of model deals"
    assert any(line.split()[0] == "∅" for line in res.output.splitlines()[3:])


def test_a_window_kpi_with_a_joined_dimension_and_where_plans_the_join_and_the_filter():
    """Window KPIs join and filter their rows like the main query (values: tests/joins/test_window_joins.py).

    The demo spec alone is enough: `kpi compile` plans without a warehouse.
    """
    from pathlib import Path

    specs = Path(__file__).resolve().parents[2] / "kpi_specs"
    res = kpi("compile", "-s", specs, "--kpi", "active_customers_28d", "--by", "customer.acquisition",
              "--where", "region = 'east'")
    assert res.exit_code == 0, res.output
    assert "join customer.acquisition: orders -[customer]-> customers.acquisition" in res.output
    assert "LEFT JOIN customers AS j1" in res.output and "= 'east'" in res.output
