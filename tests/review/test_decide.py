"""`kpi review --decide` writes the decision into the KPI's own YAML file, keeping every comment and key order."""
from __future__ import annotations

import difflib
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.loader import load_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def specs(tmp_path):
    folder = tmp_path / "kpi_specs"
    shutil.copytree(REPO / "kpi_specs", folder, ignore=shutil.ignore_patterns(".kpiengine"))
    return folder


def decide(specs, *args):
    return CliRunner().invoke(main, ["review", "-s", str(specs), "--who", "ann@example.com", "--date", "2026-11-02",
                                     *args])


def changes(before: str, after: str):
    """(inserted lines, replaced (old, new) lines, deleted lines) between two texts."""
    a, b = before.splitlines(), after.splitlines()
    inserted, replaced, deleted = [], [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "insert":
            inserted.append((i1, b[j1:j2]))
        elif op == "replace":
            replaced.append((a[i1:i2], b[j1:j2]))
        elif op == "delete":
            deleted.append(a[i1:i2])
    return inserted, replaced, deleted


def test_a_new_decision_only_adds_lines_at_the_end_of_the_kpi(specs):
    path = specs / "sales.yml"
    before = path.read_text(encoding="utf-8")
    done = decide(specs, "--decide", "visits=strengthen", "--reason", "Visits: the lever we control; plan them weekly")
    assert done.exit_code == 0, done.output
    assert "visits: recorded strengthen on 2026-11-02" in done.output and "status active -> strengthened" in done.output
    after = path.read_text(encoding="utf-8")
    inserted, replaced, deleted = changes(before, after)
    assert replaced == [] and deleted == []
    assert len(inserted) == 1
    at, lines = inserted[0]
    assert lines == ["    status: strengthened", "    since: 2026-11-02", "    review:", "      - date: 2026-11-02",
                     "        decision: strengthen", "        reason: 'Visits: the lever we control; plan them weekly'",
                     "        by: ann@example.com"]
    old = before.splitlines()
    # right after the visits block (its playbook's last line), before the blank line and the next KPI
    assert old[at - 1] == "      3. Plan the next week's visits in the Monday team meeting."
    assert old[at] == "" and old[at + 1] == "  meetings:"
    spec = load_project(specs).kpis["visits"]
    assert (spec.status, spec.since) == ("strengthened", "2026-11-02")
    assert [(e.date, e.decision, e.by) for e in spec.review] == [(date(2026, 11, 2), "strengthen", "ann@example.com")]


def test_a_decision_on_a_kpi_with_a_log_appends_to_it_and_moves_the_status(specs):
    path = specs / "sales.yml"
    before = path.read_text(encoding="utf-8")
    heading = "  # --- Closing / 成交 ---------------------------------------------------------"
    assert heading in before  # the comment that follows lead_to_visit's log must stay where it is
    done = decide(specs, "--decide", "lead_to_visit=retire", "--reason", "no one acts on it")
    assert done.exit_code == 0, done.output
    after = path.read_text(encoding="utf-8")
    inserted, replaced, deleted = changes(before, after)
    assert deleted == []
    assert replaced == [(["    status: weakened", "    since: 2026-07-03"], ["    status: retired", "    since: 2026-11-02"])]
    assert [lines for _at, lines in inserted] == [["      - date: 2026-11-02", "        decision: retire",
                                                   "        reason: no one acts on it", "        by: ann@example.com"]]
    new = after.splitlines()
    assert new[new.index(heading) - 2:new.index(heading)] == ["        by: ann@example.com", ""]
    spec = load_project(specs).kpis["lead_to_visit"]
    assert spec.status == "retired" and [e.decision for e in spec.review] == ["weaken", "retire"]


def test_keep_and_adjust_record_the_decision_without_touching_the_status(specs):
    before = (specs / "sales.yml").read_text(encoding="utf-8")
    done = decide(specs, "--decide", "conversion=adjust", "--decide", "mindset=keep", "--reason", "Q4 targets set")
    assert done.exit_code == 0, done.output
    inserted, replaced, deleted = changes(before, (specs / "sales.yml").read_text(encoding="utf-8"))
    assert replaced == [] and deleted == [] and len(inserted) == 2
    project = load_project(specs)
    assert project.kpis["conversion"].status == "strengthened" and project.kpis["mindset"].status == "active"
    assert project.kpis["mindset"].review[-1].decision == "keep"


@pytest.mark.parametrize("args, message", [
    (["--decide", "visit=strengthen", "--reason", "x"], "unknown KPI 'visit'"),
    (["--decide", "visits=promote", "--reason", "x"], "unknown decision 'promote'"),
    (["--decide", "visits", "--reason", "x"], "write KPI=DECISION"),
    (["--decide", "visits=weaken"], "--decide needs --reason"),
    (["--decide", "sales_funnel_won=weaken", "--reason", "x"], "derived (a funnel step)"),
])
def test_bad_decisions_change_nothing(specs, args, message):
    before = {p.name: p.read_text(encoding="utf-8") for p in specs.glob("*.yml")}
    done = decide(specs, *args)
    assert done.exit_code != 0
    assert message in done.output
    assert {p.name: p.read_text(encoding="utf-8") for p in specs.glob("*.yml")} == before
