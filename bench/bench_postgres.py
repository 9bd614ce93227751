"""PostgreSQL: Engine.compute against the hand-written single-pass SQL on the same server.

    .venv/bin/python bench/bench_postgres.py [--rows 10000000] [--repeat 3] [--db FILE]

The benchmark tables (bench_engine.generate) are copied into a schema of their
own on the local server (127.0.0.1:5432, user postgres, db test), ANALYZEd,
and the 18-KPI spec is computed by week x region, alternating with the
hand-written queries (run through psycopg and fetched, formulas in Python).
The schema is dropped at the end. Values are compared.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402 - the shared data generator, spec and hand-written SQL

SCHEMA = f"kpibench_{os.getpid()}"
DSN = f"host=127.0.0.1 port=5432 dbname=test user=postgres options='-c search_path={SCHEMA}'"


def load(duck: str, tmp: Path) -> None:
    import duckdb
    import psycopg

    con = duckdb.connect(duck, read_only=True)
    with psycopg.connect(DSN.replace(f" options='-c search_path={SCHEMA}'", ""), autocommit=True) as pg:
        pg.execute(f"CREATE SCHEMA {SCHEMA}")
        for table in ("leads", "activities", "deals"):
            cols = con.execute(f"DESCRIBE {table}").fetchall()
            types = {"BIGINT": "bigint", "INTEGER": "integer", "TIMESTAMP": "timestamp", "VARCHAR": "text",
                     "DECIMAL(12,2)": "numeric(12,2)"}
            pg.execute(f"CREATE TABLE {SCHEMA}.{table} ({', '.join(f'{c[0]} {types[c[1]]}' for c in cols)})")
            csv = tmp / f"{table}.csv"
            con.execute(f"COPY {table} TO '{csv}' (HEADER false)")
            with pg.cursor().copy(f"COPY {SCHEMA}.{table} FROM STDIN (FORMAT csv)") as copy, open(csv, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            csv.unlink()
            pg.execute(f"ANALYZE {SCHEMA}.{table}")
    con.close()


def hand(repeat_sql: list[str]):
    import psycopg

    def run():
        with psycopg.connect(DSN) as pg:
            return sum(len(pg.execute(sql).fetchall()) for sql in repeat_sql)
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", default=None, help="a database made by bench_engine.generate (same --rows)")
    args = ap.parse_args(argv)
    import psycopg

    from kpiengine.engine import Engine
    from kpiengine.loader import load_project

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="kpibench-pg-") as tmp_name:
        tmp = Path(tmp_name)
        duck = args.db or str(tmp / "bench.duckdb")
        if not args.db:
            bench_engine.generate(duck, args.rows)
        try:
            t0 = time.perf_counter()
            load(duck, tmp)
            print(f"copied into PostgreSQL schema {SCHEMA} in {time.perf_counter() - t0:.0f} s")
            spec = tmp / "spec"
            spec.mkdir()
            bench_engine.write_bench_spec(spec, duck, None)
            text = (spec / "bench.yml").read_text().replace(
                f"    type: duckdb\n    path: {duck}\n", f"    type: postgres\n    dsn: \"{DSN}\"\n")
            for table in ("leads", "activities", "deals"):
                text = text.replace(f"    table: {table}\n", f"    table: {SCHEMA}.{table}\n")
            (spec / "bench.yml").write_text(text)
            engine = Engine(load_project(spec))
            sides = {"engine": lambda: engine.compute(None, "week", ["region"]),
                     "hand": hand(list(bench_engine.HAND_SQL.values()))}
            for fn in sides.values():
                fn()
            times: dict[str, list[float]] = {k: [] for k in sides}
            result = None
            for _ in range(args.repeat):
                for name, fn in sides.items():
                    t = time.perf_counter()
                    out = fn()
                    times[name].append(time.perf_counter() - t)
                    if name == "engine":
                        result = out
            e, h = statistics.median(times["engine"]), statistics.median(times["hand"])
            # each round's own ratio as well: the server's speed drifts between rounds (its caches, a
            # checkpoint, autovacuum), and both sides of one round see about the same
            paired = statistics.median(a / b for a, b in zip(times["engine"], times["hand"]))
            reference = bench_engine.run_hand_written(duck, None)
            compared, bad = bench_engine.compare(result.rows, reference)
            print(f"PostgreSQL {args.rows:,} activities, Engine.compute {e:.3f} s, hand-written SQL {h:.3f} s, "
                  f"ratio {e / h:.2f}x, median of each round's ratio {paired:.2f}x over {args.repeat} rounds "
                  f"(target <= 1.0x); values agree with DuckDB's hand SQL: {not bad} "
                  f"({compared:,})")
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL not reachable: {exc}".strip())
        finally:
            try:
                with psycopg.connect(DSN.replace(f" options='-c search_path={SCHEMA}'", ""), autocommit=True) as pg:
                    pg.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            except psycopg.OperationalError:
                pass
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
