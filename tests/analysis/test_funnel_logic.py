"""Funnel counting rules on random events, against a brute-force reference written here in Python."""
from __future__ import annotations

import csv
import random
import sqlite3
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.errors import SpecError
from kpiengine.analysis.funnels import run_funnel
from kpiengine.loader import load_project

START = datetime(2026, 1, 1)
REGIONS = ["east", "west", None]


def make_events(seed: int = 7, entities: int = 400):
    rnd = random.Random(seed)
    rows = []
    for uid in range(entities):
        region = rnd.choice(REGIONS)
        for _ in range(rnd.randint(1, 2)):  # an entity may enter twice: the first entry counts
            rows.append((uid, START + timedelta(seconds=rnd.randint(0, 80 * 86400)), "a", region))
        for kind in ("b", "c", "d"):
            for _ in range(rnd.randint(0, 3)):
                rows.append((uid, START + timedelta(seconds=rnd.randint(0, 120 * 86400)), kind, region))
    rnd.shuffle(rows)
    return rows


def reference(rows, ordered=True, window=None, within=None, view="cohort", grain="month"):
    """{(period, region): {step: [count, [gaps]]}} by brute force."""
    within = within or {}
    ev = defaultdict(lambda: defaultdict(list))
    region_at = {}
    for uid, t, kind, region in rows:
        ev[uid][kind].append(t)
        if kind == "a":
            region_at[(uid, t)] = region
    out = defaultdict(lambda: defaultdict(lambda: [0, []]))

    def period(t):
        d = t.date()
        return d.replace(day=1) if grain == "month" else d - timedelta(days=d.weekday())

    for uid, kinds in ev.items():
        if not kinds["a"]:
            continue
        t1 = min(kinds["a"])
        region = region_at[(uid, t1)]
        times = {1: t1}
        prev = t1
        for k, kind in enumerate("bcd", start=2):
            lo = prev if ordered else t1
            hi = [t1 + window] if window else []
            if ordered and k in within:
                hi.append(prev + within[k])
            cand = [t for t in kinds[kind] if t >= lo and all(t <= h for h in hi)]
            if not cand:
                break
            times[k] = min(cand)
            prev = times[k]
        for k, t in times.items():
            p = period(t1 if view == "cohort" else t)
            cell = out[(p, region)][k]
            cell[0] += 1
            if k > 1:
                cell[1].append((t - times[k - 1 if ordered else 1]).total_seconds())
    return out


SPEC = """
project: {{name: synth}}
sources:
  wh: {{type: {type}, path: "{path}"}}
models:
  events:
    table: events
    time: ts
    entity: uid
    dimensions: {{region: region}}
funnels:
  f:
    ordered: {ordered}
    {window}
    steps:
      - {{name: a, model: events, filter: "kind = 'a'"}}
      - {{name: b, model: events, filter: "kind = 'b'"{within2}}}
      - {{name: c, model: events, filter: "kind = 'c'"}}
      - {{name: d, model: events, filter: "kind = 'd'"{within4}}}
"""


def project_for(tmp_path, rows, engine="duckdb", ordered=True, window_days=None, within=None):
    db = tmp_path / f"events.{engine}"
    if engine == "duckdb":
        # executemany is slow in DuckDB: go through a CSV file with declared column types.
        csv_path = tmp_path / "events.csv"
        with open(csv_path, "w", newline="") as fh:
            csv.writer(fh).writerows((u, t.isoformat(sep=" "), k, "" if r is None else r) for u, t, k, r in rows)
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE events AS SELECT * FROM read_csv(?, header = false, columns = "
                    "{'uid': 'INTEGER', 'ts': 'TIMESTAMP', 'kind': 'VARCHAR', 'region': 'VARCHAR'})",
                    [str(csv_path)])
        con.close()
    else:
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE events (uid INTEGER, ts TEXT, kind TEXT, region TEXT)")
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                        [(u, t.strftime("%Y-%m-%d %H:%M:%S"), k, r) for u, t, k, r in rows])
        con.commit()
        con.close()
    within = within or {}
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "s.yml").write_text(SPEC.format(
        type=engine, path=db, ordered=str(ordered).lower(),
        window=f"window: {window_days}d" if window_days else "",
        within2=f", within: {within[2]}d" if 2 in within else "",
        within4=f", within: {within[4]}d" if 4 in within else ""))
    return load_project(tmp_path / "spec")


def compare(result, expected):
    got = {(r.period_start, r.dimensions["region"]): r for r in result.rows}
    assert set(got) == set(expected)
    for key, steps in expected.items():
        for k in range(1, 5):
            n, gaps = steps[k] if k in steps else (0, [])
            fig = got[key].steps[k - 1]
            assert fig.entities == n, (key, k)
            if gaps:
                assert fig.median_seconds == pytest.approx(statistics.median(gaps)), (key, k)


