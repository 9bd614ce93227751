"""A window KPI over a model with `time_zone:` reads naive times in that zone, like the main query.

The three planners share one time preamble (kpiengine/sql/timeprep.py). Here the model's
times are naive New York wall-clock times and the project's days start in Berlin; the
rows sit near midnight, where a wrong zone moves a row to another day and another week.
Expected values are computed in Python with zoneinfo, on DuckDB and PostgreSQL (the
engines with IANA zones in this suite).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

from kpiengine.engine import Engine
from kpiengine.loader import load_project

NY, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
# naive New York times: 18:30 in New York is 00:30 the next day in Berlin
TIMES = [datetime(2026, 1, 4, 18, 30), datetime(2026, 1, 4, 17, 0), datetime(2026, 1, 11, 18, 45),
         datetime(2026, 1, 12, 9, 0), datetime(2026, 1, 18, 23, 0), datetime(2026, 1, 25, 18, 1),
         datetime(2026, 2, 1, 12, 0), datetime(2026, 2, 1, 19, 0)]
ROWS = [(i + 1, t, 10 * (i + 1)) for i, t in enumerate(TIMES)]
KPIS = {
    "orders": {"model": "orders", "aggregate": "count"},
    "orders_2p": {"model": "orders", "aggregate": "count", "window": "2 periods"},
    "amount_cum": {"model": "orders", "aggregate": "sum", "column": "amount", "window": "cumulative"},
    "last_amount": {"model": "orders", "aggregate": "last", "column": "amount"},
}


def _local(t: datetime) -> datetime:
    return t.replace(tzinfo=NY).astimezone(BERLIN).replace(tzinfo=None)


def _period(t: datetime, grain: str) -> date:
    d = _local(t).date()
    return d - timedelta(days=d.weekday()) if grain == "week" else d


def _next(p: date, grain: str) -> date:
    return p + (timedelta(weeks=1) if grain == "week" else timedelta(days=1))


def reference(grain: str) -> dict[tuple, float]:
    periods = sorted({_period(t, grain) for _i, t, _a in ROWS})
    out = {}
    for p in periods:
        hi = _next(p, grain)
        lo = p - (timedelta(weeks=1) if grain == "week" else timedelta(days=1))
        at = [r for r in ROWS if _period(r[1], grain) == p]
        out[("orders", p)] = len(at)
        out[("orders_2p", p)] = sum(1 for r in ROWS if lo <= _local(r[1]).date() < hi)
        out[("amount_cum", p)] = sum(a for _i, t, a in ROWS if _local(t).date() < hi)
        last = max(_local(t) for _i, t, _a in at)
        out[("last_amount", p)] = sum(a for _i, t, a in at if _local(t) == last)
    return out


def _spec(folder, source: dict, table: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"project": {"name": "zones", "default_source": "wh", "timezone": "Europe/Berlin"},
            "sources": {"wh": source},
            "models": {"orders": {"table": table, "time": "ts", "time_zone": "America/New_York"}},
            "kpis": {k: {"label": k, **v} for k, v in KPIS.items()}}
    (folder / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return str(folder)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path) -> Engine:
    if request.param == "duckdb":
        import duckdb

        path = str(tmp_path / "zones.duckdb")
        con = duckdb.connect(path)
        con.execute("CREATE TABLE tz_orders (order_id INTEGER, ts TIMESTAMP, amount INTEGER)")
        con.executemany("INSERT INTO tz_orders VALUES (?, ?, ?)", ROWS)
        con.close()
        source = {"type": "duckdb", "path": path}
    else:
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgres_dsn"), autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS tz_orders")
            con.execute("CREATE TABLE tz_orders (order_id int, ts timestamp, amount int)")
            with con.cursor() as cur:
                cur.executemany("INSERT INTO tz_orders VALUES (%s, %s, %s)", ROWS)
        source = {"type": "postgres", **request.getfixturevalue("postgres_source_options")}
    return Engine(load_project(_spec(tmp_path / "spec", source, "tz_orders")))


@pytest.mark.parametrize("grain", ["day", "week"])
def test_window_and_semi_additive_kpis_read_naive_times_in_the_model_zone(engine, grain):
    rs = engine.compute(kpis=list(KPIS), grain=grain)
    got = {(r.kpi, r.period_start): r.value for r in rs.rows}
    want = reference(grain)
    assert {k: float(got[k]) for k in want if k in got} == {k: float(v) for k, v in want.items()}
    assert set(got) == set(want)
    # not vacuous: read as UTC (or as Berlin), the 18:30 rows would fall a day (and a week) earlier
    assert _period(TIMES[0], "week") != (TIMES[0].date() - timedelta(days=TIMES[0].weekday()))
