"""The first hour of a new user (issue 18): kpi init, kpi list, validate --connect, and messages that teach.

Every message is checked for its text and its file:line; kpi init is run
against real DuckDB, SQLite and PostgreSQL warehouses and the spec it writes
must validate and give the numbers computed here in plain Python.
"""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.dashboard.options import NULL_TEXT
from kpiengine.formatting import NULL_DISPLAY

START = datetime(2026, 3, 2, 9, 0)  # a Monday
ORDERS = [(i, START + timedelta(hours=13 * i), ["north", "south", "east"][i % 3], "paid" if i % 4 else "open",
           f"user{i}@example.com", Decimal(i * 7) / 4) for i in range(1, 61)]


def kpi(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def expected_by_week():
    count, total = defaultdict(int), defaultdict(Decimal)
    for _id, ts, _region, _status, _email, amount in ORDERS:
        monday = (ts.date() - timedelta(days=ts.weekday())).isoformat()
        count[monday] += 1
        total[monday] += amount
    return dict(count), {k: float(v) for k, v in total.items()}


def _duckdb(tmp_path):
    import duckdb

    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (order_id INTEGER, created_at TIMESTAMP, region VARCHAR, status VARCHAR, "
                "email VARCHAR, amount DECIMAL(10, 2))")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", ORDERS)
    con.execute("CREATE TABLE notes (id INTEGER, body VARCHAR)")  # no time column: skipped
    con.close()
    return ["duckdb", "-o", f"path={path}"]


def _sqlite(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (order_id INTEGER, created_at TIMESTAMP, region TEXT, status TEXT, "
                "email TEXT, amount REAL)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                    [(i, ts.strftime("%Y-%m-%d %H:%M:%S"), r, s, e, float(a)) for i, ts, r, s, e, a in ORDERS])
    con.commit()
    con.close()
    return ["sqlite", "-o", f"path={path}"]


def _postgres(request):
    options = request.getfixturevalue("postgres_source_options")
    con = request.getfixturevalue("pg_conn")
    con.execute("DROP TABLE IF EXISTS orders")
    con.execute("CREATE TABLE orders (order_id integer, created_at timestamp, region text, status text, "
                "email text, amount numeric(10, 2))")
    with con.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s)", ORDERS)
    args = ["postgres"]
    for key in ("host", "port", "dbname", "user", "search_path"):
        args += ["-o", f"{key}={options[key]}"]
    return args + ["-o", "password=${KPI_TEST_PG_PASSWORD:-}"]


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kpi_init_writes_a_spec_that_validates_and_runs(engine, tmp_path, request):
    source = {"duckdb": _duckdb, "sqlite": _sqlite}.get(engine, lambda _: _postgres(request))(tmp_path)
    folder = tmp_path / "specs"
    # the test schema of PostgreSQL is shared with other tests: pick the table (what a user does, too)
    out = kpi("init", folder, "--source", *source, *(["--table", "orders"] if engine == "postgres" else []))
    assert out.exit_code == 0, out.output
    models = (folder / "models.yml").read_text(encoding="utf-8")
    assert "time: created_at" in models and "entity: order_id" in models
    assert "region: region" in models and "status: status" in models
    assert "too many distinct values): email" in models  # a unique column is no breakdown
    project_yml = (folder / "project.yml").read_text(encoding="utf-8")
    assert "# `kpi plugins --options" in project_yml
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[1:] == [".kpiengine/", "report.html"]
    if engine == "postgres":
        assert 'password: "${KPI_TEST_PG_PASSWORD:-}"' in project_yml  # a reference, written as given
        assert "# sslmode:" in project_yml  # the source's other options, commented
    valid = kpi("validate", "--connect", "-s", folder)
    assert valid.exit_code == 0, valid.output
    listed = json.loads(kpi("list", "kpis", "-s", folder, "--format", "json").output)
    assert {k["name"] for k in listed} == {"orders_count", "orders_amount_total"}
    assert all(k["dimensions"] == ["region", "status"] for k in listed)
    run = kpi("run", "-s", folder, "--no-history", "--format", "json", "--from", "2026-03-02")
    assert run.exit_code == 0, run.output
    rows = json.loads(run.output)["rows"]
    count, total = expected_by_week()
    assert {r["period_start"]: r["value"] for r in rows if r["kpi"] == "orders_count"} == count
    got_total = {r["period_start"]: r["value"] for r in rows if r["kpi"] == "orders_amount_total"}
    assert got_total == pytest.approx(total)


def test_kpi_init_refuses_to_overwrite_and_names_unknown_tables(tmp_path):
    source = _duckdb(tmp_path)
    folder = tmp_path / "specs"
    assert kpi("init", folder, "--source", *source).exit_code == 0
    again = kpi("init", folder, "--source", *source)
    assert again.exit_code == 2 and "--force" in again.output
    wrong = kpi("init", tmp_path / "other", "--source", *source, "--table", "order")
    assert wrong.exit_code == 2 and "unknown table 'order': did you mean 'orders'?" in wrong.output


@pytest.mark.parametrize("values, expected", [
    (["2026-03-02 09:00:00", "2026-12-31 23:59:59"], "%Y-%m-%d %H:%M:%S"),
    (["2026-03-02T09:00:00"], "%Y-%m-%dT%H:%M:%S"),
    (["2026-03-02", " 2026-03-09 "], "%Y-%m-%d"),
    (["02/03/2026", "28/03/2026"], "%d/%m/%Y"),   # day first wins where both read
    (["03/28/2026", "02/03/2026"], "%m/%d/%Y"),   # 28 cannot be a month
    (["02.03.2026 09:30"], "%d.%m.%Y %H:%M"),
    (["2026-03-02", "north"], None),               # one value that is no date: not a time column
    (["2026-02-30"], None),                        # no such day
    ([], None),
])
def test_text_time_format_reads_every_sampled_value_in_one_format(values, expected):
    from kpiengine.run.scaffold import text_time_format

    assert text_time_format(values) == expected


def test_kpi_init_finds_a_time_kept_as_text_in_sqlite(tmp_path):
    """SQLite exports keep times as TEXT: init proposes the column with its time_format and the numbers hold."""
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (order_id INTEGER, placed TEXT, region TEXT, amount REAL)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                    [(i, ts.strftime("%d/%m/%Y %H:%M"), r, float(a)) for i, ts, r, _s, _e, a in ORDERS])
    con.commit()
    con.close()
    folder = tmp_path / "specs"
    out = kpi("init", folder, "--source", "sqlite", "-o", f"path={path}")
    assert out.exit_code == 0, out.output
    models = (folder / "models.yml").read_text(encoding="utf-8")
    assert "time: placed" in models and 'time_format: "%d/%m/%Y %H:%M"' in models
    assert "region: region" in models and "placed:" not in models.split("dimensions:")[1]
    assert kpi("validate", "--connect", "-s", folder).exit_code == 0
    run = kpi("run", "-s", folder, "--no-history", "--format", "json", "--from", "2026-03-02")
    assert run.exit_code == 0, run.output
    rows = json.loads(run.output)["rows"]
    count, total = expected_by_week()
    assert {r["period_start"]: r["value"] for r in rows if r["kpi"] == "orders_count"} == count
    assert {r["period_start"]: r["value"] for r in rows if r["kpi"] == "orders_amount_total"} == pytest.approx(total)


def test_kpi_init_without_any_time_says_what_a_model_needs(tmp_path):
    path = tmp_path / "notes.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
    con.executemany("INSERT INTO notes VALUES (?, ?)", [(1, "call back"), (2, "2026-03-02")])
    con.commit()
    con.close()
    out = kpi("init", tmp_path / "specs", "--source", "sqlite", "-o", f"path={path}")
    assert out.exit_code != 0 and "none of the tables has a date or timestamp column" in out.output
    assert "text column in one date format" in out.output and "Traceback" not in out.output


# -- validate --connect on a CSV model: the five mistakes of the issue, each at its expression's line
CSV = "order_id,ordered,status,amount\n1,05-01-2026,paid,10\n2,06-01-2026,open,20\n"
GOOD_MODEL = 'orders:\n    file: orders.csv\n    time: ordered\n    time_format: "%d-%m-%Y"\n    dimensions: {status: status}\n'
GOOD_KPI = "paid: {label: Paid, model: orders, aggregate: count, filter: \"status = 'paid'\"}\n"


def _file_spec(tmp_path, model=GOOD_MODEL, kpi_line=GOOD_KPI):
    (tmp_path / "orders.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "s.yml").write_text("project: {name: shop}\nsources:\n  w: {type: duckdb, path: \":memory:\"}\n"
                                    "models:\n  " + model + "kpis:\n  " + kpi_line, encoding="utf-8")
    out = kpi("validate", "--connect", "-s", tmp_path, "--format", "json")
    return out.exit_code, json.loads(out.output)["problems"]


def test_validate_connect_passes_a_correct_file_model(tmp_path):
    assert _file_spec(tmp_path) == (0, [])


@pytest.mark.parametrize("mistake, model, kpi_line, line, column, text, hint", [
    ("misspelt filter column", GOOD_MODEL, GOOD_KPI.replace("status =", "stauts ="), 11, 64,
     "model 'orders' KPI paid filter: column 'stauts' does not exist in 'orders.csv'", "did you mean 'status'?"),
    ("wrong time column", GOOD_MODEL.replace("time: ordered", "time: orderd"), GOOD_KPI, 7, 11,
     "model 'orders' time: column 'orderd' does not exist in 'orders.csv'", "did you mean 'ordered'?"),
    ("missing file", GOOD_MODEL.replace("orders.csv", "order.csv"), GOOD_KPI, 6, 11,
     "model 'orders': file 'order.csv' does not exist", "relative paths are read from the spec folder"),
    ("wrong time_format", GOOD_MODEL.replace("%d-%m-%Y", "%Y-%m-%d"), GOOD_KPI, 8, 18,
     "model 'orders': time_format '%Y-%m-%d' does not read the `ordered` column", "31-01-2026"),
    ("double-quoted string", GOOD_MODEL, "paid: {label: Paid, model: orders, aggregate: count, "
                                         "filter: 'status = \"paid\"'}\n", 11, 64,
     "model 'orders' KPI paid filter: column 'paid' does not exist in 'orders.csv'",
     "write 'paid' in single quotes for text"),
])
def test_validate_connect_catches_each_file_model_mistake_at_its_line(tmp_path, mistake, model, kpi_line, line,
                                                                      column, text, hint):
    code, problems = _file_spec(tmp_path, model, kpi_line)
    assert code == 2 and len(problems) == 1, (mistake, problems)
    problem = problems[0]
    assert problem["message"].startswith(text), problem
    assert hint in problem["hint"]
    assert (problem["file"].endswith("s.yml"), problem["line"], problem["column"]) == (True, line, column)


# -- messages a person would write
def _problems(spec_dir, files):
    out = kpi("validate", "-s", spec_dir(files), "--format", "json")
    return json.loads(out.output)["problems"]


def test_a_key_indented_too_little_says_where_it_belongs_once(spec_dir):
    problems = _problems(spec_dir, {"k.yml": "kpis:\n  revenue:\n    label: Revenue\n    model: deals\n"
                                             "    aggregate: sum\ncolumn: amount\n"})
    assert [(p["message"], p["line"], p["column"]) for p in problems] == [
        ("`column:` is at the level of `kpis:`; indent it under `revenue:`", 6, 1)]
    assert problems[0]["hint"] == "start `column:` in column 5, like `label:` and the other fields of `revenue:`"


def test_a_field_dedented_to_the_kpi_names_gives_one_message(spec_dir):
    problems = _problems(spec_dir, {"k.yml": "kpis:\n  revenue:\n    label: Revenue\n    model: deals\n"
                                             "  aggregate: count\n"})
    assert [(p["message"], p["line"]) for p in problems] == [
        ("`aggregate:` is at the level of `revenue:`; indent it under `revenue:`", 5)]


def test_a_key_indented_too_far_is_not_a_quoting_problem(spec_dir):
    problems = _problems(spec_dir, {"k.yml": "kpis:\n  revenue:\n    label: Revenue\n      model: deals\n"})
    assert len(problems) == 1 and problems[0]["line"] == 4
    assert problems[0]["message"].startswith("`model:` is indented more than `label:` above it")
    assert "quoted" not in problems[0]["message"] + problems[0]["hint"]


@pytest.mark.parametrize("text, expected", [
    ("kpis:\n  r:\n    label: R\n    model: [deals]\n    aggregate: count\n", "kpis.r.model must be text, not a list"),
    ("kpis:\n  r:\n    label:\n    formula: visits\n", "kpis.r.label must be text, not empty"),
    ("kpis:\n  r: 5\n", "kpis.r must be a mapping (indented `name: value` lines), not the number 5"),
    ("kpis:\n  1: {label: x, formula: visits}\n", "invalid name 1 in kpis"),
])
def test_schema_messages_name_yaml_kinds_never_python_classes(spec_dir, text, expected):
    problems = _problems(spec_dir, {"k.yml": text})
    assert expected in [p["message"] for p in problems]
    for word in ("LStr", "LDict", "LList", "NoneType", "'int'", "'str'"):
        assert not any(word in p["message"] for p in problems)


def test_no_follow_on_errors_after_a_parse_failure(spec_dir):
    # conversion lives in base.yml; a broken file that defined a KPI used elsewhere must not cause "unknown KPI"
    problems = _problems(spec_dir, {"broken.yml": "kpis:\n  more: {label: [}\n",
                                    "uses.yml": "kpis:\n  twice: {label: T, formula: more * 2}\n"})
    assert [p["code"] for p in problems] == ["yaml"]
    assert problems[0]["file"].endswith("broken.yml") and problems[0]["line"] == 2


def test_history_path_expands_env_defaults_and_refuses_a_broken_reference(spec_dir, tmp_path):
    from kpiengine.loader import load_project

    folder = spec_dir({"h.yml": "rules: {}\n"})
    base = (folder / "base.yml").read_text(encoding="utf-8")
    (folder / "base.yml").write_text(base.replace("default_source: w}", "default_source: w, history: "
                                                  "\"${KPI_TEST_UNSET_HISTORY:-runs/h.db}\"}"), encoding="utf-8")
    assert load_project(folder).history_path == "runs/h.db"
    (folder / "base.yml").write_text(base.replace("default_source: w}", "default_source: w, history: "
                                                  "\"${KPI_HISTORY:-runs/h.db\"}"), encoding="utf-8")
    problems = _problems(lambda _f: folder, {})
    assert problems[0]["code"] == "env" and problems[0]["line"] == 2
    assert "`${` starts no valid ${VAR} or ${VAR:-default}" in problems[0]["message"]


def test_change_rule_below_a_positive_percent_warns_and_still_runs(spec_dir):
    problems = _problems(spec_dir, {"r.yml": "rules:\n  drop:\n    kpi: visits\n    type: change\n"
                                             "    critical: {below: 50%}\n"})
    assert [(p["severity"], p["line"]) for p in problems] == [("warning", 5)]
    assert problems[0]["message"] == ("rule 'drop' critical: `below: 50%` on a change fires whenever the KPI rose "
                                      "less than 50% (or fell)")
    assert problems[0]["hint"] == "a drop of 50% is `below: -50%`"


def test_a_literal_webhook_url_warns_and_says_how_to_use_the_environment(spec_dir):
    problems = _problems(spec_dir, {"s.yml": "sinks:\n  team:\n    type: slack\n"
                                             "    webhook_url: https://hooks.slack.com/services/T0/B0/xyz\n"})
    assert [(p["severity"], p["line"]) for p in problems] == [("warning", 4)]
    assert "`webhook_url` is written in the spec" in problems[0]["message"]
    assert "webhook_url: ${KPI_TEAM_WEBHOOK_URL}" in problems[0]["hint"]
    assert "https://hooks" not in problems[0]["message"] + problems[0]["hint"]  # never echo the secret


@pytest.fixture
def demo_duckdb(spec_dir, tmp_path):
    import duckdb

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE visits AS SELECT TIMESTAMP '2026-03-02 10:00' + i * INTERVAL 1 DAY AS ts, "
                "['east', 'west', NULL][i % 3 + 1] AS region, 'web' AS channel FROM range(0, 28) t(i)")
    con.execute("CREATE TABLE deals AS SELECT TIMESTAMP '2026-03-02 10:00' + i * INTERVAL 2 DAY AS ts, "
                "['east', 'west'][i % 2 + 1] AS region, CASE WHEN i % 3 = 0 THEN 'won' ELSE 'lost' END AS stage, "
                "i AS id FROM range(0, 14) t(i)")
    con.close()
    folder = spec_dir()
    base = (folder / "base.yml").read_text(encoding="utf-8")
    (folder / "base.yml").write_text(base.replace('path: ":memory:"', f'path: "{path}"'), encoding="utf-8")
    return folder


def test_reversed_from_to_is_an_error_and_unknown_by_lists_dimensions(demo_duckdb):
    out = kpi("run", "-s", demo_duckdb, "--no-history", "--from", "2026-03-20", "--to", "2026-03-02")
    assert out.exit_code == 2 and "--from 2026-03-20 is not before --to 2026-03-02" in out.output
    out = kpi("run", "-s", demo_duckdb, "--no-history", "--by", "colour")
    assert out.exit_code == 2
    assert "unknown dimension 'colour'" in out.output and "dimensions: channel, region" in out.output


def test_periods_accept_iso_weeks_and_months_and_say_so(demo_duckdb):
    week = json.loads(kpi("run", "-s", demo_duckdb, "--no-history", "--format", "json", "-k", "visits",
                          "--from", "2026-W11", "--to", "2026-W12").output)
    assert {r["period_start"] for r in week["rows"]} == {"2026-03-09"} and week["start"] == "2026-03-09"
    month = json.loads(kpi("run", "-s", demo_duckdb, "--no-history", "--format", "json", "-k", "visits",
                           "-g", "month", "--from", "2026-03", "--to", "2026-04").output)
    assert [r["value"] for r in month["rows"]] == [28]
    assert re.search(r"20\d\d-W\d\d", kpi("explain", "--help").output)  # ISO week periods, said in the help
    bad = kpi("run", "-s", demo_duckdb, "--from", "2026-W60")
    assert bad.exit_code == 2 and "an ISO week 2026-W43" in bad.output
    assert "[default: week]" in kpi("funnel", "--help").output


def test_one_null_display_in_tables(demo_duckdb):
    table = kpi("run", "-s", demo_duckdb, "--no-history", "-k", "visits", "--by", "region", "--layout", "long")
    assert "∅" in table.output
    assert NULL_TEXT == NULL_DISPLAY == "∅"  # the dashboard shows (and filters on) the same sign
    csv_out = kpi("run", "-s", demo_duckdb, "--no-history", "-k", "visits", "--by", "region", "--format", "csv")
    assert any(line.split(",")[2] == "" for line in csv_out.output.splitlines()[1:])  # CSV: an empty field


def _many_kpis(folder, n=12):
    extra = "".join(f"  k{i}: {{label: KPI number {i}, model: visits, aggregate: count}}\n" for i in range(n))
    (folder / "many.yml").write_text("kpis:\n" + extra, encoding="utf-8")


def test_table_layout_fits_80_columns_and_says_how_to_get_the_wide_one(demo_duckdb):
    _many_kpis(demo_duckdb)
    out = kpi("run", "-s", demo_duckdb, "--no-history", env={"COLUMNS": "80"})
    lines = out.output.splitlines()
    note = [line for line in lines if line.startswith("(shown as")]
    assert note and "--layout wide for one column per KPI" in note[0]
    table = [line for line in lines if not line.startswith("(")]
    assert max(len(line) for line in table) <= 80
    assert table[0].split()[0] in ("KPI", "period")


def test_table_layout_at_200_columns_is_wide(demo_duckdb):
    _many_kpis(demo_duckdb, 4)
    out = kpi("run", "-s", demo_duckdb, "--no-history", env={"COLUMNS": "200"})
    header = out.output.splitlines()[0]
    assert header.startswith("period") and "KPI number 3" in header and "(shown as" not in out.output


def test_csv_has_no_float_artefacts(demo_duckdb):
    (demo_duckdb / "avg.yml").write_text("kpis:\n  tenth: {label: T, model: deals, aggregate: sum, "
                                         "column: \"id * 0.1\"}\n", encoding="utf-8")
    out = kpi("run", "-s", demo_duckdb, "--no-history", "-k", "tenth", "--format", "csv")
    values = [row["value"] for row in csv.DictReader(io.StringIO(out.output))]
    expected = {}
    for i in range(14):  # hand computation: ids of each Monday week, times 0.1, rounded as a person writes it
        day = date(2026, 3, 2) + timedelta(days=2 * i)
        monday = day - timedelta(days=day.weekday())
        expected[monday] = expected.get(monday, Decimal(0)) + Decimal(i) / 10
    assert sorted(values) == sorted(format(float(v), "g") if v else "0" for v in expected.values())
    assert not any(len(v.split(".")[-1]) > 6 for v in values)
