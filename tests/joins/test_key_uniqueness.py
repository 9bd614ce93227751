"""`kpi validate --connect` checks that a primary or unique key a join relies on is unique in the data.

A ``reps`` table with rep 3 on two rows would make ``--by rep.team`` count each of rep 3's deals
twice. The check is one query per such model (GROUP BY the key HAVING COUNT(*) > 1); the error
sits at the entity's line and names the duplicated value and how many rows hold it. Real DuckDB,
SQLite, PostgreSQL and MariaDB; a table without duplicates (and NULL keys, which never join) passes.
"""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from kpiengine.cli import main

REPS = [(1, "a"), (2, "b"), (3, "b"), (3, "c"), (None, "x"), (None, "y")]  # rep 3 twice; NULL keys never join
DEALS = [(1, 1), (2, 3), (3, 3), (4, None)]
ENGINES = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("mariadb", marks=pytest.mark.mysql)]


def _tables(engine, request, tmp_path, reps) -> dict:
    ddl = ["CREATE TABLE ku_reps (rep_id INT, team VARCHAR(5))",
           "CREATE TABLE ku_deals (deal_id INT, rep_id INT, created_at " +
           ("TEXT" if engine == "sqlite" else "DATETIME" if engine == "mariadb" else "TIMESTAMP") + ")"]
    deals = [(d, r, "2026-01-05 10:00:00") for d, r in DEALS]
    if engine in ("duckdb", "sqlite"):
        import sqlite3

        import duckdb

        path = str(tmp_path / f"w.{engine}")
        con = (duckdb if engine == "duckdb" else sqlite3).connect(path)
        for stmt in ddl:
            con.execute(stmt)
        con.executemany("INSERT INTO ku_reps VALUES (?, ?)", reps)
        con.executemany("INSERT INTO ku_deals VALUES (?, ?, ?)", deals)
        con.commit()
        con.close()
        return {"type": engine, "path": path}
    if engine == "postgres":
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgres_dsn"), autocommit=True) as con:
            for stmt in ["DROP TABLE IF EXISTS ku_reps", "DROP TABLE IF EXISTS ku_deals", *ddl]:
                con.execute(stmt)
            con.cursor().executemany("INSERT INTO ku_reps VALUES (%s, %s)", reps)
            con.cursor().executemany("INSERT INTO ku_deals VALUES (%s, %s, %s)", deals)
        return {"type": "postgres", **request.getfixturevalue("postgres_source_options")}
    import pymysql

    params = request.getfixturevalue("mysql_params")
    with pymysql.connect(**params, autocommit=True) as con, con.cursor() as cur:
        for stmt in ["DROP TABLE IF EXISTS ku_reps", "DROP TABLE IF EXISTS ku_deals", *ddl]:
            cur.execute(stmt)
        cur.executemany("INSERT INTO ku_reps VALUES (%s, %s)", reps)
        cur.executemany("INSERT INTO ku_deals VALUES (%s, %s, %s)", deals)
    return {"type": "mysql", **params}


def _validate(tmp_path, source) -> tuple[int, str, str]:
    spec = {"project": {"name": "keys", "default_source": "wh"}, "sources": {"wh": source},
            "models": {"deals": {"table": "ku_deals", "time": "created_at",
                                 "entities": {"deal": {"type": "primary"}, "rep": {"type": "foreign"}}},
                       "reps": {"table": "ku_reps", "entities": {"rep": {"type": "primary"}},
                                "dimensions": {"team": "team"}}},
            "kpis": {"deals": {"label": "Deals", "model": "deals", "aggregate": "count"}}}
    text = yaml.safe_dump(spec, sort_keys=False)
    (tmp_path / "spec.yml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--connect", "-s", str(tmp_path)], catch_exceptions=False)
    return result.exit_code, result.output, text


@pytest.mark.parametrize("engine", ENGINES)
def test_a_duplicated_primary_key_is_a_located_error_naming_the_value(engine, request, tmp_path):
    code, output, text = _validate(tmp_path, _tables(engine, request, tmp_path, REPS))
    assert code != 0, output
    lines = text.splitlines()
    in_reps = lines.index("  reps:")
    line = next(i for i, x in enumerate(lines, 1) if i > in_reps + 1 and x.strip().startswith("rep:"))
    assert f"spec.yml:{line}" in output, output
    assert "entity 'rep' is declared primary, but rep_id = 3 is on 2 rows" in output, output
    assert "would count each matching fact 2 times" in output and "1 problem(s) found" in output


@pytest.mark.parametrize("engine", ENGINES)
def test_unique_keys_pass(engine, request, tmp_path):
    code, output, _text = _validate(tmp_path, _tables(engine, request, tmp_path, [r for r in REPS if r != (3, "c")]))
    assert code == 0, output


def test_a_funnel_entry_key_is_checked_too(tmp_path):
    """A funnel whose first step reads a primary entity takes that row as the entity's first entry
    (no ROW_NUMBER over the entries): a duplicated lead would enter twice, so it is checked as well."""
    import duckdb

    path = str(tmp_path / "f.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE fl_leads (lead_id INT, created_at TIMESTAMP, region VARCHAR)")
    con.execute("CREATE TABLE fl_visits (lead_id INT, happened_at TIMESTAMP)")
    con.executemany("INSERT INTO fl_leads VALUES (?, ?, ?)", [(1, "2026-01-05 09:00", "east"), (2, "2026-01-05 10:00", None),
                                                             (2, "2026-01-06 10:00", "west")])
    con.execute("INSERT INTO fl_visits VALUES (1, '2026-01-07 09:00')")
    con.close()
    spec = {"project": {"name": "fk", "default_source": "wh"}, "sources": {"wh": {"type": "duckdb", "path": path}},
            "models": {"leads": {"table": "fl_leads", "time": "created_at", "entity": "lead_id",
                                 "entities": {"lead": {"type": "primary"}}, "dimensions": {"region": "region"}},
                       "visits": {"table": "fl_visits", "time": "happened_at", "entity": "lead_id"}},
            "funnels": {"f": {"label": "F", "entity": "lead", "window": "30d", "breakdown": ["region"],
                              "steps": [{"name": "lead", "model": "leads"},
                                        {"name": "visit", "model": "visits", "entity": "lead_id"}]}},
            "kpis": {"leads": {"label": "Leads", "model": "leads", "aggregate": "count"}}}
    (tmp_path / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--connect", "-s", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code != 0, result.output
    assert "entity 'lead' is declared primary, but lead_id = 2 is on 2 rows" in result.output, result.output