CASES = [
    dict(ordered=True, window_days=None, within=None),
    dict(ordered=True, window_days=30, within=None),
    dict(ordered=True, window_days=60, within={2: 7, 4: 10}),
    dict(ordered=False, window_days=45, within=None),
]


@pytest.mark.parametrize("case", CASES, ids=["ordered", "window", "per-step", "unordered"])
def test_counts_and_medians_match_brute_force(tmp_path, case):
    rows = make_events()
    project = project_for(tmp_path, rows, **case)
    window = timedelta(days=case["window_days"]) if case["window_days"] else None
    within = {k: timedelta(days=v) for k, v in (case["within"] or {}).items()}
    result = run_funnel(Engine(project), "f", grain="month", by=["region"])
    compare(result, reference(rows, case["ordered"], window, within))


def test_event_view_and_weeks_match_brute_force(tmp_path):
    rows = make_events(seed=11)
    project = project_for(tmp_path, rows, window_days=30)
    result = run_funnel(Engine(project), "f", grain="week", by=["region"], view="event")
    compare(result, reference(rows, True, timedelta(days=30), view="event", grain="week"))
    assert all(r.period_start.weekday() == 0 for r in result.rows)


def test_sqlite_matches_brute_force(tmp_path):
    rows = [(u, t.replace(microsecond=0), k, r) for u, t, k, r in make_events(seed=3, entities=200)]
    project = project_for(tmp_path, rows, engine="sqlite", window_days=60, within={2: 7})
    result = run_funnel(Engine(project), "f", grain="month", by=["region"])
    compare(result, reference(rows, True, timedelta(days=60), {2: timedelta(days=7)}))


BAD = """project: {name: bad}
sources:
  wh: {type: duckdb, path: x.duckdb}
models:
  events: {table: events, time: ts, entity: uid, dimensions: {region: region}}
  noentity: {table: t2, time: ts}
funnels:
  f:
    breakdown: [channel]
    steps:
      - {name: a, model: events, within: 3d}
      - {name: b, model: evnts}
      - {name: c, model: noentity, product: gold}
      - {name: d, model: events, filter: "kind = 'd'; DROP TABLE x"}
  g:
    steps:
      - {name: only, model: events}
"""


def test_bad_funnels_are_located_errors(tmp_path):
    (tmp_path / "bad.yml").write_text(BAD)
    with pytest.raises(SpecError) as info:
        load_project(tmp_path)
    found = info.value.issues  # funnel checks and the JSON Schema (unknown keys, enums)
    text = "\n".join(str(i) for i in found)
    def line_of(fragment):
        return next(i.location.line for i in found if fragment in i.message)
    assert line_of("breakdown 'channel'") == 9 and "available: region" in text
    assert line_of("first step cannot have `within:`") == 11
    assert line_of("unknown model 'evnts'") == 12 and "did you mean 'events'" in text
    assert line_of("product 'gold'") == 13 and "free, traffic, hit, profit, brand" in text
    assert line_of("has no `entity:`") == 13
    assert line_of("step 'd'") == 14
    assert "funnel 'g': needs `steps:` with two or more steps" in text
    assert all(i.location and i.location.file.endswith("bad.yml") for i in found)


def test_unknown_funnel_and_bad_breakdown_are_clear(tmp_path):
    rows = make_events(entities=20)
    engine = Engine(project_for(tmp_path, rows))
    with pytest.raises(SpecError, match="unknown funnel 'ff'") as info:
        run_funnel(engine, "ff")
    assert "did you mean 'f'" in str(info.value)
    with pytest.raises(SpecError, match="cannot break down by 'kind'"):
        run_funnel(engine, "f", by=["kind"])


def test_durations_and_checks_without_the_schema():
    from kpiengine.analysis.funnels import parse_duration, parse_funnels
    from kpiengine.spec import ModelSpec, Project

    assert parse_duration("30d") == parse_duration("30 days") == parse_duration(30) == 30 * 86400
    assert parse_duration("12h") == 12 * 3600 and parse_duration("2w") == 14 * 86400
    assert parse_duration("90m") == 90 * 60 and parse_duration("45 seconds") == 45
    for bad in ("soon", "-3d", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    project = Project(name="p", folder=".", default_source="wh")
    project.models["events"] = ModelSpec("events", "wh", table="events", time="ts", entity="uid")
    project.sections["funnels"] = {"f": {"colour": 1, "window": "soon", "view": "weekly",
                             "steps": [{"name": "a", "model": "events"},
                                       {"name": "b", "model": "events", "product": "gold"}]}}
    funnels, issues = parse_funnels(project)
    text = "\n".join(str(i) for i in issues)
    assert not funnels
    assert "unknown key 'colour'" in text and "window: 'soon' is not a duration" in text
    assert "view 'weekly'" in text and "product 'gold'" in text
