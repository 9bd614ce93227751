"""The lifecycle fields of a KPI: located checks, and which target holds for which period."""
from __future__ import annotations

from datetime import date

import pytest
from review_data import SPEC

from kpiengine.analysis.targets import additive_over_time, attainment, target_at
from kpiengine.errors import SpecError
from kpiengine.loader import load_project


def load_with(tmp_path, warehouse, replace: dict[str, str]):
    text = SPEC.replace("__DB__", str(warehouse["db"]))
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "spec.yml").write_text(text, encoding="utf-8")
    return load_project(tmp_path)


REVENUE_END = "    tags: [outcome]\n    target: 5000"


@pytest.mark.parametrize("old, new, message, marker", [
    ("    targets: {2026-Q3: 1200,", "    targets: {2026-Q5: 1200,", "'2026-Q5' is not a period", "2026-Q5"),
    ("    targets: {2026-Q3: 1200,", "    targets: {2026-Q3: lots,", "target for 2026-Q3", "2026-Q3: lots"),
    ("region: {east: 650, west: 650}", "rep: {ann: 650}", "'rep' is not a dimension", "rep: {ann"),
    (REVENUE_END, REVENUE_END + "\n    status: paused", "unknown status 'paused'", "status: paused"),
    (REVENUE_END, REVENUE_END + "\n    since: last week", "since 'last week' is not a date", "since:"),
    (REVENUE_END, REVENUE_END + "\n    review:\n      - {date: 2026-13-01, decision: keep, reason: x}",
     "is not a date", "- {date"),
    (REVENUE_END, REVENUE_END + "\n    review:\n      - {date: 2026-07-01, decision: drop, reason: x}",
     "unknown decision 'drop'", "- {date"),
    (REVENUE_END, REVENUE_END + "\n    review:\n      - {date: 2026-07-01, decision: weaken, reason: noise}",
     "last review decision (2026-07-01: weaken) leaves it weakened", "- {date"),
])
def test_bad_lifecycle_fields_are_located_errors(tmp_path, warehouse, old, new, message, marker):
    with pytest.raises(SpecError) as info:
        load_with(tmp_path, warehouse, {old: new})
    found = [i for i in info.value.issues if message in str(i)]
    assert found, [str(i) for i in info.value.issues]
    text = (tmp_path / "spec.yml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, t in enumerate(text, 1) if marker in t and (n > 12 or "targets" in t))
    assert found[0].location.line == line, str(found[0])
    assert found[0].hint, str(found[0])


def test_lifecycle_fields_are_read(tmp_path, warehouse):
    project = load_with(tmp_path, warehouse, {"    tags: [outcome]\n    target: 5000": (
        "    tags: [outcome]\n    target: 5000\n    status: weakened\n    since: 2026-07-06\n    review:\n"
        "      - {date: 2026-07-06, decision: weaken, reason: deal sizes are noise, by: ann}\n"
        "      - {date: 2026-04-01, decision: activate, reason: proposed in Q1}")})
    spec = project.kpis["revenue"]
    assert (spec.status, spec.since) == ("weakened", "2026-07-06")
    assert [(e.date, e.decision, e.by) for e in spec.review] == [(date(2026, 4, 1), "activate", None),
                                                                  (date(2026, 7, 6), "weaken", "ann")]
    conversion = project.kpis["conversion"].targets
    assert [(t.label, t.grain, t.total) for t in conversion] == [("2026-Q3", "quarter", 0.2), ("2026-Q4", "quarter", 0.19)]
    assert conversion[1].by_dimension == {"region": {"east": 0.2, "west": 0.18}}


@pytest.mark.parametrize("kpi, period, grain, dims, expected, source", [
    # a rate holds for every period inside the target period its first day falls in
    ("conversion", date(2026, 10, 26), "week", {}, 0.19, "2026-Q4"),
    ("conversion", date(2026, 9, 28), "week", {}, 0.20, "2026-Q3"),  # Sep 28 - Oct 4: starts in Q3
    ("conversion", date(2026, 10, 26), "week", {"region": "east"}, 0.20, "2026-Q4"),
    ("conversion", date(2026, 11, 1), "month", {"region": "west"}, 0.18, "2026-Q4"),
    ("conversion", date(2027, 1, 4), "week", {}, None, None),  # no target set that far ahead
    # a total is pro-rated by days, across two target periods when the week straddles them
    ("visits", date(2026, 10, 26), "week", {}, 1300 * 7 / 92, "2026-Q4"),
    ("visits", date(2026, 9, 28), "week", {}, 1200 * 3 / 92 + 1300 * 4 / 92, "2026-Q3 + 2026-Q4"),
    ("visits", date(2026, 10, 1), "quarter", {}, 1300, "2026-Q4"),
    ("visits", date(2026, 10, 1), "month", {"region": "east"}, 650 * 31 / 92, "2026-Q4"),
    ("visits", date(2026, 7, 1), "month", {"region": "east"}, None, None),  # Q3 has no east target
    ("conversion", date(2026, 9, 14), "week", {"region": "east"}, 0.20, "2026-Q3"),  # the company's rate holds
    # without targets for the period, the KPI's own target: holds
    ("revenue", date(2026, 10, 26), "week", {}, 5000, "target"),
])
def test_target_at(project, kpi, period, grain, dims, expected, source):
    found = target_at(project, kpi, period, grain, dims)
    if expected is None:
        assert found is None
    else:
        assert found.value == pytest.approx(expected) and found.source == source


def test_which_kpis_add_up_over_time(project):
    assert [k for k in project.kpis if additive_over_time(project, k)] == ["visits", "deals_won", "revenue"]


@pytest.mark.parametrize("value, target, direction, expected", [
    (0.18, 0.20, "higher", 0.9), (120, 100, "higher", 1.2), (50, 40, "lower", 0.8), (None, 1, "higher", None),
    (1, 0, "higher", None), (0, 5, "lower", None)])
def test_attainment(value, target, direction, expected):
    got = attainment(value, target, direction)
    assert got == (None if expected is None else pytest.approx(expected))
