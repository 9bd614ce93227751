"""Same spec, same rows, five engines: the KPI values must agree, and DuckDB's must be right.

(1) DuckDB's values equal values computed here in plain Python from the
generated rows (null-safe grouping: None is a group of its own; division by
zero gives None; weeks start on Monday). (2) SQLite, PostgreSQL, MariaDB and
Spark give the same values as DuckDB within 1e-9 relative.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml

from kpiengine.engine import Engine
from kpiengine.errors import KpiEngineError
from kpiengine.loader import load_project

REL_TOL = 1e-9

# -- the spec ------------------------------------------------------------------------------------
MODELS = {
    "visits": {"table": "ce_visits", "time": "ts", "entity": "visit_id",
               "dimensions": {"region": "region", "channel": "channel", "channel_code": "upper(channel)"}},
    "deals": {"table": "ce_deals", "time": "ts", "entity": "deal_id", "dimensions": {"region": "region"}},
    "leads": {"table": "ce_leads", "time": "created", "time_format": "%d-%m-%Y", "entity": "lead_id",
              "dimensions": {"region": "region"}},
}
KPIS = {
    "visits": {"model": "visits", "aggregate": "count"},
    "timed_visits": {"model": "visits", "aggregate": "count", "column": "duration"},
    "visitors": {"model": "visits", "aggregate": "count_distinct", "column": "lead_id"},
    "mobile_visits": {"model": "visits", "aggregate": "count", "filter": "channel = 'mobile'"},
    # SQL's three-valued logic: a NULL channel is not "<> 'partner'", so those rows are not counted.
    "non_partner_visits": {"model": "visits", "aggregate": "count", "filter": "channel <> 'partner'"},
    "total_duration": {"model": "visits", "aggregate": "sum", "column": "duration"},
    "avg_duration": {"model": "visits", "aggregate": "avg", "column": "duration"},
    "shortest_visit": {"model": "visits", "aggregate": "min", "column": "duration"},
    "longest_web_visit": {"model": "visits", "aggregate": "max", "column": "duration", "filter": "channel = 'web'"},
    "deals": {"model": "deals", "aggregate": "count"},
    "deals_won": {"model": "deals", "aggregate": "count", "filter": "stage = 'won'"},
    "won_amount": {"model": "deals", "aggregate": "sum", "column": "amount", "filter": "stage = 'won'"},
    "avg_won_amount": {"model": "deals", "aggregate": "avg", "column": "amount", "filter": "stage = 'won'"},
    "biggest_deal": {"model": "deals", "aggregate": "max", "column": "amount"},
    "leads": {"model": "leads", "aggregate": "count"},
    "lead_sources": {"model": "leads", "aggregate": "count_distinct", "column": "source"},
    "conversion": {"formula": "deals_won / visits"},
    "win_rate": {"formula": "deals_won / deals"},
    "lead_to_deal": {"formula": "deals / leads"},
    "score": {"formula": "avg_duration * visits * conversion"},
    "revenue_per_visit": {"formula": "(won_amount - 0) / visits"},
}
FORMULAS = {  # the same formulas, written out in Python
    "conversion": lambda v: _div(v["deals_won"], v["visits"]),
    "win_rate": lambda v: _div(v["deals_won"], v["deals"]),
    "lead_to_deal": lambda v: _div(v["deals"], v["leads"]),
    "score": lambda v: _mul(_mul(v["avg_duration"], v["visits"]), _div(v["deals_won"], v["visits"])),
    "revenue_per_visit": lambda v: _div(v["won_amount"], v["visits"]),
}

# Percentiles compile only where an exact interpolating aggregate exists (DuckDB, PostgreSQL, Spark).
PERCENTILE_KPIS = {
    "p90_duration": {"model": "visits", "aggregate": "percentile", "column": "duration", "percentile": 0.9},
    "median_won_amount": {"model": "deals", "aggregate": "percentile", "column": "amount", "percentile": 0.5,
                          "filter": "stage = 'won'"},
}
PERCENTILE_REQUESTS = [1, 4]

# (grain, breakdown, start, end): every grain, with and without the NULL-bearing dimension,
# and one date range whose edges fall on a Monday 00:00.
REQUESTS = [
    ("day", [], None, None),
    ("week", [], None, None),
    ("month", [], None, None),
    ("day", ["region"], None, None),
    ("week", ["region"], None, None),
    ("month", ["region"], None, None),
    ("week", ["region"], date(2026, 1, 5), date(2026, 2, 23)),
]
MAIN_REQUESTS = range(len(REQUESTS))
# Two dimensions at once, one of them an SQL expression, both NULL-bearing: only the visits
# model has both, so this request asks for its KPIs alone.
REQUESTS.append(("day", ["region", "channel_code"], None, None))
TWO_DIM_REQUESTS = [len(REQUESTS) - 1]
REQUEST_IDS = [f"{g}-{'+'.join(b) or 'total'}" + ("-range" if s else "") for g, b, s, _ in REQUESTS]
# Project time zones other than UTC (only engines with IANA zones: DuckDB, PostgreSQL, Spark): a
# negative offset that moves midnight-UTC events to the previous day and crosses a DST change on
# 2026-03-08, and a half-hour offset. A subset of the requests keeps Spark's share of the run short.
ZONES = ["America/New_York", "Asia/Kolkata"]
ZONE_REQUESTS = [0, 4, 6]


def write_spec(folder, source: dict, timezone: str = "UTC", kpis: dict = KPIS) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "project": {"name": "crossengine", "timezone": timezone, "default_source": "wh"},
        "sources": {"wh": source},
        "models": MODELS,
        "kpis": {name: {"label": name.replace("_", " "), **body} for name, body in kpis.items()},
    }
    (folder / "spec.yml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(folder)


def compute_all(folder: str, indexes=MAIN_REQUESTS, kpis: dict = KPIS) -> dict[int, dict[tuple, float | None]]:
    """Engine values for the requests at ``indexes``, keyed by (kpi, period_start, dimension values)."""
    engine = Engine(load_project(folder))
    out = {}
    for i in indexes:
        grain, by, start, end = REQUESTS[i]
        rs = engine.compute(kpis=list(kpis), grain=grain, by=by, start=start, end=end)
        values = {}
        for row in rs.rows:
            key = (row.kpi, row.period_start, tuple(row.dimensions[d] for d in by))
            assert key not in values, f"duplicate row {key}"
            values[key] = row.value
        out[i] = values
    return out


# -- the independent reference ---------------------------------------------------------------------
def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _mul(a, b):
    return None if a is None or b is None else a * b


def _period(moment: datetime, grain: str) -> date:
    d = moment.date()
    if grain == "day":
        return d
    if grain == "week":
        return d - timedelta(days=d.isoweekday() - 1)  # Monday
    return date(d.year, d.month, 1)


def _model_rows(dataset, model: str):
    """(event time, row) pairs of a model, with text dates read day-first."""
    if model == "visits":
        return [(v.ts, v) for v in dataset.visits]
    if model == "deals":
        return [(d.ts, d) for d in dataset.deals]
    return [(datetime.strptime(ld.created, "%d-%m-%Y"), ld) for ld in dataset.leads]


def _dimension(row, name: str):
    if name == "channel_code":  # upper(channel)
        return None if row.channel is None else row.channel.upper()
    return getattr(row, name)


def _local(moment: datetime, timezone: str) -> datetime:
    """Stored times are UTC; periods and the date range are read on the project's wall clock."""
    if timezone == "UTC":
        return moment
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def _aggregate(spec: dict, rows: list) -> float | int | None:
    column, wanted = spec.get("column"), spec.get("filter")
    if wanted:  # the filters used above are all "<column> = '<text>'" or "<column> <> '<text>'"
        col, op, text = wanted.split(" ")
        text = text.strip("'")
        # A NULL column matches neither = nor <> (SQL's three-valued logic).
        rows = [r for r in rows if getattr(r, col) is not None and (getattr(r, col) == text) == (op == "=")]
    if spec["aggregate"] == "count":
        return len(rows) if column is None else sum(getattr(r, column) is not None for r in rows)
    values = [getattr(r, column) for r in rows if getattr(r, column) is not None]
    if spec["aggregate"] == "count_distinct":
        return len(set(values))
    if spec["aggregate"] == "sum":
        return float(sum(values, Decimal(0))) if values and isinstance(values[0], Decimal) else float(math.fsum(values))
    if not values:
        return None
    if spec["aggregate"] == "percentile":  # PERCENTILE_CONT: linear between the two closest ranks
        ordered = sorted(float(x) for x in values)
        pos = spec["percentile"] * (len(ordered) - 1)
        low = math.floor(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    if spec["aggregate"] == "avg":
        return float(sum(Decimal(str(x)) for x in values) / len(values))
    return float(min(values) if spec["aggregate"] == "min" else max(values))


def python_values(dataset, grain, by, start, end, timezone: str = "UTC", kpis: dict = KPIS
                  ) -> dict[tuple, float | None]:
    groups: dict[str, dict[tuple, list]] = {m: {} for m in MODELS}
    for model in MODELS:
        if not set(by) <= set(MODELS[model]["dimensions"]):
            continue
        for moment, row in _model_rows(dataset, model):
            if moment is None:
                continue  # rows without a time belong to no period
            moment = _local(moment, timezone)
            if (start and moment < datetime.combine(start, datetime.min.time())) or \
                    (end and moment >= datetime.combine(end, datetime.min.time())):
                continue
            key = (_period(moment, grain),) + tuple(_dimension(row, d) for d in by)
            groups.setdefault(model, {}).setdefault(key, []).append(row)
    aggregates = {name: {key: _aggregate(spec, rows) for key, rows in groups[spec["model"]].items()}
                  for name, spec in kpis.items() if "model" in spec}
    out = {}
    for name, per_key in aggregates.items():
        for key, value in per_key.items():
            out[(name, key[0], key[1:])] = value
    additive = {n for n, s in KPIS.items() if s.get("aggregate") in ("count", "count_distinct", "sum")}
    inputs = {"conversion": ["visits", "deals"], "win_rate": ["deals"], "lead_to_deal": ["deals", "leads"],
              "score": ["visits", "deals"], "revenue_per_visit": ["visits", "deals"]}
    for name, models in inputs.items():
        if name not in kpis:
            continue
        keys = set().union(*(groups[m].keys() for m in models))
        for key in keys:
            values = {k: aggregates[k].get(key, 0 if k in additive else None) for k in aggregates}
            out[(name, key[0], key[1:])] = FORMULAS[name](values)
    return out


# -- comparison -----------------------------------------------------------------------------------
def assert_same(got: dict, expected: dict, what: str) -> None:
    missing = sorted(set(expected) - set(got), key=str)[:5]
    extra = sorted(set(got) - set(expected), key=str)[:5]
    assert not missing and not extra, f"{what}: missing rows {missing}, unexpected rows {extra}"
    wrong = []
    for key, want in expected.items():
        have = got[key]
        if want is None or have is None:
            ok = want is None and have is None
        else:
            ok = math.isclose(float(have), float(want), rel_tol=REL_TOL, abs_tol=1e-12)
        if not ok:
            wrong.append(f"{key}: expected {want!r}, got {have!r}")
    assert not wrong, f"{what}: {len(wrong)} wrong values, e.g.\n" + "\n".join(wrong[:10])


# -- engines ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def duckdb_values(request, tmp_path_factory):
    return engine_values("duckdb", request, tmp_path_factory)


_cache: dict[tuple[str, str, str], dict] = {}


def engine_source(engine: str, request) -> dict:
    """The ``sources:`` entry of the harness spec for one engine (its warehouse loaded once per session)."""
    if engine == "duckdb":
        return {"type": "duckdb", "path": request.getfixturevalue("duckdb_warehouse")["path"]}
    elif engine == "sqlite":
        return {"type": "sqlite", "path": request.getfixturevalue("sqlite_warehouse")}
    elif engine == "sqlalchemy-sqlite":
        return {"type": "sqlalchemy", "url": f"sqlite:///{request.getfixturevalue('sqlite_warehouse')}"}
    elif engine == "sqlalchemy-postgres":
        opts = request.getfixturevalue("postgres_warehouse")
        return {"type": "sqlalchemy", "url": f"postgresql+psycopg://{opts['user']}@{opts['host']}:{opts['port']}"
                                               f"/{opts['dbname']}?options=-csearch_path%3D{opts['search_path']}"}
    elif engine == "sqlalchemy-mariadb":
        opts = request.getfixturevalue("mysql_warehouse")
        return {"type": "sqlalchemy",
                  "url": f"mysql+pymysql://{opts['user']}@{opts['host']}:{opts['port']}/{opts['database']}"}
    elif engine == "postgres":
        return {"type": "postgres", **request.getfixturevalue("postgres_warehouse")}
    elif engine == "mariadb":
        return {"type": "mysql", **request.getfixturevalue("mysql_warehouse")}
    else:
        request.getfixturevalue("spark")
        parquet = request.getfixturevalue("duckdb_warehouse")["parquet"]
        return {"type": "spark", "tables": {name: {"path": path, "format": "parquet"}
                                              for name, path in parquet.items()}}


def engine_values(engine: str, request, tmp_path_factory, timezone: str = "UTC", variant: str = "main") -> dict:
    """Values of one engine for the requests of ``variant`` (a subset in other zones), computed once."""
    if (engine, timezone, variant) not in _cache:
        source = engine_source(engine, request)
        kpis, indexes = VARIANTS[variant]
        if timezone != "UTC":
            indexes = ZONE_REQUESTS
        folder = write_spec(tmp_path_factory.mktemp(f"spec_{engine}"), source, timezone, kpis)
        _cache[engine, timezone, variant] = compute_all(folder, indexes, kpis)
    return _cache[engine, timezone, variant]


def test_reference_data_hits_the_edge_cases(dataset):
    """Guard against a generator change silently dropping the cases this harness exists for."""
    stamps = [v.ts for v in dataset.visits if v.ts] + [d.ts for d in dataset.deals]
    assert sum(t.time() == datetime.min.time() for t in stamps) > 50
    assert sum(t.hour == 23 and t.minute == 59 and t.second == 59 for t in stamps) > 50
    assert {t.isoweekday() for t in stamps} >= {1, 7}
    assert {t.year for t in stamps} == {2025, 2026}
    assert any(v.region is None for v in dataset.visits) and any(d.region is None for d in dataset.deals)
    assert any(v.ts is None for v in dataset.visits) and any(v.duration is None for v in dataset.visits)
    assert any(d.region == "north" for d in dataset.deals) and not any(v.region == "north" for v in dataset.visits)
    assert any(int(ld.created[:2]) <= 12 and ld.created[:2] != ld.created[3:5] for ld in dataset.leads)


@pytest.mark.parametrize("index", MAIN_REQUESTS, ids=REQUEST_IDS[:len(MAIN_REQUESTS)])
def test_duckdb_matches_python(dataset, duckdb_values, index):
    grain, by, start, end = REQUESTS[index]
    expected = python_values(dataset, grain, by, start, end)
    assert_same(duckdb_values[index], expected, f"duckdb {REQUEST_IDS[index]}")
    if by:  # the zero-denominator group really is there, and gives None
        north = [v for (k, _, dims), v in expected.items() if k == "conversion" and dims == ("north",)]
        assert north and all(v is None for v in north)


@pytest.mark.parametrize("engine", [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mysql),
    pytest.param("spark", marks=pytest.mark.spark),
    "sqlalchemy-sqlite",
    pytest.param("sqlalchemy-postgres", marks=pytest.mark.postgres),
    pytest.param("sqlalchemy-mariadb", marks=pytest.mark.mysql),
])
@pytest.mark.parametrize("index", MAIN_REQUESTS, ids=REQUEST_IDS[:len(MAIN_REQUESTS)])
def test_engine_matches_duckdb(engine, index, duckdb_values, request, tmp_path_factory):
    got = engine_values(engine, request, tmp_path_factory)[index]
    assert_same(got, duckdb_values[index], f"{engine} vs duckdb {REQUEST_IDS[index]}")


