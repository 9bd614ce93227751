"""Gap filling from a period spine (fill: zero|null, --fill) and --grain all, through the CLI's JSON.

The data has a week with no rows at all (2026-01-12) and a region with no row in another week,
so the expected rows are written out by hand from the six rows below.
"""
from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.cli import main

ROWS = [  # (ts, region, amount)
    ("2026-01-05 10:00", "east", 10.0), ("2026-01-06 23:59:59", None, 5.0),
    ("2026-01-19 00:00", "east", 7.0), ("2026-01-20 12:00", "east", 1.0),
    ("2026-01-26 08:00", None, 2.0), ("2026-01-27 09:00", "west", 4.0),
]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fill")
    con = duckdb.connect(str(folder / "w.duckdb"))
    con.execute("CREATE TABLE sales (ts TIMESTAMP, region TEXT, amount DOUBLE)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?)", ROWS)
    con.close()
    (folder / "spec.yml").write_text(f"""
project: {{name: fill, default_source: w, history: h.db}}
sources: {{w: {{type: duckdb, path: "{folder / 'w.duckdb'}"}}}}
models:
  sales: {{table: sales, time: ts, dimensions: {{region: region}}}}
kpis:
  orders: {{label: o, model: sales, aggregate: count, fill: zero}}
  revenue: {{label: r, model: sales, aggregate: sum, column: amount}}
  biggest: {{label: b, model: sales, aggregate: max, column: amount, fill: zero}}
  per_order: {{label: p, formula: revenue / orders}}
  growth: {{label: g, formula: "revenue - revenue[-1]"}}
  rolling: {{label: r4, model: sales, aggregate: sum, column: amount, window: "4 periods"}}
""")
    return str(folder)


