"""Alerting test fixtures; helpers live in alerting_helpers.py (importable: this folder is put on sys.path)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerting_helpers import make_project  # noqa: E402

from kpiengine.results import KpiValue  # noqa: E402


@pytest.fixture
def project_factory(tmp_path):
    return lambda spec="": make_project(tmp_path, spec)


@pytest.fixture
def fetch_rows():
    """A fetch function (as run_check takes) answering from a list of rows, filtered like the engine."""
    def make(rows: list[KpiValue]):
        def fetch(grain, by, kpis, start, end):
            return [r for r in rows if r.kpi in kpis and set(r.dimensions) == set(by)
                    and (start is None or r.period_start >= start) and (end is None or r.period_start < end)]
        return fetch
    return make
