"""Connector overhead: Source.execute against the bare driver's fetchall, on the same query.

A connector adds a timeout statement (PostgreSQL SET LOCAL, MariaDB
max_statement_time, SQLite progress handler) and error mapping around the
driver; this prints what that costs per query and for a large result, so a
regression (say, a second copy of the rows) shows up as a number.

    .venv/bin/python bench/bench_sources.py [--rows 200000] [--repeat 5]

Servers that are not reachable are reported and skipped. Runs alternate between
the bare driver and the connector, and medians are printed, so load from other
processes on a shared machine hits both alike.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time

NAMESPACE = f"kpibench_{os.getpid()}"
QUERY = "SELECT id, region, amount FROM bench_rows"
SMALL = "SELECT count(*), sum(amount) FROM bench_rows WHERE id < 100"


def rows(n: int):
    return [(i, ("east", "west", None)[i % 3], i * 0.25) for i in range(n)]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(label: str, bare, source, repeat: int) -> None:
    bare_t, src_t = [], []
    for _ in range(repeat):
        bare_t.append(timed(bare))
        src_t.append(timed(source))
    b, s = statistics.median(bare_t), statistics.median(src_t)
    print(f"  {label:<34} driver {b * 1000:9.2f} ms   connector {s * 1000:9.2f} ms   "
          f"overhead {(s - b) * 1000:+8.2f} ms ({(s / b - 1) * 100:+6.1f} %)")


def bench_sqlite(n: int, repeat: int) -> None:
    from kpiengine_plugins.sqlite_source import SQLiteSource

    path = os.path.join(tempfile.mkdtemp(), "bench.sqlite")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE bench_rows (id INTEGER, region TEXT, amount REAL)")
    con.executemany("INSERT INTO bench_rows VALUES (?, ?, ?)", rows(n))
    con.commit()
    src = SQLiteSource("bench", {"path": path})
    src.connect()
    print("sqlite")
    for label, sql in ((f"fetch {n} rows", QUERY), ("small aggregate", SMALL)):
        compare(label, lambda: con.execute(sql).fetchall(), lambda: src.execute(sql, timeout=60), repeat)
    t = timed(lambda: SQLiteSource("bench", {"path": path}).connect())
    print(f"  connect {t * 1000:.2f} ms")
    src.close()
    con.close()


def bench_postgres(n: int, repeat: int) -> None:
    import psycopg

    from kpiengine_plugins.postgres_source import PostgresSource

    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True,
                                connect_timeout=3)
    except psycopg.Error as exc:
        print(f"postgres: skipped, not reachable ({str(exc).strip()})")
        return
    admin.execute(f"CREATE SCHEMA {NAMESPACE}")
    try:
        admin.execute(f"CREATE TABLE {NAMESPACE}.bench_rows (id int, region text, amount double precision)")
        with admin.cursor().copy(f"COPY {NAMESPACE}.bench_rows FROM STDIN") as copy:
            for row in rows(n):
                copy.write_row(row)
        options = {"host": "127.0.0.1", "dbname": "test", "user": "postgres", "search_path": NAMESPACE}
        src = PostgresSource("bench", options)
        src.connect()
        bare = psycopg.connect(f"host=127.0.0.1 dbname=test user=postgres options='-c search_path={NAMESPACE}'",
                               autocommit=True)
        print("postgres")
        for label, sql in ((f"fetch {n} rows", QUERY), ("small aggregate", SMALL)):
            compare(label, lambda: bare.execute(sql).fetchall(), lambda: src.execute(sql, timeout=60), repeat)
        t = timed(lambda: PostgresSource("bench", options).connect())
        print(f"  connect {t * 1000:.2f} ms")
        src.close()
        bare.close()
    finally:
        admin.execute(f"DROP SCHEMA {NAMESPACE} CASCADE")
        admin.close()


def bench_mariadb(n: int, repeat: int) -> None:
    import pymysql

    from kpiengine_plugins.mysql_source import MySQLSource

    try:
        admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True, connect_timeout=3)
    except pymysql.MySQLError as exc:
        print(f"mariadb: skipped, not reachable ({exc})")
        return
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE {NAMESPACE}")
    try:
        cur.execute(f"CREATE TABLE {NAMESPACE}.bench_rows (id INT, region VARCHAR(10), amount DOUBLE)")
        cur.executemany(f"INSERT INTO {NAMESPACE}.bench_rows VALUES (%s, %s, %s)", rows(n))
        options = {"host": "127.0.0.1", "user": "root", "password": "", "database": NAMESPACE}
        src = MySQLSource("bench", options)
        src.connect()
        bare = pymysql.connect(**options, autocommit=True)

        def bare_fetch(sql):
            with bare.cursor() as c:
                c.execute(sql)
                return c.fetchall()

        print("mariadb")
        for label, sql in ((f"fetch {n} rows", QUERY), ("small aggregate", SMALL)):
            compare(label, lambda: bare_fetch(sql), lambda: src.execute(sql, timeout=60), repeat)
        t = timed(lambda: MySQLSource("bench", options).connect())
        print(f"  connect {t * 1000:.2f} ms")
        src.close()
        bare.close()
    finally:
        cur.execute(f"DROP DATABASE {NAMESPACE}")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"median of {args.repeat} alternating runs; every connector query carries a 60 s timeout")
    bench_sqlite(args.rows, args.repeat)
    bench_postgres(args.rows, args.repeat)
    bench_mariadb(args.rows, args.repeat)


if __name__ == "__main__":
    main()
