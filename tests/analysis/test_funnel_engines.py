"""The same funnels on PostgreSQL, MariaDB and Spark: the Olist numbers (independent, csv module) and
the synthetic ordered/windowed funnel giving exactly the DuckDB numbers (themselves checked by brute force)."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
import random

import duckdb
import pytest

from kpiengine.engine import Engine
from kpiengine.analysis.funnels import run_funnel
from kpiengine.loader import load_project



def _yaml_options(options: dict) -> str:
    return "".join(f"    {k}: {json.dumps(v)}\n" for k, v in options.items())


def _olist_project(olist_files, tmp_path, source: dict):
    return load_project(olist_files["write_spec"](tmp_path / "spec", _yaml_options(source), windows=(30, 90)))


@pytest.fixture
def pg_olist(olist_rows, olist_files, pg_conn, postgres_source_options, tmp_path):
    leads, deals = olist_rows
    with pg_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS olist_leads; DROP TABLE IF EXISTS olist_deals")
        cur.execute("CREATE TABLE olist_leads (mql_id TEXT, first_contact_date TEXT, origin TEXT)")
        cur.execute("CREATE TABLE olist_deals (mql_id TEXT, won_date TEXT, business_segment TEXT)")
        with cur.copy("COPY olist_leads FROM STDIN") as cp:
            for r in leads:
                cp.write_row(r)
        with cur.copy("COPY olist_deals FROM STDIN") as cp:
            for r in deals:
                cp.write_row(r)
    return _olist_project(olist_files, tmp_path, {"type": "postgres", **postgres_source_options})


@pytest.fixture
def mysql_olist(olist_rows, olist_files, mysql_conn, mysql_params, tmp_path):
    leads, deals = olist_rows
    with mysql_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS olist_leads")
        cur.execute("DROP TABLE IF EXISTS olist_deals")
        cur.execute("CREATE TABLE olist_leads (mql_id VARCHAR(40), first_contact_date VARCHAR(20), origin VARCHAR(40))")
        cur.execute("CREATE TABLE olist_deals (mql_id VARCHAR(40), won_date VARCHAR(20), business_segment VARCHAR(60))")
        cur.executemany("INSERT INTO olist_leads VALUES (%s, %s, %s)", leads)
        cur.executemany("INSERT INTO olist_deals VALUES (%s, %s, %s)", deals)
    return _olist_project(olist_files, tmp_path, {"type": "mysql", **mysql_params})


@pytest.fixture
def spark_olist(olist_files, spark, tmp_path):
    tables = {"olist_leads": {"path": str(olist_files["leads"]), "format": "csv", "options": {"header": True}},
              "olist_deals": {"path": str(olist_files["deals"]), "format": "csv", "options": {"header": True}}}
    return _olist_project(olist_files, tmp_path, {"type": "spark", "master": "local[2]", "tables": tables})


@pytest.mark.postgres
def test_olist_on_postgres(pg_olist, olist_expected, olist_check):
    for days in (30, 90):
        olist_check(run_funnel(Engine(pg_olist), f"won_{days}d", grain="month", by=["origin"]), olist_expected(days))


@pytest.mark.mysql
def test_olist_on_mariadb(mysql_olist, olist_expected, olist_check):
    for days in (30, 90):
        olist_check(run_funnel(Engine(mysql_olist), f"won_{days}d", grain="month", by=["origin"]),
                    olist_expected(days))


@pytest.mark.spark
def test_olist_on_spark(spark_olist, olist_expected, olist_check):
    olist_check(run_funnel(Engine(spark_olist), "won_90d", grain="month", by=["origin"]), olist_expected(90))


# ---------------------------------------------------------------------------- synthetic events, timestamps

SYNTH = """project: {{name: synth}}
sources:
  wh:
{source}models:
  events:
    table: events
    time: {time}
{time_format}    entity: uid
    dimensions: {{region: region}}
funnels:
  ordered:
    window: 40d
    breakdown: [region]
    steps:
      - {{name: a, model: events, filter: "kind = 'a'"}}
      - {{name: b, model: events, filter: "kind = 'b'", within: 10d}}
      - {{name: c, model: events, filter: "kind = 'c'"}}
  unordered:
    window: 40d
    ordered: false
    steps:
      - {{name: a, model: events, filter: "kind = 'a'"}}
      - {{name: b, model: events, filter: "kind = 'b'"}}
      - {{name: c, model: events, filter: "kind = 'c'"}}
