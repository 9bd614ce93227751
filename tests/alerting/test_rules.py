"""Rule parsing: every field understood, every mistake reported where it is written."""
from __future__ import annotations

import jsonschema
import pytest

from kpiengine.alerting.rules import Condition, parse_number, parse_rules
from kpiengine.alerting.section import validate_alerting
from kpiengine.alerting.schema import ALERTING_SCHEMA_DEFS

from alerting_helpers import make_project


def issues_of(tmp_path, spec):
    project = make_project(tmp_path, spec)
    return project, [str(i) for i in validate_alerting(project, None)]


def test_percent_strings_and_numbers():
    assert parse_number("-20%") == pytest.approx(-0.2)
    assert parse_number("12.5 %") == pytest.approx(0.125)
    assert parse_number(3) == 3.0
    with pytest.raises(ValueError):
        parse_number(True)


def test_full_rule_is_parsed(tmp_path):
    project = make_project(tmp_path, """
        rules:
          drop:
            kpi: conversion
            type: change
            grain: week
            by: [region]
            compare: average
            periods: 3
            warning: {below: -25%}
            critical: {below: -40%, recovery: -15%}
            min_sample: 100
            significance: 0.01
            for: 2
            keep_firing_for: 1
            no_data: alert
            on_error: ignore
            labels: {team: sales}
            message: "{kpi_label} in {region}: {value}"
    """)
    rules, issues = parse_rules(project.section("rules"), project)
    assert issues == []
    r = rules["drop"]
    assert (r.kpi, r.type, r.by, r.compare, r.periods) == ("conversion", "change", ["region"], "average", 3)
    assert [s for s, _c in r.conditions] == ["critical", "warning"]  # most severe first
    crit = r.conditions[0][1]
    assert crit.high == pytest.approx(-0.4) and crit.recovery_high == pytest.approx(-0.15)
    assert (r.min_sample, r.significance, r.for_periods, r.keep_firing_for) == (100, 0.01, 2, 1)
    assert (r.no_data, r.on_error, r.labels) == ("alert", "ignore", {"team": "sales"})


def test_defaults_are_documented_ones(tmp_path):
    project = make_project(tmp_path, "rules:\n  low:\n    kpi: visits\n    warning: {below: 10}\n")
    rule = parse_rules(project.section("rules"), project)[0]["low"]
    assert (rule.type, rule.grain, rule.by, rule.for_periods, rule.keep_firing_for) == ("static", "week", [], 1, 0)
    assert (rule.no_data, rule.on_error) == ("ignore", "keep_state")


def test_condition_hysteresis():
    below = Condition("below", high=0.10, recovery_high=0.12)
    assert below.breached(0.09) and not below.breached(0.11)
    assert below.breached(0.11, firing=True)  # still under the recovery level: keeps firing
    assert not below.breached(0.125, firing=True)
    band = Condition("outside", low=1, high=5)
    assert band.breached(0.5) and band.breached(6) and not band.breached(3)
    inside = Condition("inside", low=1, high=5)
    assert inside.breached(1) and not inside.breached(5.5)


@pytest.mark.parametrize("snippet, expected", [
    ("kpi: conversoin\n    warning: {below: 1}", "unknown KPI 'conversoin'"),
    ("kpi: visits\n    warning: {below: lots}", "`below` must be a number or a percent"),
    ("kpi: visits\n    warning: {below: 10, above: 20}", "exactly one of above, below"),
    ("kpi: visits\n    warning: {outside: [5, 1]}", "low bound 5 is above the high bound 1"),
    ("kpi: visits\n    warning: {below: 10%, recovery: 5%}", "must be on the safe side"),
    ("kpi: visits", "no condition"),
    ("kpi: visits\n    for: 0\n    warning: {below: 1}", "`for` must be a whole number >= 1"),
    ("kpi: visits\n    type: trend\n    warning: {below: 1}", "`type` is 'trend'"),
    ("kpi: visits\n    no_data: panic\n    warning: {below: 1}", "`no_data` is 'panic'"),
    ("kpi: visits\n    min_sample: 30\n    warning: {below: 1}", "need the sample size"),
    ("kpi: conversion\n    type: change\n    significance: 0.7\n    warning: {below: 1}", "between 0 and 0.5"),
    ("kpi: visits\n    message: '{kpi_lable} fell'\n    warning: {below: 1}", "unknown field {kpi_lable}"),
    ("kpi: visits\n    message: '{value.__class__}'\n    warning: {below: 1}", "only plain field names"),
    ("kpi: leads\n    type: target\n    warning: {below: 80%}", "a target rule needs a target"),
])
def test_mistakes_are_located_with_a_fix(tmp_path, snippet, expected):
    _project, issues = issues_of(tmp_path, "rules:\n  r:\n    " + snippet + "\n")
    assert any(expected in i for i in issues), issues
    # every issue names the file and line it comes from
    assert all(i.startswith(str(tmp_path / "alerts.yml") + ":") for i in issues), issues


def test_typo_in_field_gets_did_you_mean(tmp_path):
    project = make_project(tmp_path, "rules:\n  r:\n    kpi: visits\n    compre: average\n    warning: {below: 1}\n")
    _rules, issues = parse_rules(project.section("rules"), project)
    assert len(issues) == 1 and "unknown field `compre`" in issues[0].message
    assert issues[0].hint == "did you mean `compare`?"
    assert issues[0].location.line == 4


def test_routes_and_sinks_are_checked(tmp_path):
    _project, issues = issues_of(tmp_path, """
        sinks:
          log: {type: file, path: /tmp/x.jsonl, fallback: nowhere}
          bad: {type: slak, url: "https://hooks.example/T0/SECRET"}
        routes:
          sinks: [log]
          repeat_interval: soon
          routes:
            - sinks: [pager]
    """)
    text = "\n".join(issues)
    assert "fallback sink 'nowhere' is not defined" in text
    assert "unknown sink type 'slak', did you mean 'slack'?" in text
    assert "`repeat_interval`: 'soon' is not a duration" in text
    assert "unknown sink 'pager'" in text
    assert "a child route needs `match`" in text
    assert "SECRET" not in text


def test_sink_options_are_checked_against_the_plugin_schema(tmp_path):
    _project, issues = issues_of(tmp_path, """
        sinks:
          hook: {type: webhook, url: "https://hooks.example/T0/SECRET", timeout: -1}
    """)
    assert any("sink 'hook' (webhook): option `timeout` is invalid" in i for i in issues), issues
    assert not any("SECRET" in i for i in issues)



def test_schema_fragments(tmp_path):
    import yaml
    from alerting_helpers import REPO

    doc = yaml.safe_load((REPO / "kpi_specs" / "alerts.yml").read_text())
    for section in ("rules", "sinks", "routes"):
        jsonschema.Draft202012Validator(ALERTING_SCHEMA_DEFS[section]).validate(doc[section])
    bad = {"r": {"kpi": "x", "warning": {"belw": 1}}}
    errors = list(jsonschema.Draft202012Validator(ALERTING_SCHEMA_DEFS["rules"]).iter_errors(bad))
    assert errors
