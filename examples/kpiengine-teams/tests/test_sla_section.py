"""The plugin's ``sla:`` section goes through kpiengine's loader, schema and checks like a core section."""
from __future__ import annotations

import textwrap

import pytest

import kpiengine_teams
from kpiengine.errors import SpecError
from kpiengine.loader import load_project
from kpiengine.plugins import get_registry
from kpiengine.spec.schema import spec_schema

BASE = """
sources:
  shop: {type: duckdb, path: ":memory:"}
models:
  orders: {table: orders, time: ordered_at}
kpis:
  orders: {label: Orders, model: orders, aggregate: count}
  paid: {label: Paid, model: orders, aggregate: count, filter: "status = 'paid'"}
  paid_share: {label: Paid share, formula: paid / orders, unit: percent}
"""


@pytest.fixture
def registry():
    return get_registry(extra_plugins=[("teams", kpiengine_teams)])


def write(tmp_path, sla: str):
    (tmp_path / "base.yml").write_text(BASE, encoding="utf-8")
    (tmp_path / "sla.yml").write_text(textwrap.dedent(sla), encoding="utf-8")
    return tmp_path


def test_valid_levels_become_typed_objects(tmp_path, registry):
    project = load_project(write(tmp_path, """
        sla:
          paid_floor: {kpi: paid_share, at_least: 15%, owner: ops@example.com}
          order_cap: {kpi: orders, at_most: 5000}
        """), registry=registry)
    levels = project.parsed["sla"]
    assert levels["paid_floor"].at_least == pytest.approx(0.15) and levels["paid_floor"].at_most is None
    assert levels["order_cap"].at_most == 5000 and levels["paid_floor"].owner == "ops@example.com"


def test_unknown_kpi_is_located_with_a_suggestion(tmp_path, registry):
    folder = write(tmp_path, """
        sla:
          paid_floor:
            kpi: paid_shar
            at_least: 15%
        """)
    with pytest.raises(SpecError) as err:
        load_project(folder, registry=registry)
    (issue,) = err.value.issues
    assert issue.message == "service level 'paid_floor' promises on unknown KPI 'paid_shar'"
    assert issue.hint == "did you mean 'paid_share'?"
    assert issue.location.file.endswith("sla.yml") and (issue.location.line, issue.location.column) == (4, 10)


def test_schema_errors_in_the_section_are_located(tmp_path, registry):
    folder = write(tmp_path, """
        sla:
          paid_floor: {kpi: paid_share, at_least: 15%, colour: red}
        """)
    with pytest.raises(SpecError) as err:
        load_project(folder, registry=registry)
    (issue,) = err.value.issues
    assert issue.message == "unknown field 'colour' in sla.paid_floor" and issue.location.line == 3
    assert "sla" in spec_schema(registry)["properties"]


def test_both_or_no_bound_is_an_error(tmp_path, registry):
    with pytest.raises(SpecError) as err:
        load_project(write(tmp_path, "sla:\n  x: {kpi: orders}\n"), registry=registry)
    assert [i.message for i in err.value.issues] == [
        "service level 'x' needs exactly one of `at_least:` or `at_most:`"]


def test_without_the_plugin_the_core_knows_no_sla_section(tmp_path):
    folder = write(tmp_path, "sla:\n  x: {kpi: orders, at_most: 1}\n")
    plain = get_registry()
    if plain.section("sla") is not None:
        pytest.skip("kpiengine-teams is installed in this environment, so every registry has its section")
    with pytest.raises(SpecError) as err:
        load_project(folder, registry=plain)
    (issue,) = err.value.issues
    assert issue.message == "unknown field 'sla' in (top level)" and issue.location.file.endswith("sla.yml")
