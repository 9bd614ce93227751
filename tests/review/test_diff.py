"""`kpi diff` on two git revisions of a spec repository created here, with and without --values."""
from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from review_data import SPEC

from kpiengine.cli import main

RULES = """
rules:
  conversion_floor: {kpi: conversion, by: [region], warning: {below: 15%}}
  revenue_floor: {kpi: revenue, warning: {below: 1000}}
"""
EDITS = {  # version 2 of the spec, as a review would change it
    "    filter: \"stage = 'won'\"\n  conversion:": "    filter: \"stage = 'won' AND amount >= 500\"\n  conversion:",
    "2026-Q4: {total: 0.19,": "2026-Q4: {total: 0.21,",
    "    tags: [outcome]\n    target: 5000": "    tags: [outcome]\n    target: 5000\n    status: retired",
    "warning: {below: 15%}": "warning: {below: 12%}",
    "  lost: {label: Lost deals, model: deals, aggregate: count, filter: \"stage = 'lost'\"}\n":
        "  avg_deal: {label: Average deal, unit: currency, formula: revenue / deals_won}\n",
}


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=kpi test", "-c", "user.email=kpi@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(warehouse, tmp_path_factory):
    repo = tmp_path_factory.mktemp("spec_repo")
    spec = repo / "kpi_specs"
    spec.mkdir()
    v1 = (SPEC.replace("__DB__", str(warehouse["db"])).replace("\nmodels:", "\nmodels:", 1)
          + RULES).replace("  mindset:\n    label: Mindset",
                           "  lost: {label: Lost deals, model: deals, aggregate: count, filter: \"stage = 'lost'\"}\n"
                           "  mindset:\n    label: Mindset")
    (spec / "spec.yml").write_text(v1, encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Q3 spec")
    v2 = v1
    for old, new in EDITS.items():
        assert old in v2, old
        v2 = v2.replace(old, new)
    (spec / "spec.yml").write_text(v2, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "Q4 review")
    return repo


def kpi_diff(repo, *args):
    done = CliRunner().invoke(main, ["diff", "-s", str(repo / "kpi_specs"), *args])
    assert done.exit_code == 0, done.output
    return done.output


def test_the_spec_change_as_a_review_sees_it(repo):
    data = json.loads(kpi_diff(repo, "HEAD~1", "HEAD", "--format", "json"))
    assert data["summary"] == {"added": ["avg_deal"], "removed": ["lost"], "retired": ["revenue"],
                               "changed": ["deals_won", "conversion"]}
    fields = {c["name"]: [(f["kind"], f["field"], f["before"], f["after"]) for f in c["fields"]] for c in data["kpis"]}
    assert fields["deals_won"] == [("definition", "filter", "stage = 'won'", "stage = 'won' AND amount >= 500")]
    assert fields["revenue"] == [("status", "status", "active", "retired")]
    (kind, name, before, after), = fields["conversion"]
    assert (kind, name) == ("target", "targets")
    assert before["2026-Q4"]["total"] == 0.19 and after["2026-Q4"]["total"] == 0.21
    assert [(r["name"], r["change"], [(f["field"], f["before"], f["after"]) for f in r["fields"]])
            for r in data["rules"]] == [("conversion_floor", "changed", [("warning", {"below": "15%"},
                                                                         {"below": "12%"})])]
    text = kpi_diff(repo, "HEAD~1", "HEAD")
    assert "+ avg_deal: added" in text and "- lost: removed" in text and "x revenue: retired" in text
    assert "threshold warning: {'below': '15%'} -> {'below': '12%'}" in text


def test_the_working_tree_is_the_default_second_version(repo):
    assert "no KPI or rule changes" in kpi_diff(repo, "HEAD")
    assert "x revenue: retired" in kpi_diff(repo, "HEAD~1")


def test_values_compares_both_versions_on_the_same_data(repo, warehouse):
    data = json.loads(kpi_diff(repo, "HEAD~1", "HEAD", "--values", "--last", "2", "--format", "json"))
    values = data["values"]
    weeks = [date.fromisoformat(p) for p in values["periods"]]
    assert weeks == [date(2026, 11, 16), date(2026, 11, 23)]  # the last two complete weeks of data
    rows = {(r["kpi"], r["period_start"]): (r["a"], r["b"]) for r in values["rows"]}
    assert {k for k, _p in rows} == {"deals_won", "conversion", "performance", "avg_deal", "lost"}
    for week in weeks:
        end = week + timedelta(days=7)
        deals = [d for d in warehouse["deals"] if week <= d[0].date() < end]
        visits = sum(1 for v in warehouse["visits"] if week <= v[0].date() < end)
        won = [d for d in deals if d[2] == "won"]
        big = [d for d in won if d[3] >= 500]
        assert rows[("deals_won", week.isoformat())] == (len(won), len(big))
        a, b = rows[("conversion", week.isoformat())]
        assert a == pytest.approx(len(won) / visits) and b == pytest.approx(len(big) / visits)
        assert rows[("avg_deal", week.isoformat())] == (None, pytest.approx(sum(d[3] for d in won) / len(big)))
        assert rows[("lost", week.isoformat())] == (sum(1 for d in deals if d[2] == "lost"), None)
    text = kpi_diff(repo, "HEAD~1", "HEAD", "--values", "--last", "1")
    assert "Values, last 1 week(s)" in text and "deals_won" in text


def test_an_unknown_revision_is_a_clear_error(repo):
    done = CliRunner().invoke(main, ["diff", "-s", str(repo / "kpi_specs"), "v9.9"])
    assert done.exit_code != 0 and "neither a folder nor a git revision" in done.output


def test_the_review_shows_the_diff_since_the_last_review(warehouse, tmp_path, monkeypatch):
    from kpiengine.dashboard.review_feed import review_document
    from kpiengine.loader import load_project

    spec = tmp_path / "kpi_specs"
    spec.mkdir()
    marker = "    tags: [outcome]\n    target: 5000"
    v1 = SPEC.replace("__DB__", str(warehouse["db"])).replace(marker, marker + (
        "\n    review:\n      - {date: 2026-07-01, decision: keep, reason: Q2 review, by: ann}"))
    (spec / "spec.yml").write_text(v1, encoding="utf-8")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-06-30T18:00:00")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-06-30T18:00:00")
    git(tmp_path, "commit", "-q", "-m", "the spec the Q2 review agreed")
    (spec / "spec.yml").write_text(v1.replace("2026-Q4: {total: 0.19,", "2026-Q4: {total: 0.21,"), encoding="utf-8")
    doc = review_document(load_project(spec), date(2026, 7, 6), date(2026, 11, 2), today=date(2026, 12, 1))
    assert doc.last_review == date(2026, 7, 1)
    assert doc.diff is not None and [(c.name, c.change) for c in doc.diff.kpis] == [("conversion", "changed")]
    assert doc.to_dict()["diff_since_last_review"]["kpis"][0]["fields"][0]["field"] == "targets"
