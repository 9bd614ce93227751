"""Review fixtures: the generated warehouse of review_data.py in a real DuckDB file, and its spec."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for review_data (pytest runs in importlib mode)

from review_data import SPEC, generate  # noqa: E402

from kpiengine.loader import load_project  # noqa: E402


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review_wh")
    db = folder / "wh.duckdb"
    visits, deals, mindset = generate()
    con = duckdb.connect(str(db))
    for name, columns, rows in (("activities", "happened_at TIMESTAMP, region VARCHAR, kind VARCHAR", visits),
                                ("deals", "closed_at TIMESTAMP, region VARCHAR, stage VARCHAR, amount DOUBLE", deals),
                                ("mindset", "week_start DATE, region VARCHAR, score DOUBLE", mindset)):
        csv_path = folder / f"{name}.csv"
        csv_path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows), encoding="utf-8")
        con.execute(f"CREATE TABLE {name} ({columns})")
        con.execute(f"COPY {name} FROM '{csv_path}' (HEADER false)")
    con.close()
    return {"db": db, "visits": visits, "deals": deals, "mindset": mindset}


def write_spec(folder: Path, warehouse, text: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yml").write_text(text.replace("__DB__", str(warehouse["db"])), encoding="utf-8")
    return folder


@pytest.fixture
def spec_dir(warehouse, tmp_path):
    """A fresh copy of the spec a test may edit."""
    return write_spec(tmp_path / "spec", warehouse)


@pytest.fixture(scope="session")
def project(warehouse, tmp_path_factory):
    """The spec, loaded once: for tests that only read it."""
    return load_project(write_spec(tmp_path_factory.mktemp("review_spec"), warehouse))