def run(spec, *args):
    res = CliRunner().invoke(main, ["run", "-s", spec, "--format", "json", "--no-history", *args],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    return out, {(r["kpi"], r["period_start"], tuple(r["dimensions"].values())): r["value"] for r in out["rows"]}


def test_fill_zero_per_kpi_adds_the_empty_week(spec):
    _, got = run(spec, "--grain", "week", "-k", "orders", "-k", "revenue", "-k", "biggest")
    assert got[("orders", "2026-01-12", ())] == 0  # fill: zero on a count
    assert got[("biggest", "2026-01-12", ())] is None  # fill: zero on a max: null (no rows have no max)
    assert ("revenue", "2026-01-12", ()) not in got  # no fill: the week is absent
    assert got[("orders", "2026-01-19", ())] == 2


def test_request_fill_overrides_and_fills_every_dimension_value(spec):
    _, got = run(spec, "--grain", "week", "--by", "region", "--fill", "zero", "-k", "revenue", "-k", "per_order",
                 "--from", "2026-01-05", "--to", "2026-02-02")
    weeks = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    revenue = {(w, d): got[("revenue", w, (d,))] for w in weeks for d in ("east", "west", None)}
    assert revenue == {("2026-01-05", "east"): 10, ("2026-01-05", "west"): 0, ("2026-01-05", None): 5,
                       ("2026-01-12", "east"): 0, ("2026-01-12", "west"): 0, ("2026-01-12", None): 0,
                       ("2026-01-19", "east"): 8, ("2026-01-19", "west"): 0, ("2026-01-19", None): 0,
                       ("2026-01-26", "east"): 0, ("2026-01-26", "west"): 4, ("2026-01-26", None): 2}
    assert got[("per_order", "2026-01-12", ("east",))] is None  # 0 / 0
    assert got[("per_order", "2026-01-19", ("east",))] == 4.0
    _, nulls = run(spec, "--grain", "week", "--fill", "null", "-k", "orders")
    assert nulls[("orders", "2026-01-12", ())] is None and nulls[("orders", "2026-01-05", ())] == 2


def test_grain_all_one_row_per_dimension_value(spec):
    out, got = run(spec, "--grain", "all", "--by", "region", "-k", "revenue", "-k", "orders", "-k", "per_order")
    assert out["grain"] == "all"
    assert {k: v for k, v in got.items() if k[0] == "revenue"} == {
        ("revenue", "1970-01-01", ("east",)): 18, ("revenue", "1970-01-01", ("west",)): 4,
        ("revenue", "1970-01-01", (None,)): 7}
    assert got[("per_order", "1970-01-01", ("east",))] == 6.0
    out, got = run(spec, "--grain", "all", "-k", "orders", "--from", "2026-01-06", "--to", "2026-01-27")
    assert got == {("orders", "2026-01-06", ()): 4}


def test_offsets_and_windows_need_a_period_grain(spec):
    for kpi in ("growth", "rolling"):
        res = CliRunner().invoke(main, ["run", "-s", spec, "--grain", "all", "--no-history", "-k", kpi])
        assert res.exit_code == 2, res.output
        assert "needs a period grain, not 'all'" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("body, message, line", [
    ('{label: x, model: sales, aggregate: sum, column: amount, window: "4 parsecs"}', "cannot read window", 3),
    ('{label: x, formula: "revenue[yesterday]"}', "is not a time offset", 3),
    ("{label: x, formula: \"revenue['-3 fortnights']\"}", "cannot read the interval", 3),
    ('{label: x, formula: revenue, window: 28d}', "applies to aggregate KPIs", 3),
])
def test_bad_offsets_and_windows_are_located_errors(spec, tmp_path, body, message, line):
    import shutil

    folder = tmp_path / "bad"
    shutil.copytree(spec, folder)
    (folder / "bad.yml").write_text(f"kpis:\n  # a bad one\n  bad: {body}\n")
    res = CliRunner().invoke(main, ["validate", "-s", str(folder)])
    assert res.exit_code == 2, res.output
    assert message in res.output and f"bad.yml:{line}:" in res.output, res.output


def test_explain_change_of_an_offset_formula_is_a_clear_error(spec):
    res = CliRunner().invoke(main, ["explain", "growth", "-s", spec, "--change", "2026-01-19", "2026-01-26"])
    assert "cannot decompose a formula that reads revenue[-1] at another period" in res.output, res.output
    assert "kpi explain revenue --change" in res.output and "internal error" not in res.output


def test_review_and_explain_take_offset_formulas(spec):
    res = CliRunner().invoke(main, ["review", "-s", spec, "--from", "2026-01-05", "--to", "2026-02-02"])
    assert res.exit_code == 0, res.output
    assert "growth" in res.output
    res = CliRunner().invoke(main, ["explain", "growth", "-s", spec])
    assert res.exit_code == 0 and "revenue - revenue[-1]" in res.output, res.output


def test_fill_never_makes_up_a_zero_for_a_window(spec):
    _, got = run(spec, "--grain", "week", "--fill", "zero", "-k", "rolling", "-k", "orders")
    assert got[("orders", "2026-01-12", ())] == 0
    assert got[("rolling", "2026-01-12", ())] is None  # 15 in its 4 weeks, but the week has no row to show it
    assert got[("rolling", "2026-01-19", ())] == 23.0  # 10 + 5 + 7 + 1 over 2025-12-29 .. 2026-01-25


def test_last_touch_needs_two_ordered_steps(spec, tmp_path):
    import shutil

    folder = tmp_path / "touch"
    shutil.copytree(spec, folder)
    (folder / "funnels.yml").write_text(
        "funnels:\n  f:\n    touch: last\n    steps:\n"
        "      - {name: a, model: sales, entity: region}\n      - {name: b, model: sales, entity: region}\n"
        "      - {name: c, model: sales, entity: region}\n")
    res = CliRunner().invoke(main, ["validate", "-s", str(folder)])
    assert res.exit_code == 2 and "touch: last needs an ordered funnel of exactly two steps" in res.output, res.output
    assert "funnels.yml:3:" in res.output
