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

import difflib
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import SpecIssue
from ..spec.yamlsrc import load_yaml_text
from . import periods as P
from ..spec.formula import FormulaError, parse_formula, references
from ..spec.formula import evaluate as formula_value
from .evaluate import ValueTable, dims_key, sample_kpi
from .locations import loc_in
from .notify import AlertView, message_fields, threshold_level
from .rules import Rule, load_rules, parse_number
from .templates import render
from .simulate import simulate

_SERIES_KEY = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,]*)\s*(?:,|$)")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?"
_TOKEN = re.compile(rf"^(_|stale|{_NUM})(?:x(\d+))?$")
# promtool's expanding notation: a+bxn is a, a+b, ..., a+n*b (n further values); a-bxn decrements
_STEP = re.compile(rf"^({_NUM})([-+])((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?)x(\d+)$")
MAX_SERIES = 100_000  # values per series: a typo like 1x99999999 must not eat the memory
EXPECTED_ALERT_KEYS = {"rule", "severity", "labels", "message", "exp_annotations", "value", "baseline",
                       "change", "measure", "threshold"}


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


def _number(raw: str) -> float:
    return float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)


def parse_series(value: Any) -> list[float | None]:
    """``0.2x3 8% _ 1+2x3`` -> [0.2, 0.2, 0.2, 0.08, None, 1, 3, 5, 7].

    ``NxK`` is N repeated K times, ``_`` (and ``stale``) no data, ``_xK`` K periods without
    data; ``a+bxn`` / ``a-bxn`` are promtool's: a, then n further values stepping by b. A YAML
    list of numbers (or null) works too. Callers pass the text as written, never a number YAML
    has already read (``0x3`` is hex 3 to YAML).
    """
    if isinstance(value, list):
        out: list[float | None] = []
        for v in value:
            out.extend([None] if v is None else parse_series(v))
        return out
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    out = []
    for token in str(value).split():
        step = _STEP.match(token)
        if step:
            start, sign, size, n = _number(step.group(1)), step.group(2), _number(step.group(3)), int(step.group(4))
            if n + 1 + len(out) > MAX_SERIES:
                raise ValueError(f"series token {token!r} expands to more than {MAX_SERIES} values")
            b = size if sign == "+" else -size
            out.extend(start + i * b for i in range(n + 1))
            continue
        m = _TOKEN.match(token)
        if not m:
            raise ValueError(f"series token {token!r}: write numbers, N%, NxK (repeat K times), a+bxn or "
                             f"a-bxn (a, then n values stepping by b), _ or stale (no data)")
        raw, times = m.group(1), int(m.group(2) or 1)
        if times + len(out) > MAX_SERIES:
            raise ValueError(f"series token {token!r} expands to more than {MAX_SERIES} values")
        v = None if raw in ("_", "stale") else _number(raw)
        out.extend([v] * times)
    return out


def raw_scalars(text: str) -> dict[tuple[int, int], str]:
    """(line, column) -> the text of each plain scalar as written (before YAML reads 0x3 as 3)."""
    import yaml  # lazy: only rule test files need the raw text

    out: dict[tuple[int, int], str] = {}
    try:
        stack = [yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))]
    except yaml.YAMLError:
        return out
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if isinstance(node, yaml.ScalarNode):
            if not node.style:  # plain (libyaml reports "", PyYAML None)
                out[(node.start_mark.line + 1, node.start_mark.column + 1)] = node.value
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        else:
            stack.extend(node.value)
    return out


