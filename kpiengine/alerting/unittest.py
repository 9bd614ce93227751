"""``kpi test``: unit tests for alert rules, in YAML files named ``*.test.yml`` next to the specs.

In the spirit of ``promtool test rules``: given KPI values over periods, these
alerts fire (with these labels) at these periods, and these do not::

    tests:
      - name: a sharp conversion drop in east pages
        start: 2026-09-07           # first period (Monday for weeks)
        grain: week                 # default: the grain of the rules under test
        rules: [conversion_drop]    # default: every rule whose KPI has input values
        values:                     # series: numbers, NxK repeats N K times, _ is "no data"
          "conversion{region=east}": 0.20x6 0.08
          "visits{region=east}": 120x7
        expect:
          - at: 2026-10-19          # a period start, or its index (0 = start)
            firing:
              - {rule: conversion_drop, severity: critical, labels: {region: east}}
          - at: 5
            firing: []              # nothing fires
            pending: []             # optional: the pending alerts, same form

The rules are the project's own (loaded from the spec folder), run through the
same evaluation and state machine as ``kpi check``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import SpecIssue
from ..spec.yamlsrc import load_yaml_text
from . import periods as P
from .evaluate import ValueTable
from .locations import loc_in
from .rules import Rule, load_rules
from .simulate import simulate

_SERIES_KEY = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,]*)\s*(?:,|$)")
_TOKEN = re.compile(r"^(_|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?)(?:x(\d+))?$")


@dataclass
class TestResult:
    file: str
    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    location: Any = None


def test_files(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if root.is_file():
        return [root] if root.name.endswith((".test.yml", ".test.yaml")) else []
    return sorted(p for ext in ("*.test.yml", "*.test.yaml") for p in root.rglob(ext))


def parse_series_key(text: str) -> tuple[str, dict[str, str]]:
    m = _SERIES_KEY.match(text)
    if not m:
        raise ValueError(f"series name {text!r} is not KPI or KPI{{dim=value,...}}")
    dims: dict[str, str] = {}
    body = (m.group(2) or "").strip()
    pos = 0
    while pos < len(body):
        lm = _LABEL.match(body, pos)
        if not lm or lm.end() == pos:
            raise ValueError(f"cannot read the dimensions in {text!r}: write {{region=east, channel=web}}")
        value = lm.group(2).strip()
        if value[:1] in "\"'" and value[-1:] == value[:1]:
            value = value[1:-1]
        dims[lm.group(1)] = value
        pos = lm.end()
    return m.group(1), dims


def parse_series(value: Any) -> list[float | None]:
    """``0.2x3 0.08 _`` -> [0.2, 0.2, 0.2, 0.08, None]; a YAML list of numbers (or null) works too."""
    if isinstance(value, list):
        return [None if v is None or v == "_" else float(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    out: list[float | None] = []
    for token in str(value).split():
        m = _TOKEN.match(token)
        if not m:
            raise ValueError(f"series token {token!r}: write numbers, N%, NxK (repeat K times) or _ (no data)")
        raw, times = m.group(1), int(m.group(2) or 1)
        if raw == "_":
            v = None
        elif raw.endswith("%"):
            v = float(raw[:-1]) / 100
        else:
            v = float(raw)
        out.extend([v] * times)
    return out


def run_tests(project, folder: str | Path | None = None, files: list[str | Path] | None = None) -> list[TestResult]:
    paths = [Path(f) for f in files] if files else test_files(folder or project.folder)
    rules = load_rules(project)
    results: list[TestResult] = []
    for path in paths:
        results.extend(run_file(project, rules, path))
    return results


def run_file(project, rules: dict[str, Rule], path: Path) -> list[TestResult]:
    data, issues = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
    if issues:
        return [TestResult(str(path), "(file)", False, [str(i) for i in issues])]
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, list):
        return [TestResult(str(path), "(file)", False,
                           [f"{path}: a rule test file needs a `tests:` list (see docs/alerting.md)"])]
    return [run_one(project, rules, path, i, t) for i, t in enumerate(tests)]


def run_one(project, rules: dict[str, Rule], path: Path, index: int, test: Any) -> TestResult:
    name = str(test.get("name", f"test {index + 1}")) if isinstance(test, dict) else f"test {index + 1}"
    result = TestResult(str(path), name, True, location=loc_in(test))

    def fail(msg: str, node: Any = None, key: Any = None) -> None:
        loc = loc_in(node, key) if node is not None else result.location
        result.failures.append(str(SpecIssue(msg, loc, code="test")).replace("error: ", "", 1))
        result.passed = False

    if not isinstance(test, dict):
        fail("each test must be a mapping with name, start, values and expect")
        return result
    try:
        start = date.fromisoformat(str(test.get("start", "")))
    except ValueError:
        fail(f"`start` must be a date YYYY-MM-DD (got {test.get('start')!r})", test, "start")
        return result
    wanted = test.get("rules")
    if wanted is not None:
        wanted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
        unknown = [w for w in wanted if w not in rules]
        if unknown:
            fail(f"unknown rule(s) {', '.join(unknown)}; the spec has {', '.join(sorted(rules)) or 'none'}",
                 test, "rules")
            return result
    values = test.get("values")
    if not isinstance(values, dict) or not values:
        fail("`values` must map series such as \"conversion{region=east}\" to values", test, "values")
        return result
    series: list[tuple[str, dict, list]] = []
    for key, raw in values.items():
        try:
            kpi, dims = parse_series_key(str(key))
            series.append((kpi, dims, parse_series(raw)))
        except (ValueError, TypeError) as exc:
            fail(str(exc), values, key)
    if not result.passed:
        return result
    kpis_in = {k for k, _d, _v in series}
    chosen = [rules[w] for w in wanted] if wanted else [r for r in rules.values() if r.kpi in kpis_in]
    if not chosen:
        fail(f"no rule watches the KPIs given ({', '.join(sorted(kpis_in))})", test, "values")
        return result
    grain = str(test.get("grain", chosen[0].grain))
    chosen = [r for r in chosen if r.grain == grain]
    if not chosen:
        fail(f"no rule under test has grain {grain}", test, "grain")
        return result
    table = ValueTable()
    length = max(len(v) for _k, _d, v in series)
    periods = [P.shift(P.truncate(start, grain), grain, i) for i in range(length)]
    for kpi, dims, vals in series:
        for i, v in enumerate(vals):
            if v is not None:
                table.add(kpi, dims, periods[i], v)
    steps = simulate(project, chosen, table, periods)
    by_period = {s.period: s for s in steps}
    expects = test.get("expect", [])
    if not isinstance(expects, list) or not expects:
        fail("`expect` must list what fires at which period", test, "expect")
        return result
    for e in expects:
        if not isinstance(e, dict) or "at" not in e:
            fail("each expectation needs `at` (a period start or index)", e if isinstance(e, dict) else test)
            continue
        at = e["at"]
        if isinstance(at, int) and not isinstance(at, bool):
            if not 0 <= at < len(periods):
                fail(f"`at: {at}` is outside the {len(periods)} periods given", e, "at")
                continue
            period = periods[at]
        else:
            try:
                period = P.truncate(date.fromisoformat(str(at)), grain)
            except ValueError:
                fail(f"`at` must be a date or a period index (got {at!r})", e, "at")
                continue
        step = by_period.get(period)
        if step is None:
            fail(f"period {period} is not among the periods given ({periods[0]} .. {periods[-1]})", e, "at")
            continue
        only_rule = e.get("rule")
        for state_name in ("firing", "pending"):
            if state_name not in e:
                continue
            expected = e[state_name] or []
            actual = [(rule_name, st) for (rule_name, _key), st in step.states.items()
                      if st.state == state_name and (only_rule is None or rule_name == only_rule)]
            problem = _compare(expected, actual, {r.name: r for r in chosen})
            if problem:
                fail(f"at {period}: {state_name}: {problem}", e, state_name)
    return result


def _labels(rule: Rule | None, st) -> dict[str, str]:
    labels = {"rule": st.rule, "severity": st.severity or "", "kpi": rule.kpi if rule else ""}
    labels.update(rule.labels if rule else {})
    labels.update({k: str(v) for k, v in st.dimensions.items()})
    return labels


def _describe(labels: dict[str, str]) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in labels.items() if k not in ("rule", "severity", "kpi"))
    return f"{labels.get('rule')}[{labels.get('severity')}]{{{dims}}}"


def _compare(expected: list, actual: list, rules: dict[str, Rule]) -> str | None:
    want = []
    for item in expected:
        if not isinstance(item, dict):
            return f"expected alerts are mappings with rule, severity and labels (got {item!r})"
        labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
        for k in ("rule", "severity"):
            if k in item:
                labels[k] = str(item[k])
        want.append(labels)
    have = [_labels(rules.get(r), st) for r, st in actual]
    unmatched = list(have)
    missing = []
    for w in want:
        hit = next((h for h in unmatched if all(h.get(k) == v for k, v in w.items())), None)
        if hit is None:
            missing.append(w)
        else:
            unmatched.remove(hit)
    if not missing and not unmatched:
        return None
    parts = []
    if missing:
        parts.append("expected but absent: " + "; ".join(
            ", ".join(f"{k}={v}" for k, v in m.items()) for m in missing))
    if unmatched:
        parts.append("present but not expected: " + "; ".join(_describe(u) for u in unmatched))
    return " | ".join(parts)
