"""Issue 13, item 14 and "rule tests that assert messages and values": promtool's series notation,
series that no rule reads, exp_annotations and values, and five promtool cases translated into
`kpi test` files (tests/alerting/promtool/), all through the real `kpi test` command."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpiengine.alerting.unittest import parse_series
from kpiengine.cli import main

PROMTOOL = Path(__file__).resolve().parent / "promtool"


def kpi(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_promtool_expanding_notation_matches_the_docs_examples():
    # the expansions written out by hand, as the Prometheus docs give them
    assert parse_series("-2+4x3") == [-2, 2, 6, 10]
    assert parse_series("1-2x4") == [1, -1, -3, -5, -7]
    assert parse_series("1 _x3 stale") == [1, None, None, None, None]
    assert parse_series("10+10x2 30+20x5") == [10, 20, 30, 30, 50, 70, 90, 110, 130]
    assert parse_series("0.1+5%x2") == pytest.approx([0.1, 0.15, 0.2])
    assert parse_series("0x3") == [0, 0, 0]  # kpi test's own NxK: N repeated K times
    with pytest.raises(ValueError, match="expands to more than"):
        parse_series("1x999999999")


def test_the_five_translated_promtool_cases_pass():
    res = kpi("test", "-s", PROMTOOL)
    assert res.exit_code == 0, res.output
    assert "5 passed, 0 failed" in res.output


@pytest.fixture
def promtool_copy(tmp_path):
    folder = tmp_path / "promtool"
    shutil.copytree(PROMTOOL, folder)
    return folder


def run_with(folder: Path, text: str):
    (folder / "promtool.test.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return kpi("test", "-s", folder)


def test_a_wrong_annotation_or_value_fails_with_what_was_rendered(promtool_copy):
    res = run_with(promtool_copy, """
        tests:
          - name: wrong words
            start: 2026-01-01
            grain: day
            rules: [instance_down]
            values:
              "up{job=prometheus, instance=localhost:9090}": 0x11
            expect:
              - at: 10
                firing:
                  - rule: instance_down
                    exp_annotations:
                      title: "Instance localhost:9091 down"
                    value: 1
                values:
                  "up{job=prometheus, instance=localhost:9090}": 1
        """)
    assert res.exit_code == 1
    out = res.output
    assert "title is 'Instance localhost:9090 down', expected 'Instance localhost:9091 down'" in out
    assert "value is 0, expected 1" in out
    assert "up{job=prometheus, instance=localhost:9090} is 0, expected 1" in out
    assert "promtool.test.yml:12:" in out  # located at the `firing:` of the expectation


def test_unquoted_0x3_is_series_notation_not_hex(promtool_copy):
    # YAML reads an unquoted 0x3 as the integer 3 (hex); kpi test must read what was written
    res = run_with(promtool_copy, """
        tests:
          - name: three periods without any instance up
            start: 2026-01-01
            grain: day
            rules: [goroutines_high]
            values:
              "go_goroutines{job=prometheus, instance=a}": 0x3
            expect:
              - at: 2
                values: {"go_goroutines{job=prometheus, instance=a}": 0}
                firing: []
        """)
    assert res.exit_code == 0, res.output  # before: "`at: 2` is outside the 1 periods given"


@pytest.mark.parametrize("series, said", [
    ('"up{job=prometheus, instnace=localhost:9090}"', "'instnace' -> 'instance'?"),
    ('"up{job=prometheus}"', "need {job=..., instance=...}"),
    ('"upp{job=prometheus, instance=localhost:9090}"', "did you mean 'up'?"),
])
def test_a_series_no_rule_reads_is_an_error_not_a_vacuous_pass(promtool_copy, series, said):
    res = run_with(promtool_copy, f"""
        tests:
          - name: a typo in the series
            start: 2026-01-01
            grain: day
            rules: [instance_down]
            values:
              {series}: 0x8
            expect:
              - at: 7
                firing: []
        """)
    assert res.exit_code == 1, res.output
    assert said in res.output and "promtool.test.yml:8:" in res.output
