"""One dialect for user SQL: ``project.sql_dialect`` is parsed once and transpiled for each source.

``strftime(created_at, '%Y-%m')`` is DuckDB's argument order; SQLite's own
``strftime`` takes the format first, PostgreSQL spells it ``TO_CHAR`` and
MariaDB ``DATE_FORMAT``. Written once in the project's dialect, the same
dimension gives the same groups on every engine (checked against Python).
A spec written in MySQL's dialect (backtick identifiers) runs on DuckDB and
SQLite; what a source cannot express is a located validation error.
"""
from __future__ import annotations

import copy
from collections import Counter

import pytest

from kpiengine.engine import Engine
from kpiengine.errors import SpecError
from kpiengine.loader import load_project

from .conftest import DEALS, MODELS, write_star_spec

ENGINES = ["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("mariadb", marks=pytest.mark.mysql)]


def _source(engine: str, request) -> dict:
    if engine == "duckdb":
        return {"type": "duckdb", "path": request.getfixturevalue("star_duckdb")["path"]}
    if engine == "sqlite":
        return {"type": "sqlite", "path": request.getfixturevalue("star_sqlite")}
    if engine == "postgres":
        return {"type": "postgres", **request.getfixturevalue("star_postgres")}
    return {"type": "mysql", **request.getfixturevalue("star_mysql")}


def _spec(folder, source: dict, dims: dict, kpis: dict, sql_dialect: str | None = None) -> str:
    models = copy.deepcopy(MODELS)
    models["deals"]["dimensions"].update(dims)
    path = write_star_spec(folder, source, models, kpis)
    if sql_dialect:
        text = (folder / "spec.yml").read_text(encoding="utf-8")
        (folder / "spec.yml").write_text(text.replace("project:\n", f"project:\n  sql_dialect: {sql_dialect}\n", 1),
                                         encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_a_duckdb_function_means_the_same_on_every_engine(engine, request, tmp_path):
    folder = _spec(tmp_path, _source(engine, request), {"ym": "strftime(created_at, '%Y-%m')"},
                   {"deals": {"model": "deals", "aggregate": "count"}})
    rs = Engine(load_project(folder)).compute(kpis=["deals"], grain="year", by=["ym"])
    got = {r.dimensions["ym"]: r.value for r in rs.rows}
    assert got == dict(Counter(d[6].strftime("%Y-%m") for d in DEALS))


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_a_spec_written_in_mysql_runs_elsewhere(engine, request, tmp_path):
    folder = _spec(tmp_path, _source(engine, request), {"stage_name": "UPPER(`stage`)"},
                   {"won": {"model": "deals", "aggregate": "count", "filter": "`stage` = 'won'"}}, "mysql")
    rs = Engine(load_project(folder)).compute(kpis=["won"], grain="year", by=["stage_name"])
    got = {r.dimensions["stage_name"]: r.value for r in rs.rows}
    expected = Counter(d[3].upper() for d in DEALS if d[3] == "won")
    assert {k: v for k, v in got.items() if v} == dict(expected)


def test_what_the_source_cannot_express_is_located(request, tmp_path):
    folder = _spec(tmp_path, _source("sqlite", request), {"cents": "trunc(amount, 2)"},
                   {"deals": {"model": "deals", "aggregate": "count"}})
    with pytest.raises(SpecError) as info:
        load_project(folder)
    issue = next(i for i in info.value.issues if i.code == "dialect")
    assert "model 'deals' dimensions.cents" in issue.message and "runs sqlite" in issue.message
    assert "'decimals' is not supported" in issue.message
    assert issue.location is not None and issue.location.file.endswith("spec.yml")
    # The same expression on DuckDB (the dialect it is written in) is fine.
    load_project(_spec(tmp_path / "duck", _source("duckdb", request), {"cents": "trunc(amount, 2)"},
                       {"deals": {"model": "deals", "aggregate": "count"}}))


def test_unknown_sql_dialect_is_located_with_a_suggestion(request, tmp_path):
    folder = _spec(tmp_path, _source("duckdb", request), {}, {"deals": {"model": "deals", "aggregate": "count"}},
                   "postgre")
    with pytest.raises(SpecError) as info:
        load_project(folder)
    issue = next(i for i in info.value.issues if i.code == "dialect")
    assert issue.message == "unknown sql_dialect 'postgre'"
    assert "postgres" in issue.hint and issue.location.line == 2
