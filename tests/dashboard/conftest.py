"""Dashboard fixtures: a small hand-made spec with hand-made values, and the full demo.

The unit tests build :class:`DashboardInputs` from the numbers below, so every
expected figure can be worked out by hand in the test. The demo fixture runs the
real commands (`kpi demo`, `kpi check`) in a temporary folder, as a user would.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for dash_testdata (pytest runs in importlib mode)

from dash_testdata import CHURN, REVENUE, UNIT_SPEC, VISITS, WEEKS, WON, run_kpi  # noqa: E402

from kpiengine.dashboard.inputs import DashboardInputs
from kpiengine.dashboard.options import parse_options
from kpiengine.dashboard.values import ValueTable
from kpiengine.engine import KpiValue
from kpiengine.loader import load_project

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="session")
def unit_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unit_spec")
    (folder / "spec.yml").write_text(UNIT_SPEC, encoding="utf-8")
    return load_project(folder)


def _rows(by_region: bool) -> list[KpiValue]:
    rows = []
    for i, week in enumerate(WEEKS):
        if by_region:
            for region in VISITS:
                dims = {"region": region}
                v, w, r = VISITS[region][i], WON[region][i], REVENUE[region][i]
                rows += [KpiValue("visits", "week", week, dims, v), KpiValue("deals_won", "week", week, dims, w),
                         KpiValue("revenue", "week", week, dims, r), KpiValue("conversion", "week", week, dims, w / v)]
        else:
            v = sum(VISITS[r][i] for r in VISITS)
            w = sum(WON[r][i] for r in WON)
            rows += [KpiValue("visits", "week", week, {}, v), KpiValue("deals_won", "week", week, {}, w),
                     KpiValue("revenue", "week", week, {}, sum(REVENUE[r][i] for r in REVENUE)),
                     KpiValue("conversion", "week", week, {}, w / v), KpiValue("churn", "week", week, {}, CHURN[i])]
    return rows


@pytest.fixture
def make_inputs(unit_project):
    """DashboardInputs over the hand-made values; ``by="region"`` adds the breakdown."""
    def make(**raw) -> DashboardInputs:
        raw.setdefault("by", "none")
        options = parse_options(unit_project, raw)
        inputs = DashboardInputs(project=unit_project, options=options, totals=ValueTable(_rows(False)))
        if options.by == "region":
            inputs.breakdown = ValueTable(_rows(True))
        inputs.team = ValueTable(_rows(True))  # two "reps": the regions stand in for them
        return inputs
    return make


# -- the demo, built by the real commands -------------------------------------------------------------

@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A folder where `kpi demo` and `kpi check` ran on a copy of the repository's kpi_specs/."""
    folder = tmp_path_factory.mktemp("dash_demo")
    shutil.copytree(REPO / "kpi_specs", folder / "kpi_specs", ignore=shutil.ignore_patterns(".kpiengine"))
    env = {k: v for k, v in os.environ.items() if k not in ("KPI_DEMO_DB", "KPIENGINE_HISTORY", "KPI_SPECS")}
    done = run_kpi(["demo", "--spec", "kpi_specs"], folder, env)
    assert done.returncode == 0, done.stderr + done.stdout
    check = run_kpi(["check", "--spec", "kpi_specs"], folder, env)
    assert check.returncode in (0, 1, 2), check.stderr + check.stdout  # 1/2: warnings/criticals firing
    env["KPI_DEMO_DB"] = str(folder / "demo.duckdb")
    return {"folder": folder, "specs": folder / "kpi_specs", "db": folder / "demo.duckdb", "env": env}


@pytest.fixture
def demo_env(demo_dir, monkeypatch):
    """The demo's environment in this process (the spec reads ${KPI_DEMO_DB})."""
    monkeypatch.setenv("KPI_DEMO_DB", str(demo_dir["db"]))
    monkeypatch.delenv("KPIENGINE_HISTORY", raising=False)
    return demo_dir
