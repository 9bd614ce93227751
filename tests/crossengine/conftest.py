"""One deterministic data set, loaded identically into DuckDB, SQLite, PostgreSQL, MariaDB and Spark.

The rows are built with ``random.Random(SEED)`` so every run and every engine
sees exactly the same data, chosen to hit the places engines disagree on:
timestamps one second either side of midnight, Sundays next to Mondays (week
boundaries), a year boundary, NULL dimension values, NULL times and values,
text dates written day-first (``31-01-2026``, and ``05-01-2026`` which a
month-first reading would misplace), and a region (``north``) that has deals
but no visits, so ``deals / visits`` divides by zero there.
"""
from __future__ import annotations

import csv
import random
import sys
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest

# The harness's spec and reference (test_same_numbers.py) are shared with test_one_statement.py.
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

SEED = 20260105
FIRST_DAY = datetime(2025, 12, 22)  # a Monday; 75 days reach into March across a year boundary
DAYS = 75
REGIONS = ["east", "west", "south", None]
CHANNELS = ["web", "mobile", "partner", None]
STAGES = ["won", "lost", "open"]


@dataclass(frozen=True)
class Visit:
    visit_id: int
    lead_id: int | None
    region: str | None
    channel: str | None
    ts: datetime | None
    duration: float | None


@dataclass(frozen=True)
class Deal:
    deal_id: int
    region: str | None
    stage: str
    amount: Decimal
    ts: datetime


@dataclass(frozen=True)
class Lead:
    lead_id: int
    region: str | None
    source: str | None
    created: str  # day-first text date, "%d-%m-%Y"


@dataclass(frozen=True)
class DataSet:
    visits: list[Visit]
    deals: list[Deal]
    leads: list[Lead]


def _instant(rng: random.Random) -> datetime:
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    if rng.random() < 0.25:  # pull to a Sunday or the Monday after it: week boundaries
        monday = day - timedelta(days=day.weekday())
        day = monday + timedelta(days=rng.choice([-1, 0, 6, 7]))
    r = rng.random()
    if r < 0.15:
        clock = time(23, 59, 59)
    elif r < 0.30:
        clock = time(0, 0, 0)
    elif r < 0.40:
        clock = time(23, rng.randrange(30, 60), rng.randrange(60))
    elif r < 0.45:
        clock = time(0, rng.randrange(0, 30), rng.randrange(60))
    else:
        clock = time(rng.randrange(24), rng.randrange(60), rng.randrange(60))
    return datetime.combine(day.date(), clock)


def make_dataset(seed: int = SEED) -> DataSet:
    rng = random.Random(seed)
    visits = [Visit(visit_id=i,
                    lead_id=None if rng.random() < 0.03 else rng.randrange(1, 700),
                    region=rng.choice(REGIONS),
                    channel=rng.choice(CHANNELS),
                    ts=None if rng.random() < 0.01 else _instant(rng),
                    duration=None if rng.random() < 0.05 else round(rng.uniform(0.5, 120.0), 2))
              for i in range(1, 3001)]
    deals = [Deal(deal_id=i,
                  region=rng.choice(REGIONS + ["north"]),
                  stage=rng.choice(STAGES),
                  amount=Decimal(rng.randrange(1_000, 500_000)) / 100,
                  ts=_instant(rng))
             for i in range(1, 801)]
    leads = [Lead(lead_id=i, region=rng.choice(REGIONS), source=rng.choice(["ads", "event", "referral", None]),
                  created=_instant(rng).strftime("%d-%m-%Y"))
             for i in range(1, 1501)]
    return DataSet(visits, deals, leads)


def _tuples(data: DataSet, *, ts_text: bool = False, amount_float: bool = False) -> dict[str, list[tuple]]:
    def ts(value):
        return value.isoformat(sep=" ") if (ts_text and value is not None) else value

    return {
        "visits": [(v.visit_id, v.lead_id, v.region, v.channel, ts(v.ts), v.duration) for v in data.visits],
        "deals": [(d.deal_id, d.region, d.stage, float(d.amount) if amount_float else d.amount, ts(d.ts))
                  for d in data.deals],
        "leads": [(ld.lead_id, ld.region, ld.source, ld.created) for ld in data.leads],
    }