@pytest.mark.parametrize("timezone", ZONES)
@pytest.mark.parametrize("index", ZONE_REQUESTS, ids=[REQUEST_IDS[i] for i in ZONE_REQUESTS])
def test_duckdb_matches_python_in_project_time_zone(dataset, timezone, index, request, tmp_path_factory):
    grain, by, start, end = REQUESTS[index]
    got = engine_values("duckdb", request, tmp_path_factory, timezone)[index]
    expected = python_values(dataset, grain, by, start, end, timezone)
    assert_same(got, expected, f"duckdb {timezone} {REQUEST_IDS[index]}")
    # The zone really moves events: the UTC answer differs.
    assert expected != python_values(dataset, grain, by, start, end)


@pytest.mark.parametrize("engine", [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("spark", marks=pytest.mark.spark),
])
@pytest.mark.parametrize("timezone", ZONES)
@pytest.mark.parametrize("index", ZONE_REQUESTS, ids=[REQUEST_IDS[i] for i in ZONE_REQUESTS])
def test_engine_matches_duckdb_in_project_time_zone(engine, timezone, index, request, tmp_path_factory):
    got = engine_values(engine, request, tmp_path_factory, timezone)[index]
    want = engine_values("duckdb", request, tmp_path_factory, timezone)[index]
    assert_same(got, want, f"{engine} vs duckdb {timezone} {REQUEST_IDS[index]}")


