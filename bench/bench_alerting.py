"""Alerting speed figures: rule evaluation, one kpi check over many dimension values, outbox delivery.

    .venv/bin/python bench/bench_alerting.py [--dims 2000] [--weeks 52] [--notifications 300]

Prints (no pass/fail): rule evaluations per second through evaluate + state machine,
the time of a `kpi check` transaction over --dims alerts (values injected, so the
warehouse is not measured here: see bench/bench_engine.py), and outbox deliveries
per second to a local HTTP server through the real webhook sink.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from kpiengine.alerting.check import run_check
from kpiengine.alerting.evaluate import ValueTable
from kpiengine.alerting.outbox import Outbox, enqueue
from kpiengine.alerting.routing import SinkSettings, build_sink
from kpiengine.alerting.rules import parse_rules
from kpiengine.alerting.simulate import simulate
from kpiengine.alerting.state import connect
from kpiengine.sinks import AlertItem, Notification
from kpiengine.spec import KpiSpec, Project
from kpiengine.testing import RecordingHTTPServer
from kpiengine.spec.yamlsrc import load_yaml_text

MONDAY = date(2025, 1, 6)

RULES = """
rules:
  static_low: {kpi: conversion, by: [rep], warning: {below: 8%}, critical: {below: 4%}, min_sample: 20}
  drop: {kpi: conversion, type: change, by: [rep], compare: average, periods: 4,
         warning: {below: -30%}, significance: 0.05}
  target: {kpi: conversion, type: target, by: [rep], warning: {below: 60%}}
  anomaly: {kpi: visits, type: anomaly, by: [rep], window: 8, sensitivity: medium}
"""


@dataclass
class Row:
    kpi: str
    period_start: date
    dimensions: dict
    value: float


def project(folder: Path, spec: str) -> Project:
    p = Project(name="bench", folder=str(folder))
    p.kpis = {"visits": KpiSpec("visits", "Visits", unit="count", model="m", aggregate="count"),
              "deals_won": KpiSpec("deals_won", "Deals", unit="count", model="m", aggregate="count"),
              "conversion": KpiSpec("conversion", "Conversion", unit="percent", formula="deals_won / visits",
                                    target=0.18)}
    data, issues = load_yaml_text(textwrap.dedent(spec), "bench.yml")
    assert not issues, issues
    p.sections["rules"], p.sections["sinks"], p.sections["routes"] = data.get("rules", {}), data.get("sinks", {}), data.get("routes")
    return p


def values(dims: int, weeks: int) -> list[Row]:
    rng = random.Random(1)
    rows = []
    for d in range(dims):
        rep = f"rep{d:05d}"
        for w in range(weeks):
            visits = rng.randint(40, 60)
            won = sum(rng.random() < 0.18 for _ in range(visits))
            p = MONDAY + timedelta(weeks=w)
            rows += [Row("visits", p, {"rep": rep}, visits), Row("conversion", p, {"rep": rep}, won / visits)]
    return rows


def bench_evaluation(dims: int, weeks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = project(Path(tmp), RULES)
        rules, issues = parse_rules(p.section("rules"), p)
        assert not issues
        table = ValueTable(values(dims, weeks))
        periods = [MONDAY + timedelta(weeks=w) for w in range(weeks)]
        t = time.perf_counter()
        steps = simulate(p, list(rules.values()), table, periods)
        dt = time.perf_counter() - t
        n = len(rules) * dims * weeks
        fired = sum(1 for s in steps for tr in s.transitions if tr[2] == "firing")
        print(f"evaluation: {len(rules)} rules x {dims} reps x {weeks} weeks = {n:,} evaluations "
              f"in {dt:.2f}s ({n / dt:,.0f}/s); {fired} firings")


def bench_check(dims: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = RULES + f"""
sinks:
  log: {{type: file, path: "{tmp}/alerts.jsonl", fsync: false}}
routes:
  sinks: [log]
  group_by: [rule]
"""
        p = project(Path(tmp), spec)
        rows = values(dims, 10)
        fetch = lambda grain, by, kpis, start, end: [r for r in rows if r.kpi in kpis]  # noqa: E731
        for label in ("first check", "second check (same week)"):
            t = time.perf_counter()
            res = run_check(p, period=MONDAY + timedelta(weeks=9), fetch=fetch, budget=60)
            dt = time.perf_counter() - t
            firing = len(res.firing())
            print(f"kpi check, {label}: {len(res.alerts):,} alerts ({firing} firing), "
                  f"{len(res.notifications)} notification(s), {dt:.2f}s")


def bench_outbox(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, RecordingHTTPServer() as server:
        con = connect(Path(tmp) / "h.db")
        now = time.time()
        con.execute("BEGIN IMMEDIATE")
        for i in range(count):
            item = AlertItem(rule="r", kpi="conversion", kpi_label="Conversion", severity="warning",
                             status="firing", dimensions={"rep": f"rep{i}"}, value=0.05, baseline=0.18)
            enqueue(con, Notification(f"k{i}", "t", "warning", "firing", "x", [item]), "hook", now)
        con.execute("COMMIT")
        sinks = {"hook": SinkSettings("hook", "webhook", {"url": server.url_for("/h")})}
        t = time.perf_counter()
        report = Outbox(con, sinks, build_sink).deliver(budget=120)
        dt = time.perf_counter() - t
        print(f"outbox: {len(report.delivered)} of {count} notifications delivered to a local webhook in "
              f"{dt:.2f}s ({len(report.delivered) / dt:,.0f}/s, each leased and marked in SQLite)")
        con.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, default=2000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--notifications", type=int, default=300)
    args = ap.parse_args(argv)
    bench_evaluation(args.dims, args.weeks)
    bench_check(args.dims)
    bench_outbox(args.notifications)
    return 0


if __name__ == "__main__":
    sys.exit(main())
