"""The kpiengine_run_finished hook sees stored results; a failing observer never fails the run."""
from __future__ import annotations

import warnings

import pytest

from kpiengine import hookimpl
from kpiengine.run.runs import execute_run
from kpiengine.run.history import HistoryStore
from kpiengine.loader import load_project
from kpiengine.plugins import get_registry

SPEC = """
project: {name: hook, history: h.db, allow_model_sql: true}
sources: {w: {type: duckdb, path: ":memory:"}}
models:
  m: {sql: "SELECT TIMESTAMP '2026-03-04 10:00' AS ts, 'east' AS region UNION ALL
            SELECT TIMESTAMP '2026-03-05 10:00', 'east'", time: ts, dimensions: {region: region}}
kpis:
  n: {label: N, model: m, aggregate: count}
"""


class Recorder:
    def __init__(self):
        self.seen = []

    @hookimpl
    def kpiengine_run_finished(self, run):
        # The run is already in history when observers are called.
        stored = HistoryStore(self.history_path).values(["n"], grain=run.grain, by=run.by)
        self.seen.append((run, stored))


class Broken:
    @hookimpl
    def kpiengine_run_finished(self, run):
        raise RuntimeError("exporter down")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "s.yml").write_text(SPEC, encoding="utf-8")
    return load_project(tmp_path)


def test_observer_receives_the_stored_run(project, tmp_path):
    recorder = Recorder()
    recorder.history_path = tmp_path / "h.db"
    registry = get_registry(extra_plugins=[("recorder", recorder)])
    rs = execute_run(project, ["n"], "week", ["region"], None, None, registry=registry)
    (run, stored), = recorder.seen
    assert run.run_id == rs.run_id and run.by == ("region",) and run.kpis == ("n",)
    assert [(r.kpi, r.dimensions, r.value) for r in run.rows] == [("n", {"region": "east"}, 2)]
    assert [(v.kpi, v.value) for v in stored] == [("n", 2.0)]


def test_failing_observer_warns_and_the_run_stands(project, tmp_path):
    registry = get_registry(extra_plugins=[("broken", Broken())])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rs = execute_run(project, ["n"], "week", [], None, None, registry=registry)
    assert any("plugin 'broken' failed in kpiengine_run_finished" in str(w.message) for w in caught)
    assert HistoryStore(tmp_path / "h.db").runs()[0]["status"] == "ok" and rs.run_id == 1


def test_hookimpl_without_spec_is_reported():
    class Typo:
        @hookimpl
        def kpiengine_run_finishd(self, run):
            pass

    registry = get_registry(load_entrypoints=False, extra_plugins=[("typo", Typo())])
    assert any(p.plugin == "typo" and "kpiengine_run_finishd" in p.message for p in registry.problems)
