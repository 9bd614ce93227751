"""Install the example third-party plugin for real and use it through the registry.

A fresh virtualenv gets kpiengine and examples/kpiengine-teams installed by pip
from copies of their sources (``--no-deps --no-build-isolation --no-index``: no
network). Their dependencies (click, pluggy, ...) and the build backend come
from this test's environment through a .pth file pointing at a folder of
symlinks that leaves out kpiengine itself, so the only kpiengine the new venv
can import is the one pip just installed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from kpiengine.testing import RecordingHTTPServer, Reply

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "kpiengine-teams"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".pytest_cache")

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> tuple[Path, Path]:
    core = dest / "kpiengine-src"
    core.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, core / name)
    for folder in ("kpiengine", "plugins"):
        shutil.copytree(REPO / folder, core / folder, ignore=_IGNORE)
    teams = dest / "teams-src"
    shutil.copytree(EXAMPLE, teams, ignore=_IGNORE)
    return core, teams


def _dependencies_folder(dest: Path) -> Path:
    """Symlinks to this environment's installed packages, minus kpiengine and its editable hooks."""
    site = Path(sysconfig.get_paths()["purelib"])
    deps = dest / "deps"
    deps.mkdir()
    for entry in site.iterdir():
        lowered = entry.name.lower()
        if lowered.startswith(("kpiengine", "__editable__", "_kpiengine")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    return deps


def _run(args, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    # cwd matters: `python -c` puts the working folder first on sys.path, and from the
    # repository that would import the checkout instead of the installed package
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, cwd=cwd, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plugin-install")
    core, teams = _copy_sources(tmp)
    env_dir = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=tmp)
    python = env_dir / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip()
    Path(purelib, "zz_test_dependencies.pth").write_text(str(_dependencies_folder(tmp)) + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
          str(core), str(teams)], cwd=tmp)
    return env_dir


def test_installed_packages_are_the_fresh_copies(venv):
    out = _run([str(venv / "bin" / "python"), "-c",
                "import kpiengine, kpiengine_teams; print(kpiengine.__file__); print(kpiengine_teams.__file__)"], cwd=venv).stdout
    core_file, teams_file = out.split()
    assert core_file.startswith(str(venv)) and teams_file.startswith(str(venv))


def test_every_kpiengine_subpackage_was_installed(venv):
    # a subpackage missing from [tool.setuptools] packages works in an editable
    # checkout and breaks only for users who pip install kpiengine
    subpackages = sorted(p.parent.name for p in (REPO / "kpiengine").glob("*/__init__.py"))
    code = "import importlib, sys; [importlib.import_module('kpiengine.' + n) for n in sys.argv[1:]]"
    _run([str(venv / "bin" / "python"), "-c", code, *subpackages], cwd=venv)


def test_kpi_plugins_lists_the_teams_sink(venv):
    out = _run([str(venv / "bin" / "kpi"), "plugins", "--format", "json"], cwd=venv).stdout
    listing = json.loads(out)
    assert "teams" in listing["sink_types"]
    assert {"slack", "email", "webhook", "feishu", "dingtalk", "wecom"} <= set(listing["sink_types"])
    teams = {p["name"]: p for p in listing["plugins"]}["teams"]
    assert teams["distribution"] == "kpiengine-teams" and teams["version"] == "0.1.0"
    assert teams["module"] == "kpiengine_teams" and teams["sink_types"] == ["teams"]
    assert teams["sections"] == ["sla"] and "sla" in listing["spec_sections"]
    assert listing["problems"] == []


def test_the_plugins_sla_section_is_checked_by_kpi_validate(venv, tmp_path):
    (tmp_path / "spec.yml").write_text(
        "sources:\n  db: {type: duckdb, path: ':memory:'}\n"
        "models:\n  orders: {table: orders, time: ordered_at}\n"
        "kpis:\n  orders: {label: Orders, model: orders, aggregate: count}\n"
        "sla:\n  cap:\n    kpi: ordres\n    at_most: 100\n", encoding="utf-8")
    kpi = str(venv / "bin" / "kpi")
    result = subprocess.run([kpi, "validate", "--spec", str(tmp_path), "--format", "json"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["message"] == "service level 'cap' promises on unknown KPI 'ordres'"
    assert problem["hint"] == "did you mean 'orders'?" and (problem["line"], problem["column"]) == (9, 10)
    schema = json.loads(_run([kpi, "schema"], cwd=tmp_path).stdout)
    assert schema["properties"]["sla"]["additionalProperties"]["required"] == ["kpi"]


SEND = """
import sys
from kpiengine.plugins import get_registry
from kpiengine.sinks import AlertItem, Notification
item = AlertItem(rule="r", kpi="leads", kpi_label="銷售線索 Leads", severity="critical", status="firing",
                 value=80.0, baseline=100.0, change=-0.2, unit="count")
note = Notification(idempotency_key="install-test-1", title="Leads dropped", severity="critical",
                    status="firing", text="", items=[item])
sink = get_registry().sink_type("teams")("team-channel", {"webhook_url": sys.argv[1]})
sink.send(note)
print("delivered")
"""


def test_notification_through_the_registry_reaches_the_server(venv):
    with RecordingHTTPServer(default=Reply(202)) as server:
        out = _run([str(venv / "bin" / "python"), "-c", SEND, server.url_for("/workflows/abc123")], cwd=venv).stdout
        assert out.strip() == "delivered"
        (request,) = server.requests
    assert request.path == "/workflows/abc123" and request.header("idempotency-key") == "install-test-1"
    card = request.json()["attachments"][0]["content"]
    assert card["body"][0]["text"] == "🔴 CRITICAL: Leads dropped"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts == {"KPI": "銷售線索 Leads", "Value": "80", "Baseline": "100", "Change": "-20.0 %"}
