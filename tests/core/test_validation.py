"""Every validation error: its message, its file:line:column, and its hint."""
from __future__ import annotations

import pytest

from kpiengine.errors import SpecError
from kpiengine.loader import load_project


def problems(folder):
    with pytest.raises(SpecError) as info:
        load_project(folder)
    return info.value.issues


def only(issues, code):
    found = [i for i in issues if i.code == code]
    assert found, f"no {code!r} issue in {[str(i) for i in issues]}"
    return found


def test_base_spec_is_valid(spec_dir):
    project = load_project(spec_dir())
    assert set(project.kpis) == {"visits", "deals_won", "conversion"}
    assert project.kpi_path("conversion") == ["Sales 銷售體系", "Closing 成交"]


def test_malformed_yaml_is_located_not_a_traceback(spec_dir):
    folder = spec_dir({"bad.yml": "kpis:\n  leads:\n    label: Leads: all\n"})
    issue = only(problems(folder), "yaml")[0]
    assert issue.location.file.endswith("bad.yml")
    assert issue.location.line == 3
    assert "quoted" in issue.hint


def test_tab_indentation_gets_a_hint(spec_dir):
    folder = spec_dir({"tabs.yml": "kpis:\n\tleads: {label: x}\n"})
    issue = only(problems(folder), "yaml")[0]
    assert issue.location.line == 2
    assert "tab" in issue.message.lower() or "tab" in (issue.hint or "").lower()


def test_unknown_kpi_in_formula_with_did_you_mean(spec_dir):
    folder = spec_dir({"extra.yml": """
        kpis:
          per_visit:
            label: Per visit
            formula: deals_won / visit
        """})
    issue = only(problems(folder), "reference")[0]
    assert issue.message == "unknown KPI 'visit' in the formula of 'per_visit'"
    assert issue.hint == "did you mean 'visits'?"
    assert issue.location.file.endswith("extra.yml") and issue.location.line == 5


def test_formula_cycle_reports_the_path(spec_dir):
    folder = spec_dir({"cycle.yml": """
        kpis:
          a: {label: A, formula: b * 2}
          b: {label: B, formula: c + visits}
          c: {label: C, formula: a / 3}
        """})
    issue = only(problems(folder), "cycle")[0]
    assert issue.message.startswith("formula cycle: ")
    path = issue.message.removeprefix("formula cycle: ").split(" -> ")
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"}
    assert issue.location.file.endswith("cycle.yml")


def test_dimension_missing_on_one_model_of_a_formula(spec_dir):
    folder = spec_dir({"dims.yml": """
        kpis:
          conv_by_channel:
            label: Conversion by channel
            formula: deals_won / visits
            dimensions: [channel]
        """})
    issue = only(problems(folder), "dimension")[0]
    assert "cannot be broken down by 'channel'" in issue.message
    assert "deals" in issue.message  # the model lacking it
    assert issue.location.line == 6


def test_duplicate_names_across_files_name_both_places(spec_dir):
    folder = spec_dir({"dup.yml": "kpis:\n  visits: {label: again, model: visits, aggregate: count}\n"})
    issue = only(problems(folder), "duplicate")[0]
    assert issue.message.startswith("KPI 'visits' is defined twice (first at ")
    assert "base.yml" in issue.message and issue.location.file.endswith("dup.yml")


def test_duplicate_key_in_one_file(spec_dir):
    folder = spec_dir({"dupkey.yml": "kpis:\n  x: {label: X, formula: visits}\n  x: {label: Y, formula: visits}\n"})
    issue = only(problems(folder), "duplicate")[0]
    assert "duplicate key 'x'" in issue.message and issue.location.line == 3


@pytest.mark.parametrize("bad_filter, expected", [
    ("stage = 'won'; DROP TABLE deals", "single expression"),
    ("stage = 'won') OR (1 = 1", "cannot parse"),
    ("stage IN (SELECT stage FROM secrets)", "subqueries are not allowed"),
    ("pg_sleep(5) IS NULL", "pg_sleep() is not allowed"),
    ("DELETE FROM deals", "not"),
    ("count(*) > 1", "aggregate functions are not allowed"),
])
def test_unsafe_filters_are_rejected(spec_dir, bad_filter, expected):
    folder = spec_dir({"f.yml": "kpis:\n  bad:\n    label: Bad\n    model: deals\n    aggregate: count\n"
                                "    filter: |-\n      " + bad_filter + "\n"})
    issue = only(problems(folder), "unsafe-sql")[0]
    assert expected in issue.message
    assert issue.location.file.endswith("f.yml") and issue.location.line == 6


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM deals; DELETE FROM deals", "single SELECT"),
    ("INSERT INTO deals SELECT * FROM deals", "read-only SELECT"),
    ("SELECT * INTO copy FROM deals", "INTO"),
    ("DROP TABLE deals", "read-only SELECT"),
])
def test_unsafe_model_sql_is_rejected(spec_dir, sql, expected):
    folder = spec_dir({"m.yml": f"models:\n  evil:\n    sql: \"{sql}\"\n    time: ts\n"}, trusted_sql=True)
    issue = only(problems(folder), "unsafe-sql")[0]
    assert expected in issue.message and issue.location.line == 3


