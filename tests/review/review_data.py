"""Review test data: a small sales warehouse whose every number the tests recompute in plain Python.

Two regions visit leads every day from 2026-06-01 to 2026-11-29; a visit is
won with a fixed chance (east drops from 20 % to 8 % from the week of
2026-10-19 on), won deals carry an amount, and each region has a weekly
mindset score. The rows are generated here with a seeded ``random.Random`` and
written to a real DuckDB file; tests compute the expected figures from the
same rows, never from the engine.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
START, END = date(2026, 6, 1), date(2026, 11, 30)
DROP_WEEK = date(2026, 10, 19)
REGIONS = ("east", "west")

SPEC = """
project: {name: review-fixture, timezone: UTC, default_source: wh, history: hist.db}
sources:
  wh: {type: duckdb, path: "__DB__"}
models:
  activities: {table: activities, time: happened_at, dimensions: {region: region}}
  deals: {table: deals, time: closed_at, dimensions: {region: region}}
  mindset: {table: mindset, time: week_start, dimensions: {region: region}}
kpis:
  # visits and deals are counted where they happen
  visits:
    label: Visits
    unit: count
    model: activities
    aggregate: count
    targets: {2026-Q3: 1200, 2026-Q4: {total: 1300, region: {east: 650, west: 650}}}
  deals_won:
    label: Deals won
    unit: count
    model: deals
    aggregate: count
    filter: "stage = 'won'"
  conversion:
    label: Conversion
    unit: percent
    formula: deals_won / visits
    dimensions: [region]
    targets:
      2026-Q3: 20%
      2026-Q4: {total: 0.19, region: {east: 0.2, west: 0.18}}
  mindset:
    label: Mindset
    model: mindset
    aggregate: avg
    column: score
  performance:
    label: Performance
    formula: mindset * visits * conversion
    tags: [outcome]
  revenue:
    label: Revenue
    unit: currency
    model: deals
    aggregate: sum
    column: amount
    filter: "stage = 'won'"
    tags: [outcome]
    target: 5000
"""


def generate(seed: int = 7):
    rng = random.Random(seed)
    visits, deals, mindset = [], [], []
    day = START
    while day < END:
        week = day - timedelta(days=day.weekday())
        for region in REGIONS:
            for _ in range(rng.randint(8, 14)):
                at = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.randint(8, 17))
                visits.append((at, region, "visit"))
                p = 0.08 if region == "east" and week >= DROP_WEEK else 0.2
                if rng.random() < p:
                    deals.append((at + timedelta(hours=1), region, "won", float(rng.randint(100, 1000))))
                elif rng.random() < 0.3:
                    deals.append((at + timedelta(hours=1), region, "lost", 0.0))
            if day.weekday() == 0:
                mindset.append((day, region, round(5 + rng.random() * 2, 2)))
        day += timedelta(days=1)
    return visits, deals, mindset


def monday(d) -> date:
    d = d.date() if isinstance(d, datetime) else d
    return d - timedelta(days=d.weekday())


def expected_weekly(warehouse) -> dict[date, dict[str, float]]:
    """Totals per week computed from the generated rows: visits, deals_won, revenue, mindset (mean)."""
    out: dict[date, dict[str, float]] = {}
    for at, _region, _kind in warehouse["visits"]:
        row = out.setdefault(monday(at), {"visits": 0, "deals_won": 0, "revenue": 0.0, "scores": []})
        row["visits"] += 1
    for at, _region, stage, amount in warehouse["deals"]:
        if stage == "won":
            row = out[monday(at)]
            row["deals_won"] += 1
            row["revenue"] += amount
    for day, _region, score in warehouse["mindset"]:
        out[monday(day)]["scores"].append(score)
    for row in out.values():
        row["mindset"] = sum(row["scores"]) / len(row["scores"])
        row["conversion"] = row["deals_won"] / row["visits"]
        row["performance"] = row["mindset"] * row["visits"] * row["conversion"]
    return out


def in_range(rows, lo: date, hi: date, region: str | None = None):
    return [r for r in rows if lo <= (r[0].date() if isinstance(r[0], datetime) else r[0]) < hi
            and (region is None or r[1] == region)]

