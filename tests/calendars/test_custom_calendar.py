"""Custom calendars: `--grain fiscal_quarter` groups by a calendar table's periods, on every engine.

The calendar (``cal_days``: one row per day) maps each day to the first day of its fiscal
quarter (quarters start 1 February, 1 May, ...) and of its 4-4-5 fiscal period (periods of
4, 4 and 5 weeks from Monday 2025-11-03). Orders sit on both sides of those boundaries, at
midnight and one second before it, with a NULL region. Expected values come from SQL written
by hand on the same engine (a join to the calendar on the day, a GROUP BY): DuckDB, SQLite,
PostgreSQL and MariaDB.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
import yaml

from kpiengine.engine import Engine
from kpiengine.errors import SpecError
from kpiengine.loader import load_project

FIRST_DAY, LAST_DAY = date(2025, 11, 3), date(2026, 8, 2)


def _fiscal_quarter(d: date) -> date:
    m = (d.month - 2) % 12  # months since the fiscal year's February
    start = d.replace(day=1)
    y, mo = start.year, start.month - m % 3
    if mo < 1:
        y, mo = y - 1, mo + 12
    return date(y, mo, 1)


def _calendar() -> list[tuple]:
    rows, period, weeks, i = [], FIRST_DAY, [4, 4, 5], 0
    ends = period + timedelta(weeks=weeks[0])
    d = FIRST_DAY
    while d <= LAST_DAY:
        if d >= ends:
            i += 1
            period, ends = ends, ends + timedelta(weeks=weeks[i % 3])
        rows.append((d, _fiscal_quarter(d), period))
        d += timedelta(days=1)
    return rows


CALENDAR = _calendar()
_rng = random.Random(445)
ORDERS = [(i, datetime.combine(FIRST_DAY + timedelta(days=_rng.randrange((LAST_DAY - FIRST_DAY).days)),
                               datetime.min.time()) + timedelta(seconds=_rng.choice([0, 1, 43200, 86399])),
           _rng.choice(["east", "west", None]), _rng.randrange(1, 100) * 5) for i in range(1, 401)]
ORDERS += [(1001, datetime(2026, 1, 31, 23, 59, 59), "east", 7), (1002, datetime(2026, 2, 1, 0, 0, 0), "east", 11)]

SPEC = {
    "models": {
        "orders": {"table": "cal_orders", "time": "ts", "dimensions": {"region": "region"}},
        "fiscal_days": {"table": "cal_days"},
    },
    "calendars": {"fiscal": {"model": "fiscal_days", "date": "day",
                             "periods": {"fiscal_quarter": "fq_start", "fiscal_period": "fp_start"}}},
    "kpis": {
        "orders": {"label": "Orders", "model": "orders", "aggregate": "count"},
        "revenue": {"label": "Revenue", "model": "orders", "aggregate": "sum", "column": "amount"},
        "avg_order": {"label": "Average order", "formula": "revenue / orders"},
        "last_amount": {"label": "Last amount", "model": "orders", "aggregate": "last", "column": "amount"},
        "orders_4p": {"label": "Orders 4p", "model": "orders", "aggregate": "count", "window": "4 periods"},
        "orders_change": {"label": "Orders change", "formula": "orders - orders[-1]"},
    },
}
TYPES = {"duckdb": ("INTEGER", "VARCHAR", "TIMESTAMP", "DATE"), "sqlite": ("INTEGER", "TEXT", "TEXT", "TEXT"),
         "postgres": ("int", "text", "timestamp", "date"), "mariadb": ("INT", "VARCHAR(10)", "DATETIME", "DATE")}


def _load(engine: str, execute, many) -> None:
    i, t, ts, d = TYPES[engine]
    execute("DROP TABLE IF EXISTS cal_orders")
    execute("DROP TABLE IF EXISTS cal_days")
    execute(f"CREATE TABLE cal_orders (order_id {i}, ts {ts}, region {t}, amount {i})")
    execute(f"CREATE TABLE cal_days (day {d}, fq_start {d}, fp_start {d})")
    as_text = engine == "sqlite"
    many("cal_orders", [(o, str(s) if as_text else s, r, a) for o, s, r, a in ORDERS])
    many("cal_days", [tuple(str(x) if as_text else x for x in row) for row in CALENDAR])


class Warehouse:
    def __init__(self, engine: str, request, tmp_path_factory):
        self.engine = engine
        folder = tmp_path_factory.mktemp(f"cal_{engine}")
        if engine in ("duckdb", "sqlite"):
            if engine == "duckdb":
                import duckdb as driver
            else:
                import sqlite3 as driver
            path = str(folder / f"w.{engine}")
            con = driver.connect(path)
            q = "?"
            _load(engine, con.execute, lambda tbl, rows: con.executemany(
                f"INSERT INTO {tbl} VALUES ({', '.join([q] * len(rows[0]))})", rows))
            con.commit() if engine == "sqlite" else None
            con.close()
            source = {"type": engine, "path": path}
            self._run = lambda sql: driver.connect(path).execute(sql).fetchall()
        elif engine == "postgres":
            import psycopg

            dsn = request.getfixturevalue("postgres_dsn")
            with psycopg.connect(dsn, autocommit=True) as con:
                _load(engine, con.execute, lambda tbl, rows: con.cursor().executemany(
                    f"INSERT INTO {tbl} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows))
            source = {"type": "postgres", **request.getfixturevalue("postgres_source_options")}

            def run(sql):
                with psycopg.connect(dsn) as con:
                    return con.execute(sql).fetchall()
            self._run = run
        else:
            import pymysql

            params = request.getfixturevalue("mysql_params")
            with pymysql.connect(**params, autocommit=True) as con, con.cursor() as cur:
                _load(engine, cur.execute, lambda tbl, rows: cur.executemany(
                    f"INSERT INTO {tbl} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows))
            source = {"type": "mysql", **params}

            def run(sql):
                with pymysql.connect(**params) as con, con.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchall()
            self._run = run
        spec = {"project": {"name": "cal", "default_source": "wh"}, "sources": {"wh": source}, **SPEC}
        (folder / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        self.folder = folder
        self.kpi = Engine(load_project(str(folder)))

    def day_of(self, column: str) -> str:
        return f"DATE({column})" if self.engine == "sqlite" else f"CAST({column} AS DATE)"

    def sql(self, text: str) -> list[tuple]:
        return self._run(text)


ENGINES = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("mariadb", marks=pytest.mark.mysql)]
_warehouses: dict[str, Warehouse] = {}


@pytest.fixture(params=ENGINES)
def wh(request, tmp_path_factory) -> Warehouse:
    if request.param not in _warehouses:
        _warehouses[request.param] = Warehouse(request.param, request, tmp_path_factory)
    return _warehouses[request.param]


def _d(v) -> date:
    return v if isinstance(v, date) and not isinstance(v, datetime) else date.fromisoformat(str(v)[:10])


def _values(rs, by) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for r in rs.rows:
        out.setdefault((r.period_start, *[r.dimensions[d] for d in by]), {})[r.kpi] = r.value
    return out


@pytest.mark.parametrize("grain, column", [("fiscal_quarter", "fq_start"), ("fiscal_period", "fp_start")])
def test_custom_grain_matches_hand_written_sql(wh, grain, column):
    expected = {(_d(p), region): (n, int(s)) for p, region, n, s in wh.sql(f"""
        SELECT c.{column}, o.region, COUNT(*), SUM(o.amount)
        FROM cal_orders o JOIN cal_days c ON c.day = {wh.day_of('o.ts')}
        GROUP BY c.{column}, o.region""")}
    got = _values(wh.kpi.compute(kpis=["orders", "revenue", "avg_order"], grain=grain, by=["region"]), ["region"])
    assert set(got) == set(expected)
    for key, (n, total) in expected.items():
        assert (got[key]["orders"], got[key]["revenue"]) == (n, total), f"{wh.engine} {grain} {key}"
        assert got[key]["avg_order"] == pytest.approx(total / n)
    assert any(region is None for _p, region in expected)  # the NULL region is a group of its own
    assert len({p for p, _r in expected}) >= 4


def test_the_quarter_boundary_is_the_calendars_not_the_calendar_years(wh):
    got = _values(wh.kpi.compute(kpis=["revenue"], grain="fiscal_quarter", where="region = 'east'",
                                 start=date(2026, 1, 31), end=date(2026, 2, 2)), [])
    # 23:59:59 on 31 January is in the quarter that began 1 November; midnight 1 February starts the next
    want = {(_d(p),): int(s) for p, s in wh.sql(f"""
        SELECT c.fq_start, SUM(o.amount) FROM cal_orders o JOIN cal_days c ON c.day = {wh.day_of('o.ts')}
        WHERE o.region = 'east' AND o.ts >= '2026-01-31 00:00:00' AND o.ts < '2026-02-02 00:00:00'
        GROUP BY c.fq_start""")}
    assert {k: v["revenue"] for k, v in got.items()} == want
    assert set(want) == {(date(2025, 11, 1),), (date(2026, 2, 1),)}


def test_from_to_and_semi_additive_on_a_custom_grain(wh):
    rs = wh.kpi.compute(kpis=["orders", "last_amount"], grain="fiscal_period", start=date(2026, 1, 26),
                        end=date(2026, 4, 27))
    got = _values(rs, [])
    counts = {(_d(p),): n for p, n in wh.sql(f"""
        SELECT c.fp_start, COUNT(*) FROM cal_orders o JOIN cal_days c ON c.day = {wh.day_of('o.ts')}
        WHERE o.ts >= '2026-01-26 00:00:00' AND o.ts < '2026-04-27 00:00:00' GROUP BY c.fp_start""")}
    last = {(_d(p),): int(s) for p, s in wh.sql(f"""
        SELECT c.fp_start, SUM(o.amount) FROM cal_orders o JOIN cal_days c ON c.day = {wh.day_of('o.ts')}
        WHERE o.ts = (SELECT MAX(o2.ts) FROM cal_orders o2 JOIN cal_days c2 ON c2.day = {wh.day_of('o2.ts')}
                      WHERE c2.fp_start = c.fp_start AND o2.ts < '2026-04-27 00:00:00'
                      AND o2.ts >= '2026-01-26 00:00:00')
        GROUP BY c.fp_start""")}
    assert {k: v["orders"] for k, v in got.items()} == counts
    assert {k: v["last_amount"] for k, v in got.items()} == last
    # 4-4-5 weeks from 2025-11-03: periods start 12-01, 12-29, 02-02 (5 weeks), 03-02, 03-30, 05-04
    assert set(counts) == {(date(2025, 12, 29),), (date(2026, 2, 2),), (date(2026, 3, 2),), (date(2026, 3, 30),)}
    # final only where the range holds the whole period, as the calendar bounds it (not a month or a week)
    assert {r.period_start: r.complete for r in rs.rows if r.kpi == "orders"} == {
        date(2025, 12, 29): False, date(2026, 2, 2): True, date(2026, 3, 2): True, date(2026, 3, 30): False}


def test_custom_grain_errors_are_clear(wh):
    with pytest.raises(SpecError) as err:
        wh.kpi.compute(kpis=["orders"], grain="fiscal_quartr")
    assert "unknown period 'fiscal_quartr'" in str(err.value) and "fiscal_quarter" in str(err.value)
    for kpi, words in (("orders_4p", "needs a built-in grain"), ("orders_change", "another period")):
        with pytest.raises(SpecError) as err:
            wh.kpi.compute(kpis=[kpi], grain="fiscal_quarter")
        assert words in str(err.value), str(err.value)


def test_kpi_run_at_a_custom_grain_twice_reads_the_plan_cache_the_same(request, tmp_path_factory):
    from click.testing import CliRunner

    from kpiengine.cli import main

    wh = _warehouses.get("duckdb") or _warehouses.setdefault("duckdb", Warehouse("duckdb", request, tmp_path_factory))
    args = ["run", "-s", str(wh.folder), "--kpi", "revenue", "--grain", "fiscal_quarter", "--no-history",
            "--format", "json"]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    second = CliRunner().invoke(main, args, catch_exceptions=False)  # the plan cache: frozen queries
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    import json

    rows = [[(r["kpi"], r["period_start"], r["value"]) for r in json.loads(x.output)["rows"]] for x in (first, second)]
    assert rows[0] == rows[1] and len(rows[0]) >= 4  # the watermark's age moves; the values do not
    assert json.loads(first.output)["grain"] == "fiscal_quarter"


BAD = [
    ({"model": "fiscal_dayz", "date": "day", "periods": {"fiscal_quarter": "fq_start"}}, "model:",
     "unknown model 'fiscal_dayz'"),
    ({"model": "fiscal_days", "date": "day", "periods": {"quarter": "fq_start"}}, "quarter:",
     "grain 'quarter' is a built-in grain"),
    ({"model": "fiscal_days", "date": "day", "periods": {"fiscal_quarter": "(SELECT fq_start FROM cal_days)"}},
     "fiscal_quarter:", "subqueries are not allowed"),
]


@pytest.mark.parametrize("calendar, line_with, words", BAD, ids=["model", "builtin", "unsafe"])
def test_a_bad_calendar_is_a_located_error(tmp_path, calendar, line_with, words):
    from click.testing import CliRunner

    from kpiengine.cli import main

    spec = {"project": {"name": "cal", "default_source": "wh"},
            "sources": {"wh": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}},
            **SPEC, "calendars": {"fiscal": calendar}}
    text = yaml.safe_dump(spec, sort_keys=False)
    (tmp_path / "spec.yml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "-s", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code != 0
    in_calendars = text.splitlines().index("calendars:")
    line = next(i for i, x in enumerate(text.splitlines(), 1) if i > in_calendars and line_with in x)
    assert f"spec.yml:{line}" in result.output and words in result.output, result.output


def test_validate_connect_finds_a_missing_calendar_column(request, tmp_path_factory, tmp_path):
    from click.testing import CliRunner

    from kpiengine.cli import main

    wh = _warehouses.get("duckdb") or _warehouses.setdefault("duckdb", Warehouse("duckdb", request, tmp_path_factory))
    text = (wh.folder / "spec.yml").read_text(encoding="utf-8").replace("fiscal_period: fp_start",
                                                                       "fiscal_period: fp_first")
    (tmp_path / "spec.yml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--connect", "-s", str(tmp_path)], catch_exceptions=False)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "fiscal_period: fp_first" in x)
    assert result.exit_code != 0
    assert f"spec.yml:{line}" in result.output and "column 'fp_first' does not exist" in result.output, result.output
    assert "fp_start" in result.output  # the hint names the calendar's columns


def test_gap_filling_steps_through_the_calendars_periods(wh):
    rs = wh.kpi.compute(kpis=["orders"], grain="fiscal_period", start=date(2026, 1, 26), end=date(2026, 4, 27),
                        where="region = 'nowhere'", fill="zero")
    assert {r.period_start: r.value for r in rs.rows} == {
        date(2025, 12, 29): 0, date(2026, 2, 2): 0, date(2026, 3, 2): 0, date(2026, 3, 30): 0}


DIALECTS = ["duckdb", "postgres", "mysql", "sqlite", "spark", "snowflake", "bigquery", "trino", "tsql"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_calendar_join_compiles_for_every_dialect(request, tmp_path_factory, dialect):
    import sqlglot

    wh = _warehouses.get("duckdb") or _warehouses.setdefault("duckdb", Warehouse("duckdb", request, tmp_path_factory))
    queries = wh.kpi.compile(kpis=["revenue", "last_amount"], grain="fiscal_quarter", by=["region"],
                             dialect=dialect)
    assert [q.model for q in queries] == ["fiscal_days", "orders", "orders"]  # periods, aggregates, semi-additive
    for q in queries[1:]:
        sql = q.sql
        assert "LEFT JOIN cal_days AS __kpi_c" in sql and "fq_start" in sql, sql
        sqlglot.parse_one(sql, read=dialect)  # the dialect's own parser reads it back
    assert "GROUP BY" in queries[0].sql and "MAX(" in queries[0].sql


def test_a_day_missing_from_the_calendar_stops_the_run_with_a_clear_error(tmp_path_factory):
    import duckdb

    class Only:  # a warehouse of its own: one order after the calendar's last day
        def mktemp(self, name):
            return tmp_path_factory.mktemp(name)

    wh = Warehouse("duckdb", None, Only())
    con = duckdb.connect(str(wh.folder / "w.duckdb"))
    con.execute("INSERT INTO cal_orders VALUES (9999, TIMESTAMP '2027-03-01 10:00:00', 'east', 5)")
    con.close()
    with pytest.raises(Exception) as err:
        wh.kpi.compute(kpis=["orders"], grain="fiscal_quarter")
    assert "days the calendar of grain 'fiscal_quarter' does not have" in str(err.value)