def test_unknown_aggregate_has_did_you_mean(spec_dir):
    folder = spec_dir({"a.yml": "kpis:\n  n:\n    label: N\n    model: deals\n    aggregate: cout\n"})
    issue = only(problems(folder), "schema")[0]
    assert "unknown aggregate 'cout'" in issue.message
    assert issue.hint.startswith("did you mean 'count'?")
    assert issue.location.line == 5


def test_unknown_field_has_did_you_mean(spec_dir):
    folder = spec_dir({"a.yml": "kpis:\n  n:\n    lable: N\n    label: N\n    formula: visits\n"})
    issue = only(problems(folder), "schema")[0]
    assert "unknown field 'lable'" in issue.message and "did you mean 'label'?" in issue.hint
    assert issue.location.line == 3


def test_unknown_model_and_process_node(spec_dir):
    folder = spec_dir({"a.yml": "kpis:\n  n:\n    label: N\n    model: deal\n    aggregate: count\n"
                                "    process: closng\n"})
    issues = only(problems(folder), "reference")
    messages = {i.message: i for i in issues}
    assert messages["KPI 'n' reads unknown model 'deal'"].hint == "did you mean 'deals'?"
    assert messages["KPI 'n' is attached to unknown process node 'closng'"].hint == "did you mean 'closing'?"


def test_unknown_source_type_lists_installed(spec_dir):
    folder = spec_dir({"s.yml": "sources:\n  pg: {type: postgress, host: x}\n"})
    issue = only(problems(folder), "plugin")[0]
    assert issue.message.startswith("unknown source type 'postgress', did you mean 'postgres'? Installed: ")
    assert "duckdb" in issue.message and issue.location.line == 2


def test_missing_environment_variable(spec_dir, monkeypatch):
    monkeypatch.delenv("KPI_TEST_NOT_SET", raising=False)
    folder = spec_dir({"s.yml": "sources:\n  x: {type: duckdb, path: '${KPI_TEST_NOT_SET}'}\n"})
    issue = only(problems(folder), "env")[0]
    assert "${KPI_TEST_NOT_SET} is not set" in issue.message and issue.location.line == 2


def test_env_default_and_value_are_used(spec_dir, monkeypatch):
    monkeypatch.setenv("KPI_TEST_DB", ":memory:")
    folder = spec_dir({"s.yml": "sources:\n  x: {type: duckdb, path: '${KPI_TEST_DB}'}\n"
                                "  y: {type: duckdb, path: '${KPI_TEST_UNSET_X:-:memory:}'}\n"})
    project = load_project(folder)
    assert project.sources["x"].options["path"] == ":memory:"
    assert project.sources["y"].options["path"] == ":memory:"


def test_all_problems_reported_in_one_pass(spec_dir):
    folder = spec_dir({
        "one.yml": "kpis:\n  a: {label: A, formula: visit * 2}\n",
        "two.yml": "kpis:\n  b: {label: B, model: deals, aggregate: sum}\n",
        "three.yml": "models:\n  m:\n    table: t\n    time: ts\n    dimensions: {r: 'x;y'}\n",
    })
    issues = problems(folder)
    files = {i.location.file.rsplit("/", 1)[-1] for i in issues if i.location}
    assert {"one.yml", "two.yml", "three.yml"} <= files


def test_unknown_timezone(spec_dir):
    folder = spec_dir({"tz.yml": "kpis: {}\n"}, base=False)
    (folder / "p.yml").write_text("project: {name: x, timezone: Mars/Olympus}\n", encoding="utf-8")
    issue = only(problems(folder), "timezone")[0]
    assert "Mars/Olympus" in issue.message


def test_unknown_period_and_kpi_at_run_time(spec_dir):
    from kpiengine.engine import Engine

    engine = Engine(load_project(spec_dir()))
    with pytest.raises(SpecError) as info:
        engine.compile(["conversion"], grain="weak")
    assert info.value.issues[0].message == "unknown period 'weak'"
    assert info.value.issues[0].hint.startswith("did you mean 'week'?")
    with pytest.raises(SpecError) as info:
        engine.compile(["conversoin"])
    assert info.value.issues[0].hint == "did you mean 'conversion'?"
    with pytest.raises(SpecError) as info:
        engine.compile(["conversion"], by=["channel"])
    assert "cannot be broken down by 'channel'" in info.value.issues[0].message