"""


def synth_rows():
    rnd = random.Random(5)
    start = datetime(2026, 1, 1)
    rows = []
    for uid in range(300):
        region = rnd.choice(["east", "west", None])
        for kind, n in (("a", rnd.randint(1, 2)), ("b", rnd.randint(0, 3)), ("c", rnd.randint(0, 3))):
            for _ in range(n):
                rows.append((uid, start + timedelta(seconds=rnd.randint(0, 90 * 86400)), kind, region))
    return rows


def synth_spec(tmp_path, source: dict, text_time: bool = False):
    folder = tmp_path / f"synth_{source['type']}"
    folder.mkdir()
    (folder / "s.yml").write_text(SYNTH.format(
        source=_yaml_options(source), time="ts",
        time_format='    time_format: "%Y-%m-%d %H:%M:%S"\n' if text_time else ""))
    return load_project(folder)


def figures(project, name, view="cohort", grains=("week", "month")):
    out = {}
    for grain in grains:
        by = ["region"] if name == "ordered" else []
        r = run_funnel(Engine(project), name, grain=grain, by=by, view=view)
        out[grain] = {(row.period_start, tuple(row.dimensions.items())):
                      [(s.entities, s.median_seconds) for s in row.steps] for row in r.rows}
    return out


@pytest.fixture
def synth_duckdb(tmp_path):
    rows = synth_rows()
    db = tmp_path / "synth.duckdb"
    path = tmp_path / "synth.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows((u, t.isoformat(sep=" "), k, "" if r is None else r) for u, t, k, r in rows)
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE events AS SELECT * FROM read_csv(?, header = false, columns = "
                "{'uid': 'INTEGER', 'ts': 'TIMESTAMP', 'kind': 'VARCHAR', 'region': 'VARCHAR'})", [str(path)])
    con.close()
    return rows, path, synth_spec(tmp_path, {"type": "duckdb", "path": str(db)})


def assert_same(project, reference, grains=("week", "month")):
    for name in ("ordered", "unordered"):
        for view in ("cohort", "event"):
            assert figures(project, name, view, grains) == figures(reference, name, view, grains), (name, view)


@pytest.mark.postgres
def test_synthetic_funnels_same_on_postgres(synth_duckdb, pg_conn, postgres_source_options, tmp_path):
    rows, _, reference = synth_duckdb
    with pg_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS events")
        cur.execute("CREATE TABLE events (uid INTEGER, ts TIMESTAMP, kind TEXT, region TEXT)")
        with cur.copy("COPY events FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
    assert_same(synth_spec(tmp_path, {"type": "postgres", **postgres_source_options}), reference)


@pytest.mark.mysql
def test_synthetic_funnels_same_on_mariadb(synth_duckdb, mysql_conn, mysql_params, tmp_path):
    rows, _, reference = synth_duckdb
    with mysql_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS events")
        cur.execute("CREATE TABLE events (uid INTEGER, ts DATETIME, kind VARCHAR(4), region VARCHAR(10))")
        cur.executemany("INSERT INTO events VALUES (%s, %s, %s, %s)", rows)
    assert_same(synth_spec(tmp_path, {"type": "mysql", **mysql_params}), reference)


def test_synthetic_funnels_same_on_sqlite(synth_duckdb, tmp_path):
    import sqlite3

    rows, _, reference = synth_duckdb
    db = tmp_path / "synth.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE events (uid INTEGER, ts TEXT, kind TEXT, region TEXT)")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                    [(u, t.strftime("%Y-%m-%d %H:%M:%S"), k, r) for u, t, k, r in rows])
    con.commit()
    con.close()
    assert_same(synth_spec(tmp_path, {"type": "sqlite", "path": str(db)}), reference)


@pytest.mark.spark
def test_synthetic_funnels_same_on_spark(synth_duckdb, spark, tmp_path):
    rows, _, reference = synth_duckdb
    csv_path = tmp_path / "events_header.csv"  # Spark reads every column as text: times parsed by time_format
    with open(csv_path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["uid", "ts", "kind", "region"])
        out.writerows((u, t.strftime("%Y-%m-%d %H:%M:%S"), k, "" if r is None else r) for u, t, k, r in rows)
    tables = {"events": {"path": str(csv_path), "format": "csv", "options": {"header": True}}}
    project = synth_spec(tmp_path, {"type": "spark", "master": "local[2]", "tables": tables}, text_time=True)
    assert_same(project, reference, grains=("week",))  # one grain: Spark's per-query overhead is seconds


@pytest.mark.parametrize("fixture", [
    "olist_sqlite_project",
    pytest.param("pg_olist", marks=pytest.mark.postgres),
    pytest.param("mysql_olist", marks=pytest.mark.mysql),
])
def test_funnel_kpis_on_other_engines(fixture, request, olist_expected):
    import copy

    from kpiengine.analysis.funnels import attach_funnels

    project = copy.deepcopy(request.getfixturevalue(fixture))
    attach_funnels(project)
    rs = Engine(project).compute(["won_30d_lead", "won_30d_won_rate"], grain="month", by=["origin"])
    for (month, origin), (n_leads, n_won, _) in olist_expected(30).items():
        assert rs.value("won_30d_lead", month, origin=origin) == n_leads
        assert rs.value("won_30d_won_rate", month, origin=origin) == pytest.approx(n_won / n_leads)