# Tables are named ce_<name> everywhere: the PostgreSQL schema and MariaDB database of a test
# session are shared with other tests, which may have their own "visits".
# Column types per engine, in the column order of _tuples().
DDL = {
    "duckdb": {"visits": "visit_id INTEGER, lead_id INTEGER, region VARCHAR, channel VARCHAR, ts TIMESTAMP, "
                         "duration DOUBLE",
               "deals": "deal_id INTEGER, region VARCHAR, stage VARCHAR, amount DECIMAL(12,2), ts TIMESTAMP",
               "leads": "lead_id INTEGER, region VARCHAR, source VARCHAR, created VARCHAR"},
    "sqlite": {"visits": "visit_id INTEGER, lead_id INTEGER, region TEXT, channel TEXT, ts TEXT, duration REAL",
               "deals": "deal_id INTEGER, region TEXT, stage TEXT, amount REAL, ts TEXT",
               "leads": "lead_id INTEGER, region TEXT, source TEXT, created TEXT"},
    "postgres": {"visits": "visit_id int, lead_id int, region text, channel text, ts timestamp, "
                           "duration double precision",
                 "deals": "deal_id int, region text, stage text, amount numeric(12,2), ts timestamp",
                 "leads": "lead_id int, region text, source text, created text"},
    "mysql": {"visits": "visit_id INT, lead_id INT, region VARCHAR(20), channel VARCHAR(20), ts DATETIME, "
                        "duration DOUBLE",
              "deals": "deal_id INT, region VARCHAR(20), stage VARCHAR(20), amount DECIMAL(12,2), ts DATETIME",
              "leads": "lead_id INT, region VARCHAR(20), source VARCHAR(20), created VARCHAR(10)"},
}


@pytest.fixture(scope="session")
def dataset() -> DataSet:
    return make_dataset()


@pytest.fixture(scope="session")
def duckdb_warehouse(dataset, tmp_path_factory) -> dict:
    """A DuckDB file with the three tables, plus Parquet copies of them (for Spark)."""
    import duckdb

    folder = tmp_path_factory.mktemp("crossengine_duckdb")
    path = folder / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    parquet = {}
    for table, rows in _tuples(dataset).items():
        con.execute(f"CREATE TABLE ce_{table} ({DDL['duckdb'][table]})")
        # Through a CSV file: DuckDB's executemany takes half a minute for these few thousand rows.
        # The data has no empty strings, so an empty field can only mean NULL.
        staging = folder / f"{table}.csv"
        with open(staging, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in row] for row in rows])
        con.execute(f"COPY ce_{table} FROM '{staging}' (HEADER false, NULLSTR '')")
        assert con.execute(f"SELECT count(*) FROM ce_{table}").fetchone()[0] == len(rows)
        parquet[f"ce_{table}"] = str(folder / f"{table}.parquet")
        con.execute(f"COPY ce_{table} TO '{parquet[f'ce_{table}']}' (FORMAT parquet)")
    con.close()
    return {"path": str(path), "parquet": parquet}


@pytest.fixture(scope="session")
def sqlite_warehouse(dataset, tmp_path_factory) -> str:
    import sqlite3

    path = tmp_path_factory.mktemp("crossengine_sqlite") / "warehouse.sqlite"
    con = sqlite3.connect(path)
    for table, rows in _tuples(dataset, ts_text=True, amount_float=True).items():
        con.execute(f"CREATE TABLE ce_{table} ({DDL['sqlite'][table]})")
        con.executemany(f"INSERT INTO ce_{table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.commit()
    con.close()
    return str(path)


@pytest.fixture(scope="session")
def postgres_warehouse(dataset, postgres_dsn, postgres_source_options) -> dict:
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        for table, rows in _tuples(dataset).items():
            con.execute(f"DROP TABLE IF EXISTS ce_{table}")
            con.execute(f"CREATE TABLE ce_{table} ({DDL['postgres'][table]})")
            with con.cursor() as cur, cur.copy(f"COPY ce_{table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    return postgres_source_options


@pytest.fixture(scope="session")
def mysql_warehouse(dataset, mysql_params) -> dict:
    import pymysql

    with pymysql.connect(**mysql_params, autocommit=True) as con, con.cursor() as cur:
        for table, rows in _tuples(dataset).items():
            cur.execute(f"DROP TABLE IF EXISTS ce_{table}")
            cur.execute(f"CREATE TABLE ce_{table} ({DDL['mysql'][table]})")
            cur.executemany(f"INSERT INTO ce_{table} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)
    return mysql_params
