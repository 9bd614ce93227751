"""kpi init writes expressions in the project's SQL dialect: a MariaDB column that needs quotes is quoted
"like this" (DuckDB, the default sql_dialect), and the spec validates and runs on MariaDB unchanged."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from kpiengine.cli import main

ROWS = [(i, datetime(2026, 3, 2, 9) + timedelta(hours=13 * i), ["north", "south", None][i % 3]) for i in range(1, 41)]


@pytest.mark.mysql
def test_kpi_init_on_mariadb_quotes_in_the_spec_dialect(mysql_conn, mysql_params, tmp_path):
    with mysql_conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sj_init_orders")
        cur.execute("CREATE TABLE sj_init_orders (`order id` INT, `placed at` DATETIME, `sales region` VARCHAR(20))")
        cur.executemany("INSERT INTO sj_init_orders VALUES (%s, %s, %s)", ROWS)
    folder = tmp_path / "specs"
    options = [a for k in ("host", "port", "user", "database") for a in ("-o", f"{k}={mysql_params[k]}")]
    options += ["-o", "password=${KPI_TEST_MY_PASSWORD:-}"]  # a secret is always an environment reference
    run = CliRunner().invoke(main, ["init", str(folder), "--source", "mysql", *options, "--table", "sj_init_orders"])
    assert run.exit_code == 0, run.output
    models = (folder / "models.yml").read_text(encoding="utf-8")
    body = [line for line in models.splitlines() if not line.lstrip().startswith("#")]
    assert 'time: "\\"placed at\\""' in body[3] and not any("`" in line for line in body), models
    valid = CliRunner().invoke(main, ["validate", "--connect", "-s", str(folder)])
    assert valid.exit_code == 0, valid.output
    listed = json.loads(CliRunner().invoke(main, ["list", "dimensions", "-s", str(folder), "--format", "json"]).output)
    dim = next(d["name"] for d in listed if "region" in d["name"])
    out = CliRunner().invoke(main, ["run", "-s", str(folder), "--no-history", "--format", "json", "--grain", "year",
                                    "--by", dim, "--kpi", "sj_init_orders_count"])
    assert out.exit_code == 0, out.output
    got = {r["dimensions"][dim]: r["value"] for r in json.loads(out.output)["rows"]}
    assert got == dict(Counter(r[2] for r in ROWS))
