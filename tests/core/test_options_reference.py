"""The options reference of docs/plugins.md is generated from the plugins' options schemas and agrees with them."""
from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from kpiengine.cli import main
from kpiengine.cli.options_reference import DOC_END, DOC_START, plugin_types, reference_markdown
from kpiengine.plugins import default_registry

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")


def test_the_docs_section_is_exactly_the_generated_reference():
    start, end = DOC.index(DOC_START), DOC.index(DOC_END) + len(DOC_END)
    assert DOC[start:end] == reference_markdown(default_registry()), \
        "regenerate it: kpi plugins --options all --format markdown"


def test_every_builtin_option_is_in_the_docs_and_in_kpi_plugins_options():
    registry = default_registry()
    builtin = plugin_types(registry, builtin_only=True)
    assert {name for kind, name, _ in builtin if kind == "source"} >= {"duckdb", "sqlite", "postgres", "mysql"}
    for kind, name, cls in builtin:
        heading = f"#### {kind} `{name}`"
        section = DOC.split(heading, 1)[1].split("####", 1)[0]
        printed = json.loads(CliRunner().invoke(main, ["plugins", "--options", name, "--format", "json"]).output)
        printed_options = {o["option"] for entry in printed if entry["kind"] == kind for o in entry["options"]}
        for option in cls.options_schema.get("properties", {}):
            assert f"| `{option}` |" in section, f"{kind} {name}: option {option} missing from docs/plugins.md"
            assert option in printed_options


def test_kpi_plugins_options_table_and_unknown_type():
    runner = CliRunner()
    out = runner.invoke(main, ["plugins", "--options", "postgres"])
    assert out.exit_code == 0
    assert re.search(r"^port\s+whole number >= 1 <= 65535\s+5432", out.output, re.M)
    assert re.search(r"^password\s+text \(secret: use \$\{ENV\}\)", out.output, re.M)
    bad = runner.invoke(main, ["plugins", "--options", "postgrs"])
    assert bad.exit_code == 2 and "did you mean 'postgres'?" in bad.output


def test_every_unknown_source_option_is_reported_at_once_with_a_did_you_mean(tmp_path):
    (tmp_path / "p.yml").write_text(
        "sources:\n  pg:\n    type: postgres\n    host: h\n    database: x\n    schema: y\n    username: u\n",
        encoding="utf-8")
    out = CliRunner().invoke(main, ["validate", "-s", str(tmp_path), "--format", "json"])
    problems = [p for p in json.loads(out.output)["problems"] if p["code"] == "source-options"]
    by_line = {p["line"]: p for p in problems}
    assert sorted(by_line) == [5, 6, 7]
    assert by_line[5]["message"] == "source 'pg': unknown option 'database' for a postgres source"
    assert by_line[5]["hint"].startswith("did you mean 'dbname'?")
    assert by_line[7]["hint"].startswith("did you mean 'user'?")
    assert all("kpi plugins --options postgres" in p["hint"] for p in problems)