VISIT_KPIS = {name: body for name, body in KPIS.items() if body.get("model") == "visits"}
VARIANTS = {"main": (KPIS, MAIN_REQUESTS), "percentiles": (PERCENTILE_KPIS, PERCENTILE_REQUESTS),
            "two_dims": (VISIT_KPIS, TWO_DIM_REQUESTS)}


@pytest.mark.parametrize("engine", [
    "duckdb", "sqlite", "sqlalchemy-sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mysql),
    pytest.param("spark", marks=pytest.mark.spark),
])
def test_two_dimensions_match_python(dataset, engine, request, tmp_path_factory):
    [index] = TWO_DIM_REQUESTS
    grain, by, start, end = REQUESTS[index]
    got = engine_values(engine, request, tmp_path_factory, variant="two_dims")[index]
    expected = python_values(dataset, grain, by, start, end, kpis=VISIT_KPIS)
    assert any(None in dims for _, _, dims in expected)
    assert_same(got, expected, f"{engine} {REQUEST_IDS[index]}")


# Regression: DuckDB's QUANTILE_CONT kept a DECIMAL(12,2) input's scale (2751.96 instead of
# 2751.965); the compiler now casts percentile inputs to DOUBLE.
PERCENTILE_CASES = [pytest.param(engine, kpi, index, id=f"{engine}-{kpi}-{REQUEST_IDS[index]}",
                                 marks=marks)
                    for engine, marks in [("duckdb", []), ("postgres", [pytest.mark.postgres]),
                                          ("spark", [pytest.mark.spark])]
                    for kpi in PERCENTILE_KPIS for index in PERCENTILE_REQUESTS]


