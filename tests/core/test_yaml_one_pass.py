"""The one-pass YAML reader (plain documents) gives what the full reader gives, located the same.

Large specs are read in one pass over the parser's events; anything unusual
(anchors, tags, merge keys, duplicates, problems) goes through the full
reader. Values are checked against what the text says, and every document's
values, types, locations and issues against the full reader's.
"""
from __future__ import annotations

import math

import pytest

from kpiengine.errors import Location
from kpiengine.spec import yamlsrc
from kpiengine.spec.limits import MAX_YAML_DEPTH
from kpiengine.spec.located import LDict, LList, LStr

PLAIN = """\
kpis:
  visits:
    label: "Visits: all"
    aggregate: count
    percentile: 0.9
    enabled: true
    note: ~
    limit: 12
    since: 2026-01-05
    tags: [a, 'b c', 3]
    nested: {x: [1, {y: z}], empty: {}, none: []}
"""

TRICKY = {
    "empty": "",
    "comments only": "# nothing here\n",
    "scalar document": "just text\n",
    "anchor and alias": "a: &x {k: 1}\nb: *x\n",
    "merge key": "base: &b {k: 1, j: 2}\nkpi:\n  <<: *b\n  j: 3\n",
    "explicit tag": "a: !!str 12\nb: !!int '7'\n",
    "unsupported tag": "a: !!python/name:os.system x\n",
    "bad tagged value": "a: !!float abc\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "collection key": "? [a, b]\n: 1\nc: 2\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "syntax error": "a: [1, 2\nb: 3\n",
    "tab indentation": "a:\n\tb: 1\n",
    "value key": "=: 1\n",
    "non-specific tag": "a: ! 12\n",
    "too deep": "a: " + "[" * (MAX_YAML_DEPTH + 2) + "]" * (MAX_YAML_DEPTH + 2) + "\n",
    "at the depth limit": "a: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1) + "\n",
    "bool and int keys": "1: one\ntrue: yes\nnull: nothing\n'1': text one\n",
    "equal keys of two types": "1: a\n1.0: b\n",
    "special floats": "a: .inf\nb: -.Inf\nc: .nan\nd: 1e3\ne: 0x1F\n",
    "block scalars": "a: |\n  line 1\n  line 2\nb: >\n  folded\n  text\n",
    "unicode": "ラベル: 指標\nemoji: \"\\u00e9t\\u00e9\"\n",
}


def _same(a, b, path="$"):
    assert type(a) is type(b), path
    if isinstance(a, LDict):
        assert list(a) == list(b), path
        assert (a.loc, a.key_locs, a.value_locs) == (b.loc, b.key_locs, b.value_locs), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, LList):
        assert (a.loc, a.item_locs, len(a)) == (b.loc, b.item_locs, len(b)), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), path
        if isinstance(a, LStr):
            assert a.loc == b.loc, path


def test_plain_document_values_and_locations():
    doc, issues = yamlsrc.load_yaml_text(PLAIN, "s.yml")
    assert issues == []
    visits = doc["kpis"]["visits"]
    assert visits == {"label": "Visits: all", "aggregate": "count", "percentile": 0.9, "enabled": True,
                      "note": None, "limit": 12, "since": "2026-01-05", "tags": ["a", "b c", 3],
                      "nested": {"x": [1, {"y": "z"}], "empty": {}, "none": []}}
    assert isinstance(visits["since"], LStr)  # dates stay text
    assert visits["label"].loc == Location("s.yml", 3, 12)
    assert doc["kpis"].key_locs["visits"] == Location("s.yml", 2, 3)
    assert doc["kpis"].value_locs["visits"] == visits.loc == Location("s.yml", 3, 5)
    assert visits["tags"].item_locs == [Location("s.yml", 10, 12), Location("s.yml", 10, 15),
                                        Location("s.yml", 10, 22)]
    assert type(visits["limit"]) is int and type(visits["enabled"]) is bool


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_one_pass_equals_full_reader(name):
    text = TRICKY[name]
    doc, issues = yamlsrc.load_yaml_text(text, "t.yml")
    full_doc, full_issues = yamlsrc._load_checked(text, "t.yml")
    assert [(i.message, i.location, i.hint, i.code) for i in issues] == \
        [(i.message, i.location, i.hint, i.code) for i in full_issues]
    _same(doc, full_doc)


def test_problems_are_still_reported_located():
    _, issues = yamlsrc.load_yaml_text(TRICKY["duplicate key"], "t.yml")
    assert [(i.code, i.location) for i in issues] == [("duplicate", Location("t.yml", 3, 1))]
    _, issues = yamlsrc.load_yaml_text(TRICKY["too deep"], "t.yml")
    assert "nests more than" in issues[0].message
    _, issues = yamlsrc.load_yaml_text(TRICKY["unsupported tag"], "t.yml")
    assert "not supported" in issues[0].message and issues[0].location.line == 1
    doc, issues = yamlsrc.load_yaml_text(TRICKY["merge key"], "t.yml")
    assert doc["kpi"] == {"k": 1, "j": 3} and [i.code for i in issues] == ["duplicate"]
