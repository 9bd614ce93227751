"""Entities in the spec: what validation refuses (located, with a hint) and what the planner decides.

Ambiguous paths list every candidate, written so it can be pasted back; a
one-to-many join is refused with its reason; keys of different widths, two
primary entities, a KPI over a dimension table and unsafe keys are located
errors; a request-time mistake (``--by``, ``--where``) is a SpecError with a
hint, never a warehouse error.
"""
from __future__ import annotations

import textwrap

import pytest

from kpiengine.engine import Engine
from kpiengine.errors import SpecError
from kpiengine.loader import load_project
from kpiengine.spec.dimensions import available_dimensions

BASE = """
project: {name: e, default_source: w}
sources: {w: {type: duckdb, path: ":memory:"}}
models:
  deals:
    table: deals
    time: created_at
    entities:
      deal: {type: primary}
      lead: {type: foreign}
      account: {type: foreign}
    dimensions: {stage: stage}
  leads:
    table: leads
    entities: {lead: {type: primary}, owner: {type: foreign}}
    dimensions: {origin: origin}
  accounts:
    table: accounts
    entities: {account: {type: primary}, owner: {type: foreign}}
    dimensions: {industry: industry}
  owners:
    table: owners
    entities: {owner: {type: primary}}
    dimensions: {team: team}
  hires:
    table: reps
    time: hired_at
    entities: {owner: {type: primary, key: rep_id}}
kpis:
  deals: {label: Deals, model: deals, aggregate: count}
  hires: {label: Hires, model: hires, aggregate: count}
"""


def write(tmp_path, text: str = BASE, extra: str | None = None) -> str:
    (tmp_path / "spec.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    if extra:
        (tmp_path / "extra.yml").write_text(textwrap.dedent(extra), encoding="utf-8")
    return str(tmp_path)


def problems(folder) -> list:
    with pytest.raises(SpecError) as info:
        load_project(folder)
    return info.value.issues


def request_problem(folder, **request) -> str:
    with pytest.raises(SpecError) as info:
        Engine(load_project(folder)).compile(**request)
    return "\n".join(str(i) for i in info.value.issues)


def test_two_paths_of_one_length_are_ambiguous_and_both_are_named(tmp_path):
    folder = write(tmp_path)
    text = request_problem(folder, kpis=["deals"], by=["owner.team"])
    assert "ambiguous: 2 join paths of 2 hop(s)" in text
    assert "lead.owner.team (deals -> leads -> owners)" in text
    assert "account.owner.team (deals -> accounts -> owners)" in text
    # Not offered as a breakdown; each full path is, and compiles to its own joins.
    assert "owner.team" not in available_dimensions(load_project(folder), "deals")
    sql = Engine(load_project(folder)).compile(["deals"], by=["account.owner.team"], dialect="duckdb")[0].sql
    assert "LEFT JOIN accounts AS j1 ON m.account_id = j1.account_id" in sql
    assert "LEFT JOIN owners AS j2 ON j1.owner_id = j2.owner_id" in sql


def test_ambiguous_breakdown_in_the_spec_is_located(tmp_path):
    folder = write(tmp_path, extra="""
        kpis:
          deals_by_team:
            label: Deals by team
            model: deals
            aggregate: count
            dimensions: [owner.team]
        """)
    issue = next(i for i in problems(folder) if i.code == "dimension")
    assert issue.location.file.endswith("extra.yml") and issue.location.line == 7
    assert "ambiguous" in issue.message and "lead.owner.team" in issue.hint


def test_one_to_many_is_refused_with_the_reason(tmp_path):
    folder = write(tmp_path)
    # hires -[owner]-> leads: owner is only a foreign key in leads, many leads per hire.
    text = request_problem(folder, kpis=["hires"], by=["owner.origin"])
    assert "one-to-many join (hires -[owner]-> leads): 'owner' is foreign in model 'leads'" in text
    assert "counted several times" in text


def test_unknown_entity_and_unknown_dimension(tmp_path):
    folder = write(tmp_path)
    assert "unknown entity 'region'" in request_problem(folder, kpis=["deals"], by=["region.name"])
    text = request_problem(folder, kpis=["deals"], by=["lead.colour"])
    assert "reaches no dimension 'lead.colour'" in text and "lead.origin" in text


def test_reachable_dimensions_are_listed(tmp_path):
    project = load_project(write(tmp_path))
    assert available_dimensions(project, "deals") == {"stage", "lead.origin", "account.industry"}
    # hires has owner as primary, owners too: one-to-one, reachable; leads' origin only through a fan-out.
    assert available_dimensions(project, "hires") == {"owner.team"}


def test_one_to_one_is_allowed(tmp_path):
    project = load_project(write(tmp_path))
    sql = Engine(project).compile(["hires"], by=["owner.team"], dialect="duckdb")[0].sql
    assert "LEFT JOIN owners AS j1 ON m.rep_id = j1.owner_id" in sql


@pytest.mark.parametrize("extra, code, words, line", [
    ("""
     models:
       twice:
         table: t
         time: ts
         entities: {a: {type: primary}, b: {type: primary}}
     """, "entity", "declares 2 primary entities", 6),
    ("""
     models:
       wide:
         table: t
         time: ts
         entities: {lead: {type: foreign, key: [a, b]}}
     """, "entity", "entity 'lead' has a key of", None),
    ("""
     models:
       bad:
         table: t
         time: ts
         entities: {lead: {type: foreign, key: "pg_sleep(10)"}}
     """, "unsafe-sql", "pg_sleep", 6),
    ("""
     kpis:
       owners: {label: Owners, model: owners, aggregate: count}
     """, "kpi", "which has no `time:`", 3),
    ("""
     models:
       typo:
         table: t
         time: ts
         entities: {lead: {type: foreing}}
     """, "schema", "foreing", 6),
])
def test_entity_mistakes_are_located(tmp_path, extra, code, words, line):
    issues = [i for i in problems(write(tmp_path, extra=extra)) if i.code == code]
    assert issues, f"no {code} issue"
    issue = next((i for i in issues if words in str(i)), None)
    assert issue is not None, [str(i) for i in issues]
    if line is None:  # a mismatch between two models is reported at the one read second
        assert "'wide'" in issue.message and issue.location is not None
    else:
        assert issue.location.file.endswith("extra.yml") and issue.location.line == line, str(issue)


@pytest.mark.parametrize("where, words", [
    ("stage = 'won'; DROP TABLE deals", "--where"),
    ("pg_sleep(5) IS NULL", "not allowed"),
    ("(SELECT 1) = 1", "--where"),
    ("colour = 'red'", "cannot be broken down by 'colour'"),
    ("1 = 1", "names no dimension"),
])
def test_bad_where_is_a_request_error(tmp_path, where, words):
    assert words in request_problem(write(tmp_path), kpis=["deals"], by=[], where=where)


def test_where_reads_dimensions_not_columns(tmp_path):
    project = load_project(write(tmp_path))
    sql = Engine(project).compile(["deals"], by=[], dialect="duckdb", where="lead.origin = 'ads'")[0].sql
    assert "LEFT JOIN leads AS j1 ON m.lead_id = j1.lead_id" in sql
    assert "(j1.origin) = 'ads'" in sql
