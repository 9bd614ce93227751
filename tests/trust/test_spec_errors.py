"""Mistakes in the new spec parts are located errors with a hint, never a traceback: checks and freshness rules."""
from __future__ import annotations

from click.testing import CliRunner

from kpiengine.cli import main

BASE = """project: {name: bad, history: hist.db}
sources:
  w: {type: duckdb, path: ":memory:"}
models:
  orders: {table: orders, time: ts, dimensions: {region: region}}
kpis:
  orders: {label: Orders, model: orders, aggregate: count}
"""


def validate(tmp_path, extra: str) -> str:
    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    (folder / "s.yml").write_text(BASE + extra, encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", "-s", str(folder)], catch_exceptions=False)
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output
    return res.output


def test_checks_mistakes_are_located(tmp_path):
    out = validate(tmp_path, """checks:
  ordrs:
    - {type: volume}
  orders:
    - {type: nulls}
    - {type: required, dimension: regoin, values: [east]}
    - {type: range, column: amount}
    - {type: nulls, column: "pg_sleep(1)"}
    - {type: unique, column: id, max_share: 300%}
""")
    assert "s.yml:9:" in out and "checks for unknown model 'ordrs'" in out and "orders" in out
    assert "s.yml:12:" in out and "check 'nulls' of model 'orders' needs `column:`" in out
    assert "s.yml:13:" in out and "has no dimension 'regoin'" in out and "region" in out
    assert "s.yml:14:" in out and "needs `min:`, `max:` or both" in out
    assert "s.yml:15:" in out and "pg_sleep" in out
    assert "s.yml:16:" in out and "`max_share` must be a share between 0 and 100%" in out


def test_freshness_rule_mistakes_are_located(tmp_path):
    out = validate(tmp_path, """rules:
  fresh_a: {type: freshness, model: ordrs, max_delay: 1d}
  fresh_b: {type: freshness, model: orders}
  fresh_c: {type: freshness, model: orders, max_delay: later}
  fresh_d: {type: freshness, kpi: orders, max_delay: 1d}
  kpi_rule: {kpi: orders, model: orders, warning: {below: 1}}
""")
    assert "s.yml:9:" in out and "unknown model 'ordrs'" in out and "did you mean 'orders'" in out
    assert "s.yml:10:" in out and "no max_delay: give it on the rule or on model 'orders'" in out
    assert "s.yml:11:" in out and "max_delay" in out and "'later' is not a duration" in out
    assert "s.yml:12:" in out and "model" in out
    assert "s.yml:13:" in out and "`model` applies to `type: freshness` rules" in out


def test_backtest_of_a_freshness_rule_says_why_not(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "s.yml").write_text(BASE + "rules:\n  fresh: {type: freshness, model: orders, max_delay: 1d}\n",
                                  encoding="utf-8")
    res = CliRunner().invoke(main, ["backtest", "fresh", "-s", str(folder), "--from", "2026-01-05", "--to",
                                    "2026-02-02"], catch_exceptions=False)
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "watches how fresh model 'orders' is now: there is no past to replay" in res.output
