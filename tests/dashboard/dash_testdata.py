"""The hand-made KPI values of the dashboard unit tests (three weeks, two regions)."""
import contextlib
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

WEEKS = [date(2026, 10, 12), date(2026, 10, 19), date(2026, 10, 26)]
VISITS = {"east": [100, 110, 105], "west": [200, 190, 210]}
WON = {"east": [20, 22, 8], "west": [40, 38, 42]}  # east's conversion collapses in the last week
REVENUE = {"east": [1000.0, 1100.0, 400.0], "west": [2000.0, 1900.0, 2100.0]}
CHURN = [0.05, 0.06, 0.04]  # lower is better: the last week is good news

UNIT_SPEC = """
project: {name: unit-sales, timezone: UTC, default_source: wh}
sources:
  wh: {type: duckdb, path: ":memory:"}
process:
  - id: sales
    label: 銷售體系 Sales
    children:
      - id: visiting
        label: 拜訪 Visits
      - id: closing
        label: 成交 Closing
models:
  activities:
    table: activities
    time: happened_at
    dimensions: {region: region, rep: rep}
  deals:
    table: deals
    time: closed_at
    dimensions: {region: region, rep: rep}
kpis:
  visits:
    label: 拜訪量 Visits
    unit: count
    process: visiting
    model: activities
    aggregate: count
    dimensions: [region, rep]
  deals_won:
    label: 成交數 Deals won
    unit: count
    process: closing
    model: deals
    aggregate: count
    filter: "stage = 'won'"
    dimensions: [region, rep]
  revenue:
    label: 成交金額 Revenue
    unit: currency
    process: closing
    model: deals
    aggregate: sum
    column: amount
  conversion:
    label: 轉化率 Conversion
    unit: percent
    process: closing
    formula: deals_won / visits
    target: 0.18
    dimensions: [region, rep]
  churn:
    label: 流失率 Churn
    unit: percent
    direction: lower
    model: deals
    aggregate: avg
    column: churned
"""

KPI = shutil.which("kpi", path=str(Path(sys.executable).parent)) or "kpi"


def run_kpi(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """Run the real `kpi` command of this venv, as a user would."""
    return subprocess.run([KPI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@contextlib.contextmanager
def serving(demo: dict):
    """`kpi serve` of a demo folder in a thread, with KPI_DEMO_DB pointing at its database meanwhile."""
    from kpiengine.dashboard.server import start_in_thread

    old = os.environ.get("KPI_DEMO_DB")
    os.environ["KPI_DEMO_DB"] = str(demo["db"])
    srv = start_in_thread(str(demo["specs"]))
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        if old is None:
            os.environ.pop("KPI_DEMO_DB", None)
        else:
            os.environ["KPI_DEMO_DB"] = old
