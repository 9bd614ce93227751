"""The demo spec reaches the reps and customers tables through entities: values equal hand-written joins."""
from __future__ import annotations

import shutil
from datetime import date

import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project

START, END = date(2026, 10, 1), date(2026, 11, 1)  # October: one month period


@pytest.fixture(scope="module")
def engine(specs_dir, demo_info, monkeypatch_module, tmp_path_factory):
    # A copy: the engine's DuckDB source locks its database's configuration for the process, and
    # other demo tests open the session's file with their own settings.
    copy = tmp_path_factory.mktemp("demo_entities") / "demo.duckdb"
    shutil.copyfile(demo_info.path, copy)
    monkeypatch_module.setenv("KPI_DEMO_DB", str(copy))
    return Engine(load_project(str(specs_dir)))


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_visits_and_conversion_by_the_reps_team(engine, demo_con):
    rs = engine.compute(kpis=["visits", "deals_won", "conversion"], grain="month", by=["rep.team"],
                        start=START, end=END)
    got = {(r.kpi, r.dimensions["rep.team"]): r.value for r in rs.rows}
    visits = dict(demo_con.execute("""
        SELECT r.team, COUNT(*) FROM activities a LEFT JOIN reps r ON a.rep_id = r.rep_id
        WHERE a.kind = 'visit' AND a.happened_at >= '2026-10-01' AND a.happened_at < '2026-11-01'
        GROUP BY r.team""").fetchall())
    assert len(visits) == 10  # 5 regions x teams a and b
    for team, n in visits.items():
        assert got[("visits", team)] == n
        assert got[("conversion", team)] == pytest.approx(got[("deals_won", team)] / n)


def test_revenue_by_customer_acquisition_through_orders(engine, demo_con):
    rs = engine.compute(kpis=["returning_customers"], grain="month", by=["customer.acquisition"],
                        start=START, end=END)
    got = {r.dimensions["customer.acquisition"]: r.value for r in rs.rows}
    want = dict(demo_con.execute("""
        SELECT CASE WHEN c.referred_by IS NULL THEN 'direct' ELSE 'referred' END, COUNT(DISTINCT o.customer_id)
        FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id
        WHERE o.is_repeat AND o.ordered_at >= '2026-10-01' AND o.ordered_at < '2026-11-01' GROUP BY 1""").fetchall())
    assert got == want and set(want) == {"direct", "referred"}
