"""A star schema, loaded identically into DuckDB, SQLite, PostgreSQL, MariaDB and Spark.

Two fact tables (``deals`` with a rep and a lead, ``visits`` with a rep) and
two dimension tables without a time column (``reps``: team and region;
``leads``: origin and the lead's own rep). The rows are chosen to hit what a
join can get wrong: a deal whose ``rep_id`` is NULL, a deal whose ``rep_id``
(99) and one whose ``lead_id`` (77) match no row, a rep whose team is NULL
(a NULL that comes from the dimension table, not from the key), a lead with
no rep (so the two-hop path ``lead.rep.team`` meets a NULL in the middle),
and facts on both sides of a week and a month boundary.

Every table is named ``sj_<name>``: the PostgreSQL schema and the MariaDB
database of a test session are shared with other tests.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
import yaml

REPS = [  # rep_id, name, team, region
    (1, "Ann", "a", "east"), (2, "Bob", "a", "west"), (3, "Cho", "b", "east"), (4, "Dee", None, "west"),
]
LEADS = [  # lead_id, origin, rep_id
    (10, "ads", 1), (11, "event", 3), (12, "referral", 2), (13, "ads", None), (14, None, 4),
]
STAGES = ["won", "lost", "open"]
FIRST = datetime(2026, 1, 19, 0, 0, 0)  # a Monday; 4 weeks reach into February


def _deals() -> list[tuple]:
    rng = random.Random(20260119)
    rows = []
    for i in range(1, 121):
        rep = rng.choice([1, 2, 3, 4, None, 99])  # None: no rep; 99: no such rep
        lead = rng.choice([10, 11, 12, 13, 14, None, 77])  # None: no lead; 77: no such lead
        ts = FIRST + timedelta(days=rng.randrange(28), seconds=rng.choice([0, 59, 3600 * 12, 86399]))
        rows.append((i, rep, lead, rng.choice(STAGES), rng.randrange(1, 500) * 10, rng.choice(["east", "west"]),
                     ts))
    return rows


def _visits() -> list[tuple]:
    rng = random.Random(7)
    return [(i, rng.choice([1, 2, 3, 4, None, 99]),
             FIRST + timedelta(days=rng.randrange(28), seconds=rng.randrange(86400))) for i in range(1, 301)]


DEALS = _deals()
VISITS = _visits()
TABLES = {
    "reps": (["rep_id", "name", "team", "region"], REPS),
    "leads": (["lead_id", "origin", "rep_id"], LEADS),
    "deals": (["deal_id", "rep_id", "lead_id", "stage", "amount", "region", "created_at"], DEALS),
    "visits": (["visit_id", "rep_id", "ts"], VISITS),
}
TYPES = {  # per engine: integer, text, timestamp
    "duckdb": ("INTEGER", "VARCHAR", "TIMESTAMP"),
    "sqlite": ("INTEGER", "TEXT", "TEXT"),
    "postgres": ("int", "text", "timestamp"),
    "mysql": ("INT", "VARCHAR(20)", "DATETIME"),
}
_KIND = {"rep_id": 0, "lead_id": 0, "deal_id": 0, "visit_id": 0, "amount": 0, "created_at": 2, "ts": 2}

# -- the spec under test ---------------------------------------------------------------------------
MODELS = {
    "deals": {"table": "sj_deals", "time": "created_at",
              "entities": {"deal": {"type": "primary"}, "rep": {"type": "foreign"},
                           "lead": {"type": "foreign"}},
              "dimensions": {"stage": "stage", "region": "region"}},
    "visits": {"table": "sj_visits", "time": "ts",
               "entities": {"visit": {"type": "primary"}, "rep": {"type": "foreign", "key": "rep_id"}}},
    "reps": {"table": "sj_reps", "entities": {"rep": {"type": "primary", "key": ["rep_id"]}},
             "dimensions": {"team": "team", "region": "region", "name": "upper(name)"}},
    "leads": {"table": "sj_leads", "entities": {"lead": {"type": "primary"}, "rep": {"type": "foreign"}},
              "dimensions": {"origin": "origin"}},
}
KPIS = {
    "deals": {"model": "deals", "aggregate": "count"},
    "deals_won": {"model": "deals", "aggregate": "count", "filter": "stage = 'won'"},
    "won_amount": {"model": "deals", "aggregate": "sum", "column": "amount", "filter": "stage = 'won'"},
    "visits": {"model": "visits", "aggregate": "count"},
    "win_per_visit": {"formula": "deals_won / visits"},
}


def write_star_spec(folder, source: dict, models: dict = MODELS, kpis: dict = KPIS) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"project": {"name": "star", "default_source": "wh"}, "sources": {"wh": source}, "models": models,
            "kpis": {name: {"label": name, **body} for name, body in kpis.items()}}
    (folder / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return str(folder)


def _ddl(engine: str, columns: list[str]) -> str:
    types = TYPES[engine]
    return ", ".join(f"{c} {types[_KIND.get(c, 1)]}" for c in columns)


def _rows(engine: str, rows: list[tuple]) -> list[tuple]:
    if engine != "sqlite":
        return rows
    return [tuple(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in r) for r in rows]


# -- warehouses -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def star_duckdb(tmp_path_factory) -> dict:
    """A DuckDB file with the star schema, and Parquet copies of its tables (for Spark)."""
    import duckdb

    folder = tmp_path_factory.mktemp("star_duckdb")
    path = str(folder / "star.duckdb")
    con = duckdb.connect(path)
    parquet = {}
    for name, (columns, rows) in TABLES.items():
        con.execute(f"CREATE TABLE sj_{name} ({_ddl('duckdb', columns)})")
        con.executemany(f"INSERT INTO sj_{name} VALUES ({', '.join('?' * len(columns))})", rows)
        parquet[f"sj_{name}"] = str(folder / f"{name}.parquet")
        con.execute(f"COPY sj_{name} TO '{parquet[f'sj_{name}']}' (FORMAT parquet)")
    con.close()
    return {"path": path, "parquet": parquet}


@pytest.fixture(scope="session")
def star_sqlite(tmp_path_factory) -> str:
    import sqlite3

    path = str(tmp_path_factory.mktemp("star_sqlite") / "star.sqlite")
    con = sqlite3.connect(path)
    for name, (columns, rows) in TABLES.items():
        con.execute(f"CREATE TABLE sj_{name} ({_ddl('sqlite', columns)})")
        con.executemany(f"INSERT INTO sj_{name} VALUES ({', '.join('?' * len(columns))})", _rows("sqlite", rows))
    con.commit()
    con.close()
    return path


@pytest.fixture(scope="session")
def star_postgres(postgres_dsn, postgres_source_options) -> dict:
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        for name, (columns, rows) in TABLES.items():
            con.execute(f"DROP TABLE IF EXISTS sj_{name}")
            con.execute(f"CREATE TABLE sj_{name} ({_ddl('postgres', columns)})")
            with con.cursor() as cur:
                cur.executemany(f"INSERT INTO sj_{name} VALUES ({', '.join(['%s'] * len(columns))})", rows)
    return postgres_source_options


@pytest.fixture(scope="session")
def star_mysql(mysql_params) -> dict:
    import pymysql

    with pymysql.connect(**mysql_params, autocommit=True) as con, con.cursor() as cur:
        for name, (columns, rows) in TABLES.items():
            cur.execute(f"DROP TABLE IF EXISTS sj_{name}")
            cur.execute(f"CREATE TABLE sj_{name} ({_ddl('mysql', columns)})")
            cur.executemany(f"INSERT INTO sj_{name} VALUES ({', '.join(['%s'] * len(columns))})", rows)
    return mysql_params
