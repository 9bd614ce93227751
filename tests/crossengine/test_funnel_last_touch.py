"""Funnel ``touch: last``: each conversion credited to the latest entry event before it, on five engines.

Entry events are web visits, conversions partner visits, of the same lead (the cross-engine data
has several visits per lead, NULL leads, NULL times, ties at midnight). The reference below
follows the documented rule in plain Python: the first conversion at or after the lead's first
entry; the latest entry at or before it (ties: NULL region first, then the smallest); converted
when the conversion is within 10 days of that entry; the lead counted in the period and region
of that entry (its first entry when it never converts).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from kpiengine.analysis.funnels import run_funnel
from kpiengine.engine import Engine
from kpiengine.loader import load_project

WINDOW = timedelta(days=10)


def _spec(touch: str) -> dict:
    return {"label": "touch", "entity": "lead", "window": "10d", "touch": touch, "breakdown": ["region"],
            "steps": [{"name": "web", "model": "visits", "entity": "lead_id", "filter": "channel = 'web'"},
                      {"name": "partner", "model": "visits", "entity": "lead_id", "filter": "channel = 'partner'"}]}


def _week(t):
    d = t.date()
    return d - timedelta(days=d.weekday())


def reference(dataset, touch: str) -> dict:
    leads: dict[int, dict[str, list]] = {}
    for v in dataset.visits:
        if v.ts is None or v.lead_id is None or v.channel not in ("web", "partner"):
            continue
        leads.setdefault(v.lead_id, {"web": [], "partner": []})[v.channel].append(v)
    out: dict[tuple, list[int]] = {}

    def tie(v):  # simultaneous entries: NULL region first, then the smallest
        return (v.region is not None, v.region or "")

    for events in leads.values():
        if not events["web"]:
            continue
        first = min(events["web"], key=lambda v: (v.ts, tie(v)))
        conv = min((c.ts for c in events["partner"] if c.ts >= first.ts), default=None)
        entry = first
        if touch == "last" and conv is not None:
            latest = max(v.ts for v in events["web"] if v.ts <= conv)
            entry = min((v for v in events["web"] if v.ts == latest), key=tie)
        converted = conv is not None and conv - entry.ts <= WINDOW
        counts = out.setdefault((_week(entry.ts), entry.region), [0, 0])
        counts[0] += 1
        counts[1] += converted
    return out


def _source(engine, request):
    if engine == "duckdb":
        return {"type": "duckdb", "path": request.getfixturevalue("duckdb_warehouse")["path"]}
    if engine == "sqlite":
        return {"type": "sqlite", "path": request.getfixturevalue("sqlite_warehouse")}
    if engine == "postgres":
        return {"type": "postgres", **request.getfixturevalue("postgres_warehouse")}
    if engine == "mariadb":
        return {"type": "mysql", **request.getfixturevalue("mysql_warehouse")}
    request.getfixturevalue("spark")
    parquet = request.getfixturevalue("duckdb_warehouse")["parquet"]
    return {"type": "spark", "tables": {n: {"path": p, "format": "parquet"} for n, p in parquet.items()}}


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                                    pytest.param("mariadb", marks=pytest.mark.mysql),
                                    pytest.param("spark", marks=pytest.mark.spark)])
def test_last_touch_matches_python(dataset, engine, request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"touch_{engine}")
    spec = {"project": {"name": "touch", "default_source": "wh"}, "sources": {"wh": _source(engine, request)},
            "models": {"visits": {"table": "ce_visits", "time": "ts", "entity": "lead_id",
                                  "dimensions": {"region": "region"}}},
            "kpis": {"n": {"label": "n", "model": "visits", "aggregate": "count"}},
            "funnels": {"first_touch": _spec("first"), "last_touch": _spec("last")}}
    (folder / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    engine_ = Engine(load_project(str(folder)))
    for touch in ("first", "last"):
        result = run_funnel(engine_, f"{touch}_touch", grain="week", by=["region"])
        got = {(r.period_start, r.dimensions["region"]): [s.entities for s in r.steps] for r in result.rows}
        got = {k: v for k, v in got.items() if v[0]}
        assert got == reference(dataset, touch), f"{engine} touch {touch}"
    # Not vacuous: crediting the latest entry moves conversions to other weeks.
    first, last = reference(dataset, "first"), reference(dataset, "last")
    assert first != last
    assert sum(v[1] for v in last.values()) > sum(v[1] for v in first.values())