def _as_written(value: Any, loc, raw: dict[tuple[int, int], str]) -> Any:
    """A number YAML resolved, replaced by its source text (so `0x3` is read as the series notation)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and loc is not None:
        return raw.get((loc.line, loc.column), value)
    if isinstance(value, list):
        locs = getattr(value, "item_locs", [None] * len(value))
        return [_as_written(v, loc_i, raw) for v, loc_i in zip(value, locs)]
    return value


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
    raw = raw_scalars(path.read_text(encoding="utf-8"))
    return [run_one(project, rules, path, i, t, raw) for i, t in enumerate(tests)]


def run_one(project, rules: dict[str, Rule], path: Path, index: int, test: Any,
            raw: dict[tuple[int, int], str] | None = None) -> TestResult:
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
    value_locs = getattr(values, "value_locs", {})
    for key, written in values.items():
        try:
            kpi, dims = parse_series_key(str(key))
            series.append((kpi, dims, parse_series(_as_written(written, value_locs.get(key), raw or {}))))
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
    for (kpi, dims, _v), key in zip(series, values):
        problem = _unread_series(project, chosen, kpi, dims)
        if problem:
            fail(f"series {key!r}: {problem}", values, key)
    if not result.passed:
        return result  # a series no rule reads would make `firing: []` pass vacuously
    table = ValueTable()
    length = max(len(v) for _k, _d, v in series)
    periods = [P.shift(P.truncate(start, grain), grain, i) for i in range(length)]
    for kpi, dims, vals in series:
        for i, v in enumerate(vals):
            if v is not None:
                table.add(kpi, dims, periods[i], v)
    _derive_formulas(project, chosen, table, series, periods)
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
        if "values" in e:
            for problem in _value_problems(e["values"], table, period):
                fail(f"at {period}: {problem}", e, "values")
        only_rule = e.get("rule")
        for state_name in ("firing", "pending"):
            if state_name not in e:
                continue
            expected = e[state_name] or []
            actual = [(rule_name, st) for (rule_name, _key), st in step.states.items()
                      if st.state == state_name and (only_rule is None or rule_name == only_rule)]
            problem = _compare(expected, actual, {r.name: r for r in chosen}, project)
            if problem:
                fail(f"at {period}: {state_name}: {problem}", e, state_name)
    return result


def _labels(rule: Rule | None, st) -> dict[str, str]:
    labels = {"rule": st.rule, "severity": st.severity or "", "kpi": rule.kpi if rule else ""}
    labels.update(rule.labels if rule else {})
    if rule is not None and rule.where:
        labels["where"] = rule.where  # as on the alerts `kpi check` sends
    labels.update({k: str(v) for k, v in st.dimensions.items()})
    return labels


def _describe(labels: dict[str, str]) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in labels.items() if k not in ("rule", "severity", "kpi"))
    return f"{labels.get('rule')}[{labels.get('severity')}]{{{dims}}}"


def _formula_inputs(project, name: str) -> list[str]:
    """The KPIs a formula KPI is computed from (empty for base KPIs)."""
    spec = project.kpis.get(name) if project is not None else None
    if not getattr(spec, "formula", None):
        return []
    try:
        return references(parse_formula(spec.formula))
    except FormulaError:
        return []


def _read_by(project, rule: Rule) -> set[str]:
    """KPIs a rule reads: its own, its sample size, and the inputs of either when they are formulas."""
    names = {rule.kpi} | {k for k in [sample_kpi(rule, project.kpis.get(rule.kpi) if project is not None
                                                  else None)] if k}
    return names | {i for n in list(names) for i in _formula_inputs(project, n)}


def _derive_formulas(project, chosen: list[Rule], table: ValueTable, series, periods) -> None:
    """A formula KPI the test gives no series for is computed from its inputs, as the engine would."""
    given = {k for k, _d, _v in series}
    wanted = {n for r in chosen for n in _read_by(project, r)} - given
    for name in sorted(wanted):
        inputs = _formula_inputs(project, name)
        if not inputs or not set(inputs) <= given:
            continue
        tree = parse_formula(project.kpis[name].formula)
        for (kpi, key), dims in list(table.dims.items()):
            if kpi != inputs[0]:
                continue
            for p in periods:
                value = formula_value(tree, {i: table.get(i, key, p) for i in inputs})
                if value is not None:
                    table.add(name, dims, p, value)


def _value_problems(expected: Any, table: ValueTable, period: date) -> list[str]:
    """`values:` in an expectation: the KPI value of each series at that period (computed ones too)."""
    if not isinstance(expected, dict):
        return ["`values` in an expectation maps series such as \"conversion{region=east}\" to a value"]
    problems = []
    for key, want in expected.items():
        try:
            kpi, dims = parse_series_key(str(key))
            want_v = None if want in (None, "_") else parse_number(want)
        except (TypeError, ValueError) as exc:
            problems.append(f"values: {exc}")
            continue
        have = table.get(kpi, dims_key(dims), period)
        if want_v is None or have is None:
            if want_v != have:
                problems.append(f"{key} is {have!r}, expected {want_v!r}")
        elif not math.isclose(have, want_v, rel_tol=1e-9, abs_tol=1e-12):
            problems.append(f"{key} is {have:.6g}, expected {want_v:.6g}")
    return problems


def _unread_series(project, chosen: list[Rule], kpi: str, dims: dict[str, str]) -> str | None:
    """Why no rule under test reads this series (a typo in a KPI or dimension name), or None."""
    readers = [rule for rule in chosen if kpi in _read_by(project, rule)]
    if not readers:
        read = sorted({k for r in chosen for k in _read_by(project, r)})
        close = difflib.get_close_matches(kpi, read, n=1)
        return (f"no rule under test reads KPI '{kpi}'" + (f"; did you mean '{close[0]}'?" if close else
                                                           f" (they read {', '.join(read)})"))
    if any(set(dims) == set(r.by) for r in readers):
        return None
    wanted = sorted({tuple(r.by) for r in readers})
    extra = sorted(set(dims) - {d for b in wanted for d in b})
    hints = []
    for name in extra:
        close = difflib.get_close_matches(name, sorted({d for b in wanted for d in b}), n=1)
        if close:
            hints.append(f"'{name}' -> '{close[0]}'?")
    shown = " or ".join("{" + ", ".join(f"{d}=..." for d in b) + "}" if b else "no dimensions" for b in wanted)
    return (f"its dimensions {{{', '.join(sorted(dims))}}} match no rule under test: "
            f"{', '.join(r.name for r in readers)} need {shown}" + (f" ({' '.join(hints)})" if hints else ""))


def _compare(expected: list, actual: list, rules: dict[str, Rule], project=None) -> str | None:
    want = []
    for item in expected:
        if not isinstance(item, dict):
            return f"expected alerts are mappings with rule, severity and labels (got {item!r})"
        unknown = [str(k) for k in item if k not in EXPECTED_ALERT_KEYS]
        if unknown:
            return (f"unknown key(s) {', '.join(unknown)} in an expected alert; use "
                    f"{', '.join(sorted(EXPECTED_ALERT_KEYS))}")
        labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
        for k in ("rule", "severity"):
            if k in item:
                labels[k] = str(item[k])
        want.append((labels, item))
    have = [(_labels(rules.get(r), st), r, st) for r, st in actual]
    unmatched = list(have)
    missing, wrong = [], []
    for w, item in want:
        hits = [h for h in unmatched if all(h[0].get(k) == v for k, v in w.items())]
        if not hits:
            missing.append(w)
            continue
        problems = None
        for hit in hits:  # the first alert with these labels whose message and values agree
            problems = _content_problems(item, rules.get(hit[1]), hit[2], project)
            if not problems:
                break
        unmatched.remove(hit)
        if problems:
            wrong.append(f"{_describe(hit[0])}: {'; '.join(problems)}")
    if not missing and not unmatched and not wrong:
        return None
    parts = []
    if missing:
        parts.append("expected but absent: " + "; ".join(
            ", ".join(f"{k}={v}" for k, v in m.items()) for m in missing))
    if unmatched:
        parts.append("present but not expected: " + "; ".join(_describe(u[0]) for u in unmatched))
    if wrong:
        parts.append(" | ".join(wrong))
    return " | ".join(parts)


def _content_problems(item: dict, rule: Rule | None, st, project) -> list[str]:
    """What an expected alert says about its message and numbers, checked against the alert."""
    if rule is None:
        return []
    problems: list[str] = []
    spec = project.kpis.get(rule.kpi) if project is not None else None
    view = AlertView(rule, st, spec)
    fields = message_fields(view, project)
    message, _err = render(rule.message, fields)
    fields["message"] = message
    fields["title"] = render(rule.title, fields)[0] if rule.title else ""
    if "message" in item:
        if message != str(item["message"]):
            problems.append(f"message is {message!r}, expected {str(item['message'])!r}")
    annotations = item.get("exp_annotations") or {}
    if not isinstance(annotations, dict):
        return problems + ["`exp_annotations` maps message fields to the text expected, e.g. {value: 8.0 %}"]
    for name, expected in annotations.items():
        if str(name) not in fields:
            problems.append(f"exp_annotations: unknown field {name!r} (fields: {', '.join(sorted(fields))})")
        elif str(fields[str(name)]) != str(expected):
            problems.append(f"{name} is {fields[str(name)]!r}, expected {str(expected)!r}")
    for name in ("value", "baseline", "change", "measure", "threshold"):
        if name not in item:
            continue
        actual = threshold_level(rule, st) if name == "threshold" else getattr(st, name)
        try:
            expected = None if item[name] is None else parse_number(item[name])
        except (TypeError, ValueError):
            problems.append(f"`{name}` must be a number or a percent (got {item[name]!r})")
            continue
        if expected is None or actual is None:
            if expected != actual:
                problems.append(f"{name} is {actual!r}, expected {expected!r}")
        elif not math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9):
            problems.append(f"{name} is {actual:.6g}, expected {expected:.6g}")
    return problems
