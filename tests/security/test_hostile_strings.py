"""130 hostile strings as filters, labels, KPI names, templates, URLs and dimension values (tests/security/hostile.py).

Each role is one spec with every string on its own line, validated once per
engine dialect: the validator never crashes, every problem is located at the
line of the string that caused it, and every payload of issue 14 is rejected
for the engine it targets. Dimension values come back from a real DuckDB table
through ``kpi run``: control characters are visible in the table, and CSV
cells a spreadsheet would run as formulas are neutralised.
"""
from __future__ import annotations

import csv
import io
import re

import pytest
import yaml
from click.testing import CliRunner
from hostile import HOSTILE

from kpiengine.cli import main
from kpiengine.errors import SpecError
from kpiengine.spec.loader import load_project_unchecked, validate_project

FIRST_LINE = 5  # the line of the first hostile string in each spec below
HEADER = ("project: {{name: hostile, default_source: w}}\nsources:\n  w: {{type: {type}, {options}}}\n"
          "models:\n  m: {{table: t, time: ts, dimensions: {{region: region}}}}\n")
SOURCES = {"duckdb": 'path: ":memory:"', "sqlite": 'path: ":memory:"', "postgres": "host: 127.0.0.1",
           "mysql": "host: 127.0.0.1"}
TARGETS = {"sql-pg": "postgres", "sql-duckdb": "duckdb", "sql-mysql": "mysql", "sql-sqlite": "sqlite"}
DANGEROUS = re.compile(r"(?i)\b(select|delete|update|insert|attach|copy|pragma|set|call|over|count|random|"
                       r"current_date|from)\b|;|\$1|\?|'unterminated|\(\(\(|read_|load_file|sleep")


def q(text: str) -> str:
    """``text`` as a double-quoted YAML scalar on one line (control characters escaped the YAML way)."""
    return yaml.safe_dump(text, default_style='"', width=float("inf"), allow_unicode=True).strip()


def test_the_table_has_more_than_a_hundred_strings():
    assert len(HOSTILE) >= 100 and len({text for _, text in HOSTILE}) == len(HOSTILE)


def _validate(tmp_path, text: str):
    (tmp_path / "s.yml").write_text(text, encoding="utf-8")
    try:
        project, issues = load_project_unchecked(tmp_path)
        issues += validate_project(project)
    except SpecError as exc:
        issues = exc.issues
    assert not [i for i in issues if i.code == "internal"], [str(i) for i in issues if i.code == "internal"]
    assert all(i.location is not None for i in issues), [str(i) for i in issues if i.location is None]
    return issues


def _by_line(issues, first: int, count: int) -> dict[int, list]:
    found: dict[int, list] = {}
    for issue in issues:
        index = issue.location.line - first
        if 0 <= index < count:
            found.setdefault(index, []).append(issue)
    return found


@pytest.mark.parametrize("engine", sorted(SOURCES))
def test_hostile_filters_are_rejected_where_they_are_written(tmp_path, engine):
    body = "".join(f"  k{i}: {{label: K, model: m, aggregate: count, filter: {q(text)}}}\n"
                   for i, (_, text) in enumerate(HOSTILE))
    header = HEADER.format(type=engine, options=SOURCES[engine]) + "kpis:\n"
    issues = _validate(tmp_path, header + body)
    found = _by_line(issues, header.count("\n") + 1, len(HOSTILE))
    for i, (category, text) in enumerate(HOSTILE):
        targeted = TARGETS.get(category) == engine
        if targeted or category == "sql" and (DANGEROUS.search(text) or len(text) > 4000):
            assert any(issue.code in ("unsafe-sql", "yaml") for issue in found.get(i, [])), \
                f"{engine}: filter {text[:80]!r} was not rejected at its line"


def test_hostile_labels_load_and_show_visibly(tmp_path):
    body = "".join(f"  k{i}: {{label: {q(text)}, model: m, aggregate: count}}\n"
                   for i, (_, text) in enumerate(HOSTILE))
    header = HEADER.format(type="duckdb", options=SOURCES["duckdb"]) + "kpis:\n"
    issues = _validate(tmp_path, header + body)
    assert [str(i) for i in issues if i.code != "yaml"] == []  # any text is a label


def test_hostile_kpi_names_are_invalid_names_at_their_line(tmp_path):
    # YAML itself refuses implicit keys over 1024 characters: the two longest strings are values only
    names = [(c, t) for c, t in HOSTILE if len(t) < 1024]
    body = "".join(f"  {q(text)}: {{label: K, formula: \"1\"}}\n" for _, text in names)
    header = HEADER.format(type="duckdb", options=SOURCES["duckdb"]) + "kpis:\n"
    issues = _validate(tmp_path, header + body)
    found = _by_line(issues, header.count("\n") + 1, len(names))
    for i, (_, text) in enumerate(names):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
            assert any(issue.code in ("schema", "duplicate") for issue in found.get(i, [])), text[:60]


def test_hostile_templates_are_checked_and_never_render_huge(tmp_path):
    body = "".join(f"  r{i}:\n    kpi: k\n    type: static\n    warning: {{above: 1}}\n"
                   f"    message: {q(text)}\n" for i, (_, text) in enumerate(HOSTILE))
    header = HEADER.format(type="duckdb", options=SOURCES["duckdb"]) + \
        "kpis:\n  k: {label: K, model: m, aggregate: count}\nrules:\n"
    issues = _validate(tmp_path, header + body)
    messages = " ".join(i.message for i in issues)
    assert "widths and precisions above 200 are not allowed" in messages
    assert "only plain field names are allowed" in messages


def test_hostile_urls_in_sinks_are_checked_located_and_never_echoed(tmp_path):
    urls = [text for category, text in HOSTILE if category == "url"]
    body = "".join(f"  s{i}: {{type: webhook, url: {q(text)}}}\n" for i, text in enumerate(urls))
    issues = _validate(tmp_path, HEADER.format(type="duckdb", options=SOURCES["duckdb"]) + "sinks:\n" + body)
    assert issues
    for issue in issues:
        assert not any(url in issue.message or url in (issue.hint or "") for url in urls if len(url) > 12)


def test_hostile_dimension_values_are_visible_in_tables_and_safe_in_csv(tmp_path):
    import duckdb

    values = [text for _, text in HOSTILE if "\x00" not in text]
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (ts TIMESTAMP, region VARCHAR)")
    con.executemany("INSERT INTO t VALUES (TIMESTAMP '2026-03-02 10:00', ?)", [(v,) for v in values])
    con.close()
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "s.yml").write_text(HEADER.format(type="duckdb", options=f'path: "{path}"') +
                                  "kpis:\n  n: {label: N, model: m, aggregate: count}\n", encoding="utf-8")
    table = CliRunner().invoke(main, ["run", "-s", str(folder), "--no-history", "--by", "region"])
    assert table.exit_code == 0, table.output
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", table.output)
    assert "\\x1b[2J" in table.output and "\\u202e" in table.output
    raw_csv = CliRunner().invoke(main, ["run", "-s", str(folder), "--no-history", "--by", "region",
                                        "--format", "csv"]).output
    cells = [row[2] for row in csv.reader(io.StringIO(raw_csv))][1:]
    assert sorted(cells) == sorted(("'" + v) if v.startswith(("=", "+", "-", "@", "\t", "\r")) else v
                                   for v in values)
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    raw = CliRunner().invoke(main, ["run", "-s", str(folder), "--no-history", "--by", "region", "--format", "csv",
                                    "--raw"]).output
    assert sorted(row[2] for row in list(csv.reader(io.StringIO(raw)))[1:]) == sorted(values)
