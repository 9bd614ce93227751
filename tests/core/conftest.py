"""Fixtures for core tests: a small spec folder written into tmp_path."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BASE_SPEC = """
project: {name: t, timezone: UTC, default_source: w}
sources:
  w: {type: duckdb, path: ":memory:"}
process:
  - id: sales
    label: Sales 銷售體系
    children:
      - id: visits_node
        label: Visits 拜訪
      - id: closing
        label: Closing 成交
models:
  visits:
    table: visits
    time: ts
    dimensions: {region: region, channel: channel}
  deals:
    table: deals
    time: ts
    dimensions: {region: region}
kpis:
  visits: {label: 拜訪量, model: visits, aggregate: count, process: visits_node}
  deals_won: {label: Won deals, model: deals, aggregate: count, filter: "stage = 'won'", process: closing}
  conversion: {label: 轉化率, formula: deals_won / visits, unit: percent, process: closing}
"""


@pytest.fixture
def spec_dir(tmp_path):
    """Write files {name: text} into a fresh spec folder and return its path."""
    def make(files: dict[str, str] | None = None, base: bool = True, trusted_sql: bool = False) -> Path:
        folder = tmp_path / "specs"
        folder.mkdir(exist_ok=True)
        if base:
            text = textwrap.dedent(BASE_SPEC)
            if trusted_sql:
                text = text.replace("default_source: w}", "default_source: w, allow_model_sql: true}")
            (folder / "base.yml").write_text(text, encoding="utf-8")
        for name, text in (files or {}).items():
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder
    return make


@pytest.fixture
def kpi_run_process():
    """``kpi run ... --format json`` as a new process with ``-X importtime``: (its JSON, the import log)."""
    def run(folder, env, *flags: str) -> tuple[dict, str]:
        argv = [sys.executable, "-X", "importtime", "-c", "from kpiengine.cli import main; main()",
                "run", "-s", str(folder), "--by", "region", "--format", "json", *flags]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=folder, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout), proc.stderr
    return run