@pytest.mark.parametrize("engine, kpi, index", PERCENTILE_CASES)
def test_percentiles_match_python(dataset, engine, kpi, index, request, tmp_path_factory):
    """Checked against Python on every engine: DuckDB is wrong on DECIMAL columns (see above)."""
    grain, by, start, end = REQUESTS[index]
    got = {k: v for k, v in engine_values(engine, request, tmp_path_factory, variant="percentiles")[index].items()
           if k[0] == kpi}
    expected = {k: v for k, v in python_values(dataset, grain, by, start, end, kpis=PERCENTILE_KPIS).items()
                if k[0] == kpi}
    assert_same(got, expected, f"{engine} {kpi} {REQUEST_IDS[index]}")


# -- text dates without zero padding -----------------------------------------------------------
# strptime's %d and %m accept "5" as well as "05"; exports from spreadsheets often drop the zero.
UNPADDED = ["5-1-2026", "05-01-2026", "15-1-2026", "1-12-2025", "31-12-2025", "9-2-2026"]


def _text_date_counts(engine: str, request, tmp_path, texts: list[str]) -> dict:
    """Daily row counts of a model whose time is text in "%d-%m-%Y", computed on ``engine``."""
    rows = [(i, text) for i, text in enumerate(texts)]
    if engine == "duckdb":
        import duckdb

        path = str(tmp_path / "u.duckdb")
        with duckdb.connect(path) as con:
            con.execute("CREATE TABLE ce_unpadded (id INTEGER, created VARCHAR)")
            con.executemany("INSERT INTO ce_unpadded VALUES (?, ?)", rows)
        source = {"type": "duckdb", "path": path}
    elif engine == "sqlite":
        import sqlite3

        path = str(tmp_path / "u.sqlite")
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE ce_unpadded (id INTEGER, created TEXT)")
        con.executemany("INSERT INTO ce_unpadded VALUES (?, ?)", rows)
        con.commit()
        con.close()
        source = {"type": "sqlite", "path": path}
    elif engine == "postgres":
        con = request.getfixturevalue("pg_conn")
        con.execute("DROP TABLE IF EXISTS ce_unpadded")
        con.execute("CREATE TABLE ce_unpadded (id int, created text)")
        con.cursor().executemany("INSERT INTO ce_unpadded VALUES (%s, %s)", rows)
        source = {"type": "postgres", **request.getfixturevalue("postgres_source_options")}
    elif engine == "spark":
        spark = request.getfixturevalue("spark")
        spark.createDataFrame(rows, "id int, created string").createOrReplaceTempView("ce_unpadded")
        source = {"type": "spark"}
    else:
        with request.getfixturevalue("mysql_conn").cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS ce_unpadded")
            cur.execute("CREATE TABLE ce_unpadded (id INT, created VARCHAR(10))")
            cur.executemany("INSERT INTO ce_unpadded VALUES (%s, %s)", rows)
        source = {"type": "mysql", **request.getfixturevalue("mysql_params")}
    spec = {"project": {"name": "unpadded", "default_source": "wh"}, "sources": {"wh": source},
            "models": {"u": {"table": "ce_unpadded", "time": "created", "time_format": "%d-%m-%Y"}},
            "kpis": {"rows": {"label": "rows", "model": "u", "aggregate": "count"}}}
    (tmp_path / "spec.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    rs = Engine(load_project(str(tmp_path))).compute(kpis=["rows"], grain="day")
    return {r.period_start: r.value for r in rs.rows}


# Regression: SQLite used to read text dates by fixed positions ('5-1-2026' became garbage);
# it now splits at the format's separators.
@pytest.mark.parametrize("engine", [
    "duckdb",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mysql),
    pytest.param("spark", marks=pytest.mark.spark),
])
def test_text_dates_without_zero_padding(engine, request, tmp_path):
    expected = {}
    for text in UNPADDED:
        day = datetime.strptime(text, "%d-%m-%Y").date()
        expected[day] = expected.get(day, 0) + 1
    assert _text_date_counts(engine, request, tmp_path, UNPADDED) == expected


# -- a text date that does not match time_format ------------------------------------------------
# Regression: MariaDB and Spark return NULL for a mismatching text date and the row used to
# vanish from the counts; now it lands in a NULL period and the engine stops quoting the value.
@pytest.mark.parametrize("engine", [
    "duckdb",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mysql),
    pytest.param("spark", marks=pytest.mark.spark),
])
def test_text_date_not_matching_time_format_is_an_error_quoting_it(engine, request, tmp_path):
    """A row whose date cannot be read must not vanish from the numbers without a word."""
    with pytest.raises(KpiEngineError) as info:
        _text_date_counts(engine, request, tmp_path, ["05-01-2026", "2026/01/05", "06-01-2026"])
    assert "2026/01/05" in str(info.value)
