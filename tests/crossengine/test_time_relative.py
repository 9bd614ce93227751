"""Time-relative, rolling, cumulative, all-time and gap-filled KPIs: same numbers on every engine as plain Python.

The rows are the cross-engine data set (conftest.py): 75 days over a year boundary, midnight
edges, NULL regions and times. The reference below computes each construct from those rows
in plain Python, with its own period arithmetic, following the documented semantics:

* an offset input ``x[o]`` at period P is x's value at the shifted period; a shifted period
  outside the requested ones is a whole period;
* a window aggregate at period P aggregates the rows with a time in [window start, end of P),
  not after the request's end; it is shown for the periods the model has rows in, in the range;
* ``--grain all`` is one value per dimension values over the range.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import yaml

from kpiengine.engine import Engine
from kpiengine.loader import load_project

MODELS = {
    "visits": {"table": "ce_visits", "time": "ts", "dimensions": {"region": "region"}},
    "deals": {"table": "ce_deals", "time": "ts", "dimensions": {"region": "region"}},
}
KPIS = {
    "visits": {"model": "visits", "aggregate": "count"},
    "visitors": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id"},
    "avg_duration": {"model": "visits", "aggregate": "avg", "column": "duration"},
    "won_amount": {"model": "deals", "aggregate": "sum", "column": "amount", "filter": "stage = 'won'"},
    "visits_change": {"formula": "visits - visits[-1]"},
    "won_vs_last_month": {"formula": "won_amount / won_amount['-1 month'] - 1"},
    "visits_yoy": {"formula": "visits / visits[same_period_last_year] - 1"},
    "won_per_visit_prev": {"formula": "won_amount[-1] / visits[-1]"},
    "visits_vs_month_start": {"formula": "visits - visits[start_of_month]"},
    "visits_4p": {"model": "visits", "aggregate": "count", "window": "4 periods"},
    "visitors_28d": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id", "window": "28d"},
    "visitors_cum": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id", "window": "cumulative"},
    "avg_duration_4p": {"model": "visits", "aggregate": "avg", "column": "duration", "window": "4 periods"},
    "won_mtd": {"model": "deals", "aggregate": "sum", "column": "amount", "filter": "stage = 'won'",
                "window": "mtd"},
    "visits_4p_change": {"formula": "visits_4p - visits_4p[-1]"},
}
OFFSET_KPIS = ["visits_change", "won_vs_last_month", "visits_yoy", "won_per_visit_prev", "visits_vs_month_start"]
WINDOW_KPIS = ["visits_4p", "visitors_28d", "visitors_cum", "avg_duration_4p", "won_mtd", "visits_4p_change"]
ALL_KPIS = ["visits", "visitors", "avg_duration", "won_amount"]

REQUESTS = [  # (grain, by, start, end)
    ("week", [], None, None),
    ("week", ["region"], date(2026, 1, 7), date(2026, 2, 23)),  # a partial first week
    ("day", ["region"], date(2026, 2, 1), date(2026, 2, 15)),
    ("month", [], date(2026, 2, 1), None),
]
IDS = ["week-total", "week-region-partial", "day-region", "month-from"]
ALL_REQUESTS = [(["region"], None, None), ([], date(2026, 1, 7), date(2026, 2, 23))]


# -- plain Python ------------------------------------------------------------------------------------
def _trunc(d: date, grain: str) -> date:
    if grain == "day":
        return d
    if grain == "week":
        return d - timedelta(days=d.weekday())
    if grain == "month":
        return date(d.year, d.month, 1)
    if grain == "year":
        return date(d.year, 1, 1)
    raise AssertionError(grain)


def _months(d: date, n: int) -> date:
    m = d.year * 12 + d.month - 1 + n
    y, mo = divmod(m, 12)
    last = (date(y + (mo + 1) // 12, (mo + 1) % 12 + 1, 1) - timedelta(days=1)).day
    return date(y, mo + 1, min(d.day, last))


def _step(d: date, grain: str, n: int) -> date:
    if grain == "day":
        return d + timedelta(days=n)
    if grain == "week":
        return d + timedelta(weeks=n)
    return _months(d, n * (12 if grain == "year" else 1))


def _shift(offset: str, p: date, grain: str) -> date:
    if offset == "-1":
        return _step(p, grain, -1)
    if offset == "-1 month":
        return _trunc(_months(p, -1), grain)
    if offset == "-1 year":
        return _trunc(_months(p, -12), grain)
    if offset == "start_of_month":
        return _trunc(date(p.year, p.month, 1), grain)
    raise AssertionError(offset)


def _rows(dataset, model):
    items = dataset.visits if model == "visits" else dataset.deals
    return [r for r in items if r.ts is not None]


def _agg(spec, rows):
    if spec.get("filter"):
        rows = [r for r in rows if r.stage == "won"]
    col = spec.get("column")
    values = [getattr(r, col) for r in rows if getattr(r, col) is not None] if col else rows
    agg = spec["aggregate"]
    if agg == "count":
        return len(values)
    if agg == "count_distinct":
        return len(set(values))
    if agg == "sum":
        return float(sum(values, Decimal(0))) if values and isinstance(values[0], Decimal) else float(sum(values))
    return None if not values else float(sum(Decimal(str(v)) for v in values) / len(values))


def _window_start(window: str, p: date, grain: str) -> date | None:
    if window == "4 periods":
        return _step(p, grain, -3)
    if window == "28d":
        return _step(p, grain, 1) - timedelta(days=28)
    if window == "mtd":
        return date(p.year, p.month, 1)
    return None  # cumulative


def reference(dataset, grain, by, start, end, names):
    t0 = datetime.combine(start, datetime.min.time()) if start else None
    t1 = datetime.combine(end, datetime.min.time()) if end else None
    first = _trunc(start, grain) if start else None

    def shown(p):  # a requested period
        return (first is None or p >= first) and (end is None or p < end)

    def in_range(t):
        return (t0 is None or t >= t0) and (t1 is None or t < t1)

    def key_of(r):
        return (_trunc(r.ts.date(), grain),) + tuple(getattr(r, d) for d in by)

    def keys_in_range(model):
        return {key_of(r) for r in _rows(dataset, model) if in_range(r.ts)}

    def value(name, key):
        spec = KPIS[name]
        if "formula" in spec:
            return FORMULA[name](lambda n, o=None: value(n, key if o is None else (_shift(o, key[0], grain),) + key[1:]))
        rows = [r for r in _rows(dataset, spec["model"]) if key_of(r) == key]
        if "window" in spec:
            p = key[0]
            spine = {key_of(r)[0] for r in _rows(dataset, spec["model"])
                     if (in_range(r.ts) if shown(p) else True)}
            if p not in spine:
                return 0 if spec["aggregate"] in ("count", "count_distinct", "sum") else None
            lo = _window_start(spec["window"], p, grain)
            hi = datetime.combine(_step(p, grain, 1), datetime.min.time())
            rows = [r for r in _rows(dataset, spec["model"])
                    if tuple(getattr(r, d) for d in by) == key[1:] and r.ts < hi
                    and (lo is None or r.ts >= datetime.combine(lo, datetime.min.time()))
                    and (t1 is None or r.ts < t1)]
            if not rows and spec["aggregate"] in ("count", "count_distinct", "sum"):
                return 0
            return _agg(spec, rows)
        if shown(key[0]):
            rows = [r for r in rows if in_range(r.ts)]
        return _agg(spec, rows)

    def keys_of(name):
        spec = KPIS[name]
        if "window" not in spec:
            return keys_in_range(spec["model"])
        keys = set()
        for p in {key_of(r)[0] for r in _rows(dataset, spec["model"]) if in_range(r.ts)}:  # the spine
            lo = _window_start(spec["window"], p, grain)
            hi = datetime.combine(_step(p, grain, 1), datetime.min.time())
            keys |= {(p,) + tuple(getattr(r, d) for d in by) for r in _rows(dataset, spec["model"])
                     if r.ts < hi and (lo is None or r.ts >= datetime.combine(lo, datetime.min.time()))
                     and (t1 is None or r.ts < t1)}
        return keys

    out = {}
    for name in names:
        keys = set().union(*(keys_of(leaf) for leaf in LEAVES[name])) if name in LEAVES else keys_of(name)
        for key in keys:
            if shown(key[0]):
                out[(name, key[0], key[1:])] = value(name, key)
    return out


def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _sub(a, b):
    return None if a is None or b is None else a - b


FORMULA = {
    "visits_change": lambda v: _sub(v("visits"), v("visits", "-1")),
    "won_vs_last_month": lambda v: _sub(_div(v("won_amount"), v("won_amount", "-1 month")), 1),
    "visits_yoy": lambda v: _sub(_div(v("visits"), v("visits", "-1 year")), 1),
    "won_per_visit_prev": lambda v: _div(v("won_amount", "-1"), v("visits", "-1")),
    "visits_vs_month_start": lambda v: _sub(v("visits"), v("visits", "start_of_month")),
    "visits_4p_change": lambda v: _sub(v("visits_4p"), v("visits_4p", "-1")),
}
LEAVES = {"visits_change": {"visits"}, "won_vs_last_month": {"won_amount"}, "visits_yoy": {"visits"},
          "won_per_visit_prev": {"visits", "won_amount"}, "visits_vs_month_start": {"visits"},
          "visits_4p_change": {"visits_4p"}}  # the aggregate inputs whose rows a formula has


def reference_all(dataset, by, start, end):
    t0 = datetime.combine(start, datetime.min.time()) if start else None
    t1 = datetime.combine(end, datetime.min.time()) if end else None
    out = {}
    for name in ALL_KPIS:
        spec = KPIS[name]
        rows = [r for r in _rows(dataset, spec["model"]) if (t0 is None or r.ts >= t0) and (t1 is None or r.ts < t1)]
        groups: dict[tuple, list] = {}
        for r in rows:
            groups.setdefault(tuple(getattr(r, d) for d in by), []).append(r)
        for dims, members in groups.items():
            out[(name, dims)] = _agg(spec, members)
    return out


# -- engines -------------------------------------------------------------------------------------------
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


_engines: dict[str, Engine] = {}
_references: dict[int, dict] = {}


def engine_for(engine, request, tmp_path_factory) -> Engine:
    if engine not in _engines:
        folder = tmp_path_factory.mktemp(f"timerel_{engine}")
        spec = {"project": {"name": "timerel", "default_source": "wh"}, "sources": {"wh": _source(engine, request)},
                "models": MODELS, "kpis": {n: {"label": n, **b} for n, b in KPIS.items()}}
        (folder / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        _engines[engine] = Engine(load_project(str(folder)))
    return _engines[engine]


def _got(rs, by):
    out = {}
    for r in rs.rows:
        key = (r.kpi, r.period_start, tuple(r.dimensions[d] for d in by))
        assert key not in out, f"duplicate row {key}"
        out[key] = r.value
    return out


def assert_same(got, want, what):
    missing = sorted(set(want) - set(got), key=str)[:5]
    extra = sorted(set(got) - set(want), key=str)[:5]
    assert not missing and not extra, f"{what}: missing {missing}, unexpected {extra}"
    wrong = [f"{k}: expected {w!r}, got {got[k]!r}" for k, w in want.items()
             if not ((w is None and got[k] is None) or (w is not None and got[k] is not None
                                                         and math.isclose(float(got[k]), float(w), rel_tol=1e-9,
                                                                          abs_tol=1e-9)))]
    assert not wrong, f"{what}: {len(wrong)} wrong, e.g.\n" + "\n".join(wrong[:8])


ENGINES = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("mariadb", marks=pytest.mark.mysql), pytest.param("spark", marks=pytest.mark.spark)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", range(len(REQUESTS)), ids=IDS)
def test_offsets_and_windows_match_python(dataset, engine, index, request, tmp_path_factory):
    grain, by, start, end = REQUESTS[index]
    names = OFFSET_KPIS + WINDOW_KPIS
    if grain == "month":
        names = [n for n in names if n != "visits_vs_month_start"]  # start_of_month is the period itself
    rs = engine_for(engine, request, tmp_path_factory).compute(names, grain=grain, by=by, start=start, end=end)
    if index not in _references:  # the same for every engine: computed once
        _references[index] = reference(dataset, grain, by, start, end, names)
    want = _references[index]
    assert_same(_got(rs, by), want, f"{engine} {IDS[index]}")
    # The cases are not vacuous: offsets read periods before the range, and windows differ from periods.
    assert sum(v is not None for (k, *_), v in want.items() if k == "visits_change") >= 2
    assert sum(v is not None and v != 0 for (k, *_), v in want.items() if k == "visits_4p_change") > 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", range(len(ALL_REQUESTS)), ids=["all-region", "all-range"])
def test_grain_all_matches_python(dataset, engine, index, request, tmp_path_factory):
    by, start, end = ALL_REQUESTS[index]
    rs = engine_for(engine, request, tmp_path_factory).compute(ALL_KPIS, grain="all", by=by, start=start, end=end)
    got = {}
    for r in rs.rows:
        assert r.grain == "all"
        got[(r.kpi, tuple(r.dimensions[d] for d in by))] = r.value
    assert_same(got, reference_all(dataset, by, start, end), f"{engine} all {by} {start}")


# -- semi-additive: the sum at the period's last (first) time -----------------------------------------
SEMI = {
    "last_duration": {"model": "visits", "aggregate": "last", "column": "duration"},
    "first_won_amount": {"model": "deals", "aggregate": "first", "column": "amount", "filter": "stage = 'won'"},
}
KPIS.update(SEMI)


def reference_semi(dataset, grain, by, start, end):
    t0 = datetime.combine(start, datetime.min.time()) if start else None
    t1 = datetime.combine(end, datetime.min.time()) if end else None
    out = {}
    for name, spec in SEMI.items():
        groups: dict[tuple, list] = {}
        for r in _rows(dataset, spec["model"]):
            if (t0 and r.ts < t0) or (t1 and r.ts >= t1):
                continue
            period = _trunc(r.ts.date(), grain) if grain != "all" else (start or date(1970, 1, 1))
            groups.setdefault((period,) + tuple(getattr(r, d) for d in by), []).append(r)
        for key, rows in groups.items():
            kept = [r for r in rows if not spec.get("filter") or r.stage == "won"]
            if not kept:
                out[(name, key[0], key[1:])] = None
                continue
            moment = max(r.ts for r in kept) if spec["aggregate"] == "last" else min(r.ts for r in kept)
            values = [getattr(r, spec["column"]) for r in kept if r.ts == moment]
            values = [v for v in values if v is not None]
            out[(name, key[0], key[1:])] = float(sum(Decimal(str(v)) for v in values)) if values else None
    return out


SEMI_REQUESTS = REQUESTS + [("all", ["region"], None, None)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", range(len(SEMI_REQUESTS)), ids=IDS + ["all-region"])
def test_semi_additive_matches_python(dataset, engine, index, request, tmp_path_factory):
    grain, by, start, end = SEMI_REQUESTS[index]
    rs = engine_for(engine, request, tmp_path_factory).compute(list(SEMI), grain=grain, by=by, start=start, end=end)
    want = reference_semi(dataset, grain, by, start, end)
    assert_same(_got(rs, by), want, f"{engine} semi-additive {grain} {by} {start}")
    # Ties at the last second (23:59:59 is common in this data) are summed, not picked from.
    if index == 0:
        times: dict[date, list] = {}
        for v in dataset.visits:
            if v.ts is not None:
                times.setdefault(_trunc(v.ts.date(), "week"), []).append(v.ts)
        assert any(ts.count(max(ts)) > 1 for ts in times.values())


# -- discrete percentile: an actual value, the smallest whose cumulative share reaches p ----------------
DISC = {
    "median_duration_disc": {"model": "visits", "aggregate": "percentile_disc", "column": "duration", "percentile": 0.5},
    "p90_won_disc": {"model": "deals", "aggregate": "percentile_disc", "column": "amount", "percentile": 0.9,
                     "filter": "stage = 'won'"},
}
KPIS.update(DISC)


def reference_disc(dataset, grain, by):
    out = {}
    for name, spec in DISC.items():
        groups: dict[tuple, list] = {}
        for r in _rows(dataset, spec["model"]):
            groups.setdefault((_trunc(r.ts.date(), grain),) + tuple(getattr(r, d) for d in by), []).append(r)
        for key, rows in groups.items():
            values = sorted(float(getattr(r, spec["column"])) for r in rows
                            if getattr(r, spec["column"]) is not None and (not spec.get("filter") or r.stage == "won"))
            out[(name, key[0], key[1:])] = (values[max(0, math.ceil(spec["percentile"] * len(values)) - 1)]
                                            if values else None)
    return out


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres),
                                    pytest.param("spark", marks=pytest.mark.spark)])
@pytest.mark.parametrize("grain, by", [("week", ["region"]), ("month", [])])
def test_discrete_percentile_matches_python(dataset, engine, grain, by, request, tmp_path_factory):
    rs = engine_for(engine, request, tmp_path_factory).compute(list(DISC), grain=grain, by=by)
    assert_same(_got(rs, by), reference_disc(dataset, grain, by), f"{engine} percentile_disc {grain}")


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mysql)])
def test_discrete_percentile_elsewhere_is_a_clear_error(engine, request, tmp_path_factory):
    from kpiengine.errors import SpecError

    with pytest.raises(SpecError, match="percentile_disc is not available as an aggregate on"):
        engine_for(engine, request, tmp_path_factory).compute(list(DISC), grain="week")


# -- date parts and a second grain as dimensions ------------------------------------------------------
def _time_dim(r, name):
    if name == "day_of_week":
        return r.ts.isoweekday()
    if name == "hour":
        return r.ts.hour
    if name == "region":
        return r.region
    return _trunc(r.ts.date(), name[len("time_"):]).isoformat()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("grain, by", [("week", ["day_of_week"]), ("month", ["hour", "region"]),
                                       ("day", ["time_month"]), ("month", ["time_week"])])
def test_time_dimensions_match_python(dataset, engine, grain, by, request, tmp_path_factory):
    rs = engine_for(engine, request, tmp_path_factory).compute(["visits", "won_amount"], grain=grain, by=by)
    want = {}
    for name, model in (("visits", "visits"), ("won_amount", "deals")):
        groups: dict[tuple, list] = {}
        for r in _rows(dataset, model):
            groups.setdefault((_trunc(r.ts.date(), grain),) + tuple(_time_dim(r, d) for d in by), []).append(r)
        for key, rows in groups.items():
            want[(name, key[0], key[1:])] = _agg(KPIS[name], rows)
    assert_same(_got(rs, by), want, f"{engine} {grain} by {by}")
    if by == ["day_of_week"]:  # Sundays and Mondays both there, as 7 and 1
        assert {k[2][0] for k in want} == set(range(1, 8))
