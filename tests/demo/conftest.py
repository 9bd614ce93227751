"""Shared fixtures: one demo warehouse built per test session (about 5 s)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kpiengine.cli.demo_data import build_demo

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "kpi_specs"


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The repository's kpi_specs/ folder (the demo spec)."""
    return SPECS


@pytest.fixture(scope="session")
def demo_info(tmp_path_factory):
    """The demo warehouse with default options (the one `kpi demo` writes)."""
    return build_demo(str(tmp_path_factory.mktemp("demo") / "demo.duckdb"))


@pytest.fixture(scope="session")
def demo_con(demo_info):
    import duckdb

    con = duckdb.connect(demo_info.path, read_only=True)
    yield con
    con.close()
