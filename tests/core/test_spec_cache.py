"""The spec cache never gives a stale result: every change it depends on is a miss, a damaged file is a miss.

Values are checked against sums computed in plain Python over the rows the
test wrote, on a real DuckDB file, through the real ``kpi`` command.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import duckdb
import pytest
from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.spec.cache import load_project_cached
from kpiengine.spec.loader import load_project

AMOUNTS = [(i, f"2026-03-{2 + i % 14:02d} 10:00:00", ["east", "west", None][i % 3], 10 + i) for i in range(60)]


def make_db(path, rows):
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (id INT, ts TIMESTAMP, region TEXT, amount INT)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", rows)
    con.close()


SPEC = """
project: {{name: cached, timezone: UTC, history: hist.db}}
sources:
  w: {{type: duckdb, path: "{db}"}}
models:
  sales: {{table: sales, time: ts, dimensions: {{region: region}}}}
kpis:
  revenue: {{label: Revenue, model: sales, aggregate: sum, column: amount{filter}}}
  orders: {{label: Orders, model: sales, aggregate: count}}
  avg_order: {{label: Average order, formula: revenue / orders}}
"""


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.delenv("KPIENGINE_NO_CACHE", raising=False)
    make_db(tmp_path / "w.duckdb", AMOUNTS)
    folder = tmp_path / "specs"
    folder.mkdir()
    write(folder, db=tmp_path / "w.duckdb")
    return folder


def write(folder, *, db, filter=""):
    (folder / "s.yml").write_text(SPEC.format(db=db, filter=filter), encoding="utf-8")


def run_json(folder, *args):
    res = CliRunner().invoke(main, ["run", "-s", str(folder), "--format", "json", "--no-history", *args],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return {(r["kpi"], r["period_start"], r["dimensions"].get("region")): r["value"]
            for r in json.loads(res.output)["rows"]}


def expected_revenue(rows, keep=lambda r: True):
    out: dict = {}
    for _id, ts, region, amount in rows:
        if keep((_id, ts, region, amount)):
            week = "2026-03-02" if ts < "2026-03-09" else "2026-03-09"
            out[week, region] = out.get((week, region), 0) + amount
    return out


def revenue(values):
    return {(p, r): v for (k, p, r), v in values.items() if k == "revenue" and v}


def cache_files(folder):
    return sorted(p.name.split("-")[0] for p in (folder / ".kpiengine" / "cache").glob("*.pickle"))


def test_hit_gives_the_same_values_and_the_same_project(spec):
    first = run_json(spec, "--by", "region")
    assert cache_files(spec) == ["plan", "spec", "watermarks"]
    assert run_json(spec, "--by", "region") == first
    assert revenue(first) == expected_revenue(AMOUNTS)
    fresh, cached = load_project(spec), load_project_cached(spec)
    assert cached.cache is not None
    assert (cached.version, list(cached.kpis), cached.kpis["revenue"], cached.sources["w"].options) == \
           (fresh.version, list(fresh.kpis), fresh.kpis["revenue"], fresh.sources["w"].options)


def test_an_edited_spec_is_a_miss(spec, tmp_path):
    run_json(spec, "--by", "region")
    write(spec, db=tmp_path / "w.duckdb", filter=", filter: \"amount > 40\"")
    assert revenue(run_json(spec, "--by", "region")) == expected_revenue(AMOUNTS, lambda r: r[3] > 40)
    assert cache_files(spec) == ["plan", "spec", "watermarks"]  # the old version's entries were dropped


def test_an_invalid_spec_is_never_cached(spec, tmp_path):
    run_json(spec)
    (spec / "s.yml").write_text(SPEC.format(db=tmp_path / "w.duckdb", filter="").replace("sum", "summ"))
    for _ in range(2):  # reported each time, never served from the cache
        res = CliRunner().invoke(main, ["run", "-s", str(spec), "--no-history"])
        assert res.exit_code == 2 and "unknown aggregate 'summ'" in res.output


def test_environment_is_read_at_every_load_and_never_stored(spec, tmp_path, monkeypatch):
    other = [(i, "2026-03-03 09:00:00", "east", 1000) for i in range(3)]
    make_db(tmp_path / "other.duckdb", other)
    (spec / "s.yml").write_text(SPEC.format(db="${KPI_TEST_DB}", filter=""), encoding="utf-8")
    monkeypatch.setenv("KPI_TEST_DB", str(tmp_path / "w.duckdb"))
    assert revenue(run_json(spec, "--by", "region")) == expected_revenue(AMOUNTS)
    monkeypatch.setenv("KPI_TEST_DB", str(tmp_path / "other.duckdb"))
    assert revenue(run_json(spec, "--by", "region")) == {("2026-03-02", "east"): 3000}
    blob = b"".join(p.read_bytes() for p in (spec / ".kpiengine" / "cache").glob("*.pickle"))
    assert b"${KPI_TEST_DB}" in blob and str(tmp_path / "other.duckdb").encode() not in blob
    monkeypatch.delenv("KPI_TEST_DB")
    res = CliRunner().invoke(main, ["run", "-s", str(spec), "--no-history"])
    assert res.exit_code == 2 and "KPI_TEST_DB" in res.output


def test_a_secret_in_a_plain_string_keeps_the_spec_out_of_the_cache(spec, tmp_path, monkeypatch):
    # A label is not expanded, but if the value of a variable the spec uses shows up in the
    # payload by any path, the payload is not written.
    monkeypatch.setenv("KPI_TEST_DB", str(tmp_path / "w.duckdb"))
    text = SPEC.format(db="${KPI_TEST_DB}", filter="").replace("label: Orders", f"label: '{tmp_path}/w.duckdb'")
    (spec / "s.yml").write_text(text, encoding="utf-8")
    run_json(spec)
    assert not (spec / ".kpiengine" / "cache").exists() or not list((spec / ".kpiengine" / "cache").glob("spec-*"))


def test_damaged_or_foreign_cache_files_are_misses(spec):
    first = run_json(spec, "--by", "region")
    [entry] = (spec / ".kpiengine" / "cache").glob("spec-*.pickle")
    key = entry.read_bytes().split(b"\n", 1)[0]
    entry.write_bytes(key + b"\nnot a pickle")
    assert run_json(spec, "--by", "region") == first
    entry.chmod(0o666)  # anyone may write it: never unpickled
    entry.write_bytes(key + b"\n" + b"garbage")
    assert run_json(spec, "--by", "region") == first


def test_kpiengine_no_cache_turns_it_off(spec, monkeypatch):
    monkeypatch.setenv("KPIENGINE_NO_CACHE", "1")
    run_json(spec)
    assert not (spec / ".kpiengine" / "cache").exists()


def test_a_hit_imports_neither_yaml_nor_jsonschema_nor_the_plugins(spec):
    run_json(spec)  # warm the cache
    code = textwrap.dedent(f"""
        import json, sys
        from kpiengine.spec.cache import load_project_cached
        from kpiengine.plugins import default_registry
        p = load_project_cached({str(spec)!r})
        default_registry().source_type("duckdb")
        print(json.dumps([len(p.kpis)] + sorted(m for m in ("yaml", "jsonschema", "smtplib",
              "kpiengine_plugins.email_sink", "kpiengine.spec.loader") if m in sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "KPIENGINE_NO_CACHE": ""})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [3]


def test_removing_a_plugin_the_spec_needs_is_a_miss(spec, tmp_path):
    """The installed plugins are part of the key: a cached spec with a plugin's section fails once it is gone."""
    dist = tmp_path / "dist"
    info = dist / "kpi_note-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kpi-note\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kpiengine]\nnote = kpitest_note_section\n")
    (dist / "kpitest_note_section.py").write_text(textwrap.dedent("""
        from kpiengine import hookimpl
        from kpiengine.sections import SpecSection

        class Note(SpecSection):
            name = "note"
            def schema(self):
                return {"type": "string"}

        @hookimpl
        def kpiengine_spec_sections():
            return [Note()]
    """))
    (spec / "note.yml").write_text("note: hello\n")
    env = {**os.environ, "KPIENGINE_NO_CACHE": ""}
    kpi = [sys.executable, "-c", "from kpiengine.cli import main; main()", "run", "-s", str(spec), "--no-history"]
    with_plugin = subprocess.run(kpi, capture_output=True, text=True, env={**env, "PYTHONPATH": str(dist)})
    assert with_plugin.returncode == 0, with_plugin.stderr
    without = subprocess.run(kpi, capture_output=True, text=True, env=env)
    assert without.returncode == 2 and "note" in without.stderr
