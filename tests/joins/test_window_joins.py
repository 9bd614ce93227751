"""Window and semi-additive KPIs broken down by a joined dimension and under a query filter.

Their planners (sql/rolling.py, sql/semiadditive.py) join the dimension tables and apply
``--where`` to the rows before windowing or picking the period's last time, as the main
compiler does. Checked against plain Python over the star fixture (tests/joins/conftest.py:
a NULL rep, a rep and a lead that match nothing, a rep whose team is NULL) on DuckDB, SQLite,
PostgreSQL, MariaDB and Spark. Each KPI is asked alone, so what is compared is exactly that
KPI's rows (a request with several KPIs of one model also fills each at the others' keys).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from kpiengine.engine import Engine
from kpiengine.loader import load_project

from .conftest import DEALS, KPIS, LEADS, REPS, VISITS, write_star_spec
from .test_star_values import ENGINES, Warehouse, _warehouses

WINDOW_KPIS = {
    "deals_28d": {"model": "deals", "aggregate": "count", "window": "28d"},
    "won_2p": {"model": "deals", "aggregate": "sum", "column": "amount", "filter": "stage = 'won'",
               "window": "2 periods"},
    "amount_cum": {"model": "deals", "aggregate": "sum", "column": "amount", "window": "cumulative"},
    "leads_2p": {"model": "deals", "aggregate": "count_distinct", "column": "lead_id", "window": "2 periods"},
    "visits_2p": {"model": "visits", "aggregate": "count", "window": "2 periods"},
    "last_amount": {"model": "deals", "aggregate": "last", "column": "amount"},
    "first_won": {"model": "deals", "aggregate": "first", "column": "amount", "filter": "stage = 'won'"},
}

TEAM = {r[0]: r[2] for r in REPS}
REGION = {r[0]: r[3] for r in REPS}
ORIGIN = {ld[0]: ld[1] for ld in LEADS}


def _deal(row) -> dict:
    _id, rep, lead, stage, amount, region, ts = row
    return {"rep.team": TEAM.get(rep), "rep.region": REGION.get(rep), "lead.origin": ORIGIN.get(lead),
            "region": region, "stage": stage, "amount": amount, "lead_id": lead, "ts": ts}


def _visit(row) -> dict:
    _id, rep, ts = row
    return {"rep.team": TEAM.get(rep), "rep.region": REGION.get(rep), "ts": ts}


ROWS = {"deals": [_deal(r) for r in DEALS], "visits": [_visit(r) for r in VISITS]}

# (kpi, by, where SQL, the same filter in Python, start, end)
REQUESTS = [
    ("deals_28d", ["rep.team"], None, None, None, None),
    ("won_2p", ["lead.origin"], "rep.region = 'east'", lambda r: r["rep.region"] == "east", None, None),
    ("leads_2p", ["region"], "rep.team = 'b'", lambda r: r["rep.team"] == "b", None, None),
    ("amount_cum", [], "rep.team = 'a' AND region = 'east'",
     lambda r: r["rep.team"] == "a" and r["region"] == "east", date(2026, 2, 2), date(2026, 2, 16)),
    ("deals_28d", ["stage", "rep.team"], "lead.origin IS NULL", lambda r: r["lead.origin"] is None,
     date(2026, 1, 26), None),
    ("visits_2p", ["rep.team"], "rep.region = 'west'", lambda r: r["rep.region"] == "west", None, None),
    ("last_amount", ["rep.team"], None, None, None, None),
    ("last_amount", ["lead.origin"], "rep.team IS NULL", lambda r: r["rep.team"] is None, None, None),
    ("first_won", [], "rep.region = 'east'", lambda r: r["rep.region"] == "east", date(2026, 1, 26),
     date(2026, 2, 9)),
]
IDS = [f"{k}-{'+'.join(by) or 'total'}-{'where' if w else 'all'}{'-range' if s else ''}"
       for k, by, w, _f, s, _e in REQUESTS]


def _monday(ts: datetime) -> date:
    return (ts - timedelta(days=ts.weekday())).date()


def _midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time())


def _agg(spec: dict, rows: list[dict]):
    if spec.get("filter"):
        rows = [r for r in rows if r["stage"] == "won"]
    agg, col = spec["aggregate"], spec.get("column")
    if agg == "count":
        return len(rows)
    values = [r[col] for r in rows if r[col] is not None]
    if agg == "count_distinct":
        return len(set(values))
    return sum(values)  # sum


def _window_start(window: str, p: date) -> date | None:
    if window == "2 periods":
        return p - timedelta(weeks=1)
    if window == "28d":
        return p + timedelta(days=7) - timedelta(days=28)
    return None  # cumulative


def reference(kpi, by, keep, start, end) -> dict[tuple, object]:
    spec = WINDOW_KPIS[kpi]
    rows = [r for r in ROWS[spec["model"]] if keep is None or keep(r)]
    t0 = _midnight(start) if start else None
    t1 = _midnight(end) if end else None
    in_range = [r for r in rows if (t0 is None or r["ts"] >= t0) and (t1 is None or r["ts"] < t1)]
    out = {}
    if "window" not in spec:  # semi-additive: the sum of the column at the group's last (first) time
        groups: dict[tuple, list] = {}
        for r in in_range:
            groups.setdefault((_monday(r["ts"]),) + tuple(r[d] for d in by), []).append(r)
        for key, group in groups.items():
            kept = [r for r in group if not spec.get("filter") or r["stage"] == "won"]
            if not kept:
                out[key] = None
                continue
            moment = (max if spec["aggregate"] == "last" else min)(r["ts"] for r in kept)
            out[key] = sum(r["amount"] for r in kept if r["ts"] == moment)
        return out
    for p in {_monday(r["ts"]) for r in in_range}:  # the periods shown: those with rows in the range
        lo = _window_start(spec["window"], p)
        hi = _midnight(p + timedelta(weeks=1))
        inside = [r for r in rows if r["ts"] < hi and (lo is None or r["ts"] >= _midnight(lo))
                  and (t1 is None or r["ts"] < t1)]
        for dims in {tuple(r[d] for d in by) for r in inside}:
            out[(p,) + dims] = _agg(spec, [r for r in inside if tuple(r[d] for d in by) == dims])
    return out


_engines: dict[str, Engine] = {}


def engine_for(engine: str, request, tmp_path_factory) -> Engine:
    if engine not in _engines:
        if engine not in _warehouses:
            _warehouses[engine] = Warehouse(engine, request, tmp_path_factory)
        folder = tmp_path_factory.mktemp(f"star_windows_{engine}")
        _engines[engine] = Engine(load_project(write_star_spec(folder, _warehouses[engine].source,
                                                               kpis={**KPIS, **WINDOW_KPIS})))
    return _engines[engine]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", range(len(REQUESTS)), ids=IDS)
def test_window_and_semi_additive_kpis_join_and_filter_like_python(engine, index, request, tmp_path_factory):
    kpi, by, where, keep, start, end = REQUESTS[index]
    rs = engine_for(engine, request, tmp_path_factory).compute(kpis=[kpi], grain="week", by=by, start=start,
                                                              end=end, where=where)
    got = {}
    for r in rs.rows:
        key = (r.period_start,) + tuple(r.dimensions[d] for d in by)
        assert key not in got, f"duplicate row {r}"
        got[key] = r.value
    want = reference(kpi, by, keep, start, end)
    assert set(got) == set(want), f"{engine} {IDS[index]}: missing {set(want) - set(got)}, extra {set(got) - set(want)}"
    wrong = {k: (got[k], w) for k, w in want.items()
             if not (w is None and got[k] is None or w is not None and got[k] is not None and float(got[k]) == w)}
    assert not wrong, f"{engine} {IDS[index]}: (got, want) {wrong}"


def test_the_cases_are_not_vacuous():
    """Each filter drops rows, each joined breakdown meets a NULL group, windows differ from periods."""
    for kpi, by, where, keep, start, end in REQUESTS:
        filtered, whole = reference(kpi, by, keep, start, end), reference(kpi, by, None, start, end)
        assert filtered, kpi
        if keep is not None:
            assert filtered != whole, (kpi, where)
        if any("." in d for d in by):
            assert any(None in k[1:] for k in filtered), (kpi, by)
    weekly = reference("deals_28d", [], None, None, None)
    assert any(v > sum(1 for r in ROWS["deals"] if _monday(r["ts"]) == p) for (p,), v in weekly.items())
