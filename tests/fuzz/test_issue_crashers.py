"""Every cause of a validator crash listed in issue 14, each now one located message (and fast)."""
from __future__ import annotations

import time

import pytest

from kpiengine.errors import SpecError
from kpiengine.spec.loader import load_project_unchecked, validate_project

BASE = ("project: {name: t, default_source: w}\nsources:\n  w: {type: duckdb, path: \":memory:\"}\n"
        "models:\n  m: {table: t, time: ts, dimensions: {region: region}}\n")

ALIAS_BOMB = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10 if p else ['x'] * 10)}]\n"
                     for p, c in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi"))


def deep_yaml(levels: int) -> str:
    return "kpis:\n  k: {label: K, formula: \"1\", tags: " + "[" * levels + "]" * levels + "}\n"


def deep_process(levels: int) -> str:
    text, indent = "process:\n", "  "
    for i in range(levels):
        text += f"{indent}- id: n{i}\n{indent}  label: N{i}\n{indent}  children:\n"
        indent += "    "
    return text + f"{indent}- {{id: leaf, label: Leaf}}\n"


CASES = [
    ("a list where a model name belongs", "kpis:\n  k: {label: K, model: [m], aggregate: count}\n",
     "kpis.k.model must be text, not a list"),
    ("a list where a process node belongs", "kpis:\n  k: {label: K, formula: \"1\", process: [a]}\n",
     "kpis.k.process must be text, not a list"),
    ("a list as default_source", "sinks: {}\n", "project.default_source must be text, not a list"),
    ("a list as formula", "kpis:\n  k: {label: K, formula: [a, b]}\n", "kpis.k.formula must be text, not a list"),
    ("nested dimensions", "models:\n  n: {table: t, time: ts, dimensions: {a: {b: c}}}\n",
     "models.n.dimensions.a must be text, not a mapping"),
    ("an int KPI name", "kpis:\n  1: {label: K, formula: \"1\"}\n", "invalid name 1 in kpis"),
    ("a null KPI name", "kpis:\n  ~: {label: K, formula: \"1\"}\n", "invalid name ~ (null) in kpis"),
    ("children: 5", "process:\n  - {id: a, label: A, children: 5}\n", "process[0].children must be a list"),
    ("a NUL character", "kpis:\n  k: {label: \"a\x00\", formula: \"1\"}\n", "control character U+0000"),
    ("an escape character", "kpis:\n  k: {label: a\x1b[2J, formula: \"1\"}\n", "control character U+001B"),
    ("!!float abc", "kpis:\n  k: {label: K, formula: \"1\", target: !!float abc}\n", "cannot read this value"),
    ("an unbalanced quote in a formula", "kpis:\n  k: {label: K, formula: \"a + 'b\"}\n", "a quote is not closed"),
    ("50 nested parentheses", "kpis:\n  k: {label: K, formula: \"" + "(" * 50 + "1" + ")" * 50 + "\"}\n",
     "nests parentheses 50 deep"),
    ("a 1,000-term formula", "kpis:\n  k: {label: K, formula: \"" + " + ".join(["1"] * 1000) + "\"}\n",
     "characters long; the limit is 2,000"),
    ("a 300-term formula", "kpis:\n  k: {label: K, formula: \"" + "+".join(["1"] * 300) + "\"}\n",
     "more than 200 operations in a chain"),
    ("1,000-deep YAML", deep_yaml(1000), "nest"),
    ("a 500-deep process tree", deep_process(500), "the YAML nests more than 64 levels deep"),
    ("repeat_interval: 99999999999d", "routes:\n  sinks: [c]\n  repeat_interval: 99999999999d\n"
                                      "sinks:\n  c: {type: console}\n", "longer than ten years"),
    ("a funnel step on an invalid model", "models:\n  bad: {table: t, time: \"lo_from_bytea(0, 'x')\"}\n"
     "funnels:\n  f:\n    entity: region\n    steps:\n      - {name: a, model: bad}\n      - {name: b, model: m}\n",
     "function lo_from_bytea() is not allowed"),
    ("a 470-byte alias bomb", ALIAS_BOMB, "expands to more than 200,000 values"),
    ("a template width of 30,000,000", "kpis:\n  k: {label: K, model: m, aggregate: count}\nrules:\n  r:\n"
     "    kpi: k\n    type: static\n    warning: {above: 1}\n    message: \"{value:>30000000}\"\n",
     "widths and precisions above 200 are not allowed"),
]


@pytest.fixture(scope="module", autouse=True)
def warm(tmp_path_factory):
    """Plugins, schema and parsers loaded once, so the time limit measures the validation alone."""
    folder = tmp_path_factory.mktemp("warm")
    (folder / "base.yml").write_text(BASE, encoding="utf-8")
    validate_project(load_project_unchecked(folder)[0])


@pytest.mark.parametrize("what, text, expected", CASES, ids=[c[0] for c in CASES])
def test_issue_14_crasher_is_one_located_message(tmp_path, what, text, expected):
    base = BASE.replace("default_source: w}", "default_source: [w]}") if what == "a list as default_source" else BASE
    (tmp_path / "base.yml").write_text(base, encoding="utf-8")
    (tmp_path / "x.yml").write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    try:
        project, issues = load_project_unchecked(tmp_path)
        issues += validate_project(project)
    except SpecError as exc:
        issues = exc.issues
    assert time.perf_counter() - t0 < 5
    assert [i for i in issues if i.code == "internal"] == []
    assert all(i.location is not None for i in issues), [str(i) for i in issues]
    assert any(expected in i.message for i in issues), [str(i) for i in issues]
