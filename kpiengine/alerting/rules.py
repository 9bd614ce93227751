"""The ``rules:`` section: parsed into :class:`Rule` objects, every mistake located.

A rule watches one KPI at one grain and breakdown and fires per dimension value::

    rules:
      conversion_drop:
        kpi: conversion
        type: change            # static | change | target | anomaly
        grain: week
        by: [region]
        where: "channel = 'web'"  # optional: judge the KPI computed under this filter
        compare: average        # previous | last_week | last_year | average
        periods: 4
        warning:  {below: -25%}
        critical: {below: -45%, recovery: -20%}
        min_sample: 30          # denominator (visits) of the rate must reach 30
        significance: 0.05      # the drop must be significant (two-proportion z-test)
        for: 1
        keep_firing_for: 1
        labels: {team: sales}
        message: "{kpi_label} in {region}: {value} vs {baseline} ({change})"

See docs/alerting.md for every field. The ``rules:`` section (:mod:`.section`) calls :func:`parse_rules`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location, SpecError, SpecIssue
from ..sinks import SEVERITIES
from ..spec.dimensions import check_breakdown, check_where
from ..spec.durations import parse_seconds
from ..spec.formula import FormulaError, denominator, parse_formula
from ..spec.lifecycle import parse_number
from .locations import loc_in
from .templates import template_issues

RULE_TYPES = ("static", "change", "target", "anomaly", "freshness")
#: rules about a model's data rather than a KPI's value: evaluated once per check, on the day of the check
MODEL_RULE_TYPES = ("freshness", "check")
MATURING_POLICIES = ("ignore", "alert")
COMPARES = ("previous", "last_week", "last_year", "average")
CHANGE_MODES = ("percent", "absolute")
POLICIES = ("alert", "keep_state", "ignore")
DIRECTIONS = ("both", "up", "down")
OPERATORS = ("above", "below", "outside", "inside", "sensitivity")
GRAINS = ("day", "week", "month", "quarter", "year")
NAMED_SENSITIVITY = {"low": 5.0, "medium": 3.5, "high": 2.5}
RULE_KEYS = {
    "kpi", "type", "grain", "by", "description", "compare", "periods", "change", "target", "window",
    "seasonality", "sensitivity", "direction", "min_periods", "min_sample", "sample", "significance",
    "for", "keep_firing_for", "no_data", "on_error", "labels", "message", "title", "enabled",
    "recovery", "severity", "explain", "flapping", "model", "max_delay", "on_maturing", "where", *SEVERITIES,
}
# Labels the engine sets on every alert: a rule label of the same name would silently replace them
# and break routes and silences (Prometheus users write `labels: {severity: page}` out of habit).
RESERVED_LABELS = {
    "rule": "the rule's name",
    "kpi": "the KPI the rule watches",
    "severity": "the severity key the condition is written under (info, warning, critical)",
    "kpi_status": "the KPI's review status (set to `weakened` by kpi review)",
    "flapping": "reserved for flap detection",
    "where": "the rule's `where:` filter",
}
DEFAULT_NO_DATA = "ignore"     # a period without data is treated as "condition not met"
DEFAULT_ON_ERROR = "keep_state"  # a failed query changes nothing: no flapping on warehouse outages


@dataclass
class Condition:
    """One threshold test on a rule's measure, with optional hysteresis.

    ``recovery`` is the level the measure must cross back over before a firing
    alert of this severity clears, so a value hovering at the line does not flap.
    """

    op: str
    low: float | None = None  # above: the bound; outside/inside: lower edge
    high: float | None = None  # below: the bound; outside/inside: upper edge
    recovery_low: float | None = None
    recovery_high: float | None = None

    def breached(self, x: float, *, firing: bool = False) -> bool:
        low, high = self.low, self.high
        if firing:
            low = self.recovery_low if self.recovery_low is not None else low
            high = self.recovery_high if self.recovery_high is not None else high
        if self.op == "above":
            return x > low
        if self.op == "below":
            return x < high
        if self.op == "outside":
            return x < low or x > high
        if self.op == "inside":
            return low <= x <= high
        raise ValueError(self.op)

    @property
    def threshold(self) -> float | None:
        """The bound of a one-sided condition (bands: see :meth:`crossed`)."""
        return self.low if self.op == "above" else self.high if self.op == "below" else self.low

    def crossed(self, x: float | None) -> float | None:
        """The edge the measure ``x`` is past, for messages: `outside: [1000, 8000]` at 9000 is 8000.

        ``inside`` bands report the nearer edge (the one the value came in over).
        """
        if self.op in ("above", "below") or x is None:
            return self.threshold
        if self.op == "outside":
            return self.high if x > self.high else self.low
        return self.low if abs(x - self.low) <= abs(self.high - x) else self.high

    def describe(self) -> str:
        if self.op == "above":
            return f"above {self.low:g}"
        if self.op == "below":
            return f"below {self.high:g}"
        return f"{self.op} [{self.low:g}, {self.high:g}]"


@dataclass
class Rule:
    name: str
    kpi: str
    type: str = "static"
    grain: str = "week"
    by: list[str] = field(default_factory=list)
    where: str | None = None  # a query filter over dimension names (`kpi run --where`): the KPI under it
    conditions: list[tuple[str, Condition]] = field(default_factory=list)  # most severe first
    description: str = ""
    compare: str = "previous"
    periods: int = 4
    change: str = "percent"
    target: Any = None
    window: int = 8
    seasonality: bool | None = None  # None: on for daily data
    direction: str = "both"
    min_periods: int | None = None
    min_sample: float | None = None
    sample: str | None = None  # KPI holding the sample size (the rate's denominator)
    significance: float | None = None
    for_periods: int = 1
    keep_firing_for: int = 0
    no_data: str = DEFAULT_NO_DATA
    no_data_severity: str = "warning"
    on_error: str = DEFAULT_ON_ERROR
    labels: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    title: str | None = None
    enabled: bool = True
    explain: bool = False  # attach the top drivers of the change (root cause) to the message
    flap_changes: int = 0  # flapping: more than this many changes ... (0: no flap detection)
    flap_periods: int = 0  # ... within this many periods
    on_maturing: str = "ignore"  # a funnel cohort younger than its window: ignore (keep the state) or alert
    model: str | None = None  # freshness and check rules watch a model, not a KPI
    location: Location | None = None

    def classify(self, measure: float, firing_severity: str | None = None, *,
                 escalate: bool = True) -> Condition | None:
        """The most severe condition breached.

        Hysteresis applies to the severity already firing *and every lower one*: a
        critical that de-escalates keeps the warning's recovery level, so critical ->
        warning at a value between the warning line and its recovery stays warning
        instead of resolving outright. ``escalate=False`` ignores the severities above
        the firing one (a change that is not significant may hold an alert, not raise it).
        """
        held = False
        for severity, cond in self.conditions:  # most severe first
            held = held or severity == firing_severity
            if not held and not escalate and firing_severity is not None:
                continue
            if cond.breached(measure, firing=held):
                return cond
        return None

    def severity_of(self, cond: Condition) -> str:
        return next(s for s, c in self.conditions if c is cond)

    @property
    def lookback(self) -> int:
        """How many earlier periods the rule reads (for the query window)."""
        if self.type == "change":
            return {"previous": 1, "last_week": 7 if self.grain == "day" else 1,
                    "last_year": 366 if self.grain == "day" else 53 if self.grain == "week" else 12,
                    "average": self.periods}[self.compare]
        if self.type == "anomaly":
            return self.window * (7 if self.seasonal else 1)
        return 0

    @property
    def seasonal(self) -> bool:
        return self.grain == "day" if self.seasonality is None else bool(self.seasonality and self.grain == "day")

    @property
    def max_severity(self) -> str:
        return self.conditions[0][0] if self.conditions else "warning"


# -- parsing ----------------------------------------------------------------------

class _Ctx:
    def __init__(self):
        self.issues: list[SpecIssue] = []

    def err(self, message: str, loc: Location | None, hint: str | None = None) -> None:
        self.issues.append(SpecIssue(message, loc, hint=hint, code="alerting"))


def _number(ctx: _Ctx, node: dict, key: str, where: str, *, minimum: float | None = None) -> float | None:
    try:
        value = parse_number(node[key])
    except (TypeError, ValueError):
        ctx.err(f"{where}: `{key}` must be a number or a percent such as 20% (got {node[key]!r})",
                loc_in(node, key))
        return None
    if minimum is not None and value < minimum:
        ctx.err(f"{where}: `{key}` must be at least {minimum:g} (got {value:g})", loc_in(node, key))
        return None
    return value


def _int(ctx: _Ctx, node: dict, key: str, where: str, default: int, minimum: int) -> int:
    if key not in node:
        return default
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        ctx.err(f"{where}: `{key}` must be a whole number >= {minimum} (got {value!r})", loc_in(node, key),
                hint=f"write e.g. `{key}: {max(minimum, 2)}` (a count of periods)")
        return default
    return value


def _choice(ctx: _Ctx, node: dict, key: str, where: str, choices: tuple, default: str) -> str:
    if key not in node:
        return default
    value = node[key]
    if value not in choices:
        ctx.err(f"{where}: `{key}` is {value!r}; expected one of {', '.join(choices)}", loc_in(node, key))
        return default
    return str(value)


def _band(ctx: _Ctx, node: dict, key: str, where: str) -> tuple[float, float] | None:
    value = node[key]
    if not isinstance(value, list) or len(value) != 2:
        ctx.err(f"{where}: `{key}` needs a [low, high] pair (got {value!r})", loc_in(node, key),
                hint=f"write e.g. `{key}: [5%, 20%]`")
        return None
    try:
        low, high = parse_number(value[0]), parse_number(value[1])
    except (TypeError, ValueError):
        ctx.err(f"{where}: `{key}` bounds must be numbers or percents", loc_in(node, key))
        return None
    if low > high:
        ctx.err(f"{where}: `{key}` low bound {low:g} is above the high bound {high:g}", loc_in(node, key))
        return None
    return low, high


def parse_condition(ctx: _Ctx, node: Any, where: str, rule_type: str, direction: str,
                    rule_node: dict) -> Condition | None:
    if isinstance(node, (int, float)) and rule_type == "anomaly":
        node = {"sensitivity": node}
    if not isinstance(node, dict):
        ctx.err(f"{where}: a condition mapping is expected, e.g. {{below: 10%}}", loc_in(node),
                hint="write one of above: X, below: X, outside: [lo, hi], inside: [lo, hi]")
        return None
    ops = [k for k in node if k in OPERATORS]
    unknown = [k for k in node if k not in OPERATORS and k != "recovery"]
    for k in unknown:
        ctx.err(f"{where}: unknown condition key `{k}`", loc_in(node, k),
                hint="use above, below, outside, inside (anomaly rules: sensitivity) and optionally recovery")
    if len(ops) != 1:
        if not unknown:
            ctx.err(f"{where}: exactly one of above, below, outside, inside{', sensitivity' if rule_type == 'anomaly' else ''}"
                    f" is required (got {', '.join(ops) or 'none'})", loc_in(node))
        return None
    op = ops[0]
    if op == "sensitivity":
        if rule_type != "anomaly":
            ctx.err(f"{where}: `sensitivity` applies to anomaly rules only", loc_in(node, op))
            return None
        raw = node[op]
        z = NAMED_SENSITIVITY.get(raw) if isinstance(raw, str) and raw in NAMED_SENSITIVITY else None
        if z is None:
            z = _number(ctx, node, op, where, minimum=0.5)
            if z is None:
                return None
        # The anomaly measure is a robust z-score: sensitivity z means |score| > z.
        cond = {"up": Condition("above", low=z), "down": Condition("below", high=-z),
                "both": Condition("outside", low=-z, high=z)}[direction]
    elif op in ("above", "below"):
        bound = _number(ctx, node, op, where)
        if bound is None:
            return None
        cond = Condition(op, low=bound) if op == "above" else Condition(op, high=bound)
    else:
        band = _band(ctx, node, op, where)
        if band is None:
            return None
        cond = Condition(op, low=band[0], high=band[1])
    recovery = node.get("recovery", rule_node.get("recovery") if len(
        [s for s in SEVERITIES if s in rule_node]) <= 1 else None)
    if recovery is not None:
        _apply_recovery(ctx, cond, recovery, node if "recovery" in node else rule_node, where)
    return cond


def _apply_recovery(ctx: _Ctx, cond: Condition, recovery: Any, holder: dict, where: str) -> None:
    loc = loc_in(holder, "recovery")
    if cond.op in ("above", "below"):
        try:
            level = parse_number(recovery)
        except (TypeError, ValueError):
            ctx.err(f"{where}: `recovery` must be a number or percent (got {recovery!r})", loc)
            return
        if cond.op == "above" and level > cond.low or cond.op == "below" and level < cond.high:
            ctx.err(f"{where}: `recovery` {level:g} must be on the safe side of the threshold "
                    f"({cond.describe()}), or the alert could never clear", loc,
                    hint="for `below: 10%` write a recovery at or above 10%, e.g. `recovery: 12%`")
            return
        if cond.op == "above":
            cond.recovery_low = level
        else:
            cond.recovery_high = level
        return
    try:
        band = (parse_number(recovery[0]), parse_number(recovery[1])) \
            if isinstance(recovery, list) and len(recovery) == 2 else None
    except (TypeError, ValueError):
        band = None
    if band is None or band[0] > band[1]:
        ctx.err(f"{where}: `recovery` of a band condition needs a [low, high] pair", loc,
                hint="e.g. `outside: [5%, 20%]` with `recovery: [6%, 18%]`")
        return
    cond.recovery_low, cond.recovery_high = band


def _str_list(ctx: _Ctx, node: dict, key: str, where: str) -> list[str]:
    value = node.get(key, [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        ctx.err(f"{where}: `{key}` must be a list of names (got {value!r})", loc_in(node, key))
        return []
    return [str(v) for v in value]


def parse_rule(ctx: _Ctx, name: str, node: Any, project=None, check_keys: bool = True) -> Rule | None:
    where = f"rule '{name}'"
    if not isinstance(node, dict):
        ctx.err(f"{where}: a mapping is expected", loc_in(node), hint="see docs/alerting.md for the rule fields")
        return None
    for key in (node if check_keys else ()):
        if key not in RULE_KEYS:
            close = _close(str(key), RULE_KEYS)
            ctx.err(f"{where}: unknown field `{key}`", getattr(node, "key_locs", {}).get(key) or loc_in(node),
                    hint=f"did you mean `{close}`?" if close else "see docs/alerting.md for the rule fields")
    if node.get("type") == "freshness":
        return _parse_freshness(ctx, name, node, project)
    kpi = node.get("kpi")
    if not isinstance(kpi, str) or not kpi:
        ctx.err(f"{where}: `kpi` is required (the KPI this rule watches)", loc_in(node))
        return None
    rule = Rule(name=name, kpi=str(kpi), location=loc_in(node))
    rule.type = _choice(ctx, node, "type", where, RULE_TYPES, "static")
    rule.grain = _choice(ctx, node, "grain", where, GRAINS, "week")
    rule.by = _str_list(ctx, node, "by", where)
    if "where" in node:
        text = node["where"]
        if not isinstance(text, str) or not text.strip():
            ctx.err(f"{where}: `where` must be a filter over dimension names (got {text!r})", loc_in(node, "where"),
                    hint="e.g. `where: \"region = 'east'\"`, as in `kpi run --where`")
        else:
            rule.where = text.strip()
    rule.description = str(node.get("description", ""))
    rule.compare = _choice(ctx, node, "compare", where, COMPARES, "previous")
    rule.periods = _int(ctx, node, "periods", where, 4, 1)
    rule.change = _choice(ctx, node, "change", where, CHANGE_MODES, "percent")
    rule.window = _int(ctx, node, "window", where, 8, 3)
    rule.min_periods = _int(ctx, node, "min_periods", where, 0, 2) or None
    rule.direction = _choice(ctx, node, "direction", where, DIRECTIONS, "both")
    if "seasonality" in node:
        if not isinstance(node["seasonality"], bool):
            ctx.err(f"{where}: `seasonality` must be true or false", loc_in(node, "seasonality"))
        else:
            rule.seasonality = node["seasonality"]
    rule.for_periods = _int(ctx, node, "for", where, 1, 1)
    rule.keep_firing_for = _int(ctx, node, "keep_firing_for", where, 0, 0)
    rule.no_data = _choice(ctx, node, "no_data", where, POLICIES, DEFAULT_NO_DATA)
    rule.on_error = _choice(ctx, node, "on_error", where, POLICIES, DEFAULT_ON_ERROR)
    rule.enabled = bool(node.get("enabled", True))
    rule.explain = bool(node.get("explain", False))
    if rule.explain and "where" in node:
        ctx.err(f"{where}: `explain: true` cannot be combined with `where:` yet: the explanation would be of "
                "the whole KPI, not of the filtered part", loc_in(node, "explain"),
                hint="leave out `explain`, or break the rule down with `by:` instead of filtering")
    if "flapping" in node:
        _parse_flapping(ctx, rule, node["flapping"], node, where)
    rule.on_maturing = _choice(ctx, node, "on_maturing", where, MATURING_POLICIES, "ignore")
    for key in ("model", "max_delay"):
        if key in node:
            ctx.err(f"{where}: `{key}` applies to `type: freshness` rules", loc_in(node, key),
                    hint="a freshness rule watches a model: `type: freshness`, `model: NAME`")
    if "min_sample" in node:
        rule.min_sample = _number(ctx, node, "min_sample", where, minimum=0)
    if "sample" in node:
        rule.sample = str(node["sample"])
    if "significance" in node:
        alpha = _number(ctx, node, "significance", where, minimum=0)
        if alpha is not None and not 0 < alpha < 0.5:
            ctx.err(f"{where}: `significance` is the test's alpha, between 0 and 0.5 (got {alpha:g})",
                    loc_in(node, "significance"), hint="0.05 is the usual choice")
        elif alpha is not None:
            rule.significance = alpha
            if rule.type != "change":
                ctx.err(f"{where}: `significance` applies to change rules (a drop against a baseline)",
                        loc_in(node, "significance"))
    if "target" in node:
        rule.target = _parse_target(ctx, node["target"], loc_in(node, "target"), where)
    labels = node.get("labels", {})
    if not isinstance(labels, dict):
        ctx.err(f"{where}: `labels` must be a mapping of names to values", loc_in(node, "labels"))
    else:
        rule.labels = {}
        key_locs = getattr(labels, "key_locs", {})
        for k, v in labels.items():
            k = str(k)
            if k in RESERVED_LABELS:
                hint = ("put the condition under `critical:` (or warning/info) to set the severity, and name "
                        "your own label differently, e.g. `priority: page`" if k == "severity" else
                        f"rename it, e.g. `{k}_name`; routes can already match `{k}`")
                ctx.err(f"{where}: label `{k}` is reserved: the engine sets it ({RESERVED_LABELS[k]})",
                        key_locs.get(k) or loc_in(labels, k), hint=hint)
                continue
            if k in rule.by:
                ctx.err(f"{where}: label `{k}` is also a `by` dimension: the dimension value would replace it",
                        key_locs.get(k) or loc_in(labels, k), hint=f"rename the label, e.g. `{k}_team`")
                continue
            rule.labels[k] = str(v)
    for key in ("message", "title"):
        if key in node:
            text = node[key]
            if not isinstance(text, str):
                ctx.err(f"{where}: `{key}` must be text", loc_in(node, key))
                continue
            setattr(rule, key, str(text))
            for problem in template_issues(str(text), rule.by):
                ctx.err(f"{where}: `{key}` template: {problem}", loc_in(node, key),
                        hint="fields: kpi, kpi_label, rule, severity, period, value, baseline, change, "
                             "threshold, process_path, owner, playbook, dimensions and each `by` dimension")
    # severities: `warning: {below: 10%}` ...; or `severity: warning` with the condition at rule level
    conditions = []
    for severity in SEVERITIES:
        if severity in node:
            cond = parse_condition(ctx, node[severity], f"{where} {severity}", rule.type, rule.direction, node)
            if cond is not None:
                conditions.append((severity, cond))
    if not conditions and rule.type == "anomaly":
        severity = _choice(ctx, node, "severity", where, SEVERITIES, "warning")
        sens = node.get("sensitivity", "medium")
        cond = parse_condition(ctx, {"sensitivity": sens, **({"recovery": node["recovery"]} if "recovery" in node else {})},
                               f"{where}", "anomaly", rule.direction, node)
        if cond is not None:
            conditions.append((severity, cond))
    elif "severity" in node and not conditions:
        ctx.err(f"{where}: give the condition under the severity, e.g. `warning: {{below: 10%}}`",
                loc_in(node, "severity"))
    if not conditions and not any(s in node for s in SEVERITIES) and rule.type != "anomaly":
        ctx.err(f"{where}: no condition: add at least one severity with a threshold", loc_in(node),
                hint="e.g. `warning: {below: 10%}` and `critical: {below: 5%}`")
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    rule.conditions = sorted(conditions, key=lambda sc: order[sc[0]])
    if "no_data" in node and node.get("no_data") == "alert" and rule.conditions:
        rule.no_data_severity = rule.conditions[-1][0]
    if rule.type == "target" and rule.target is None and project is not None:
        spec = project.kpis.get(rule.kpi)
        if spec is not None and spec.target is None and not spec.targets:
            ctx.err(f"{where}: a target rule needs a target: on the rule or on KPI '{rule.kpi}'",
                    loc_in(node), hint="write `target: 100` or `target: {rep: {alice: 40, bob: 35}}`")
    if project is not None:
        _check_against_project(ctx, rule, node, project)
    return rule


def _parse_flapping(ctx: _Ctx, rule: Rule, value: Any, node: dict, where: str) -> None:
    """``flapping: {changes: 3, periods: 8}``: more than 3 state changes in 8 periods holds notifications."""
    hint = "e.g. `flapping: {changes: 3, periods: 8}` (more than 3 changes within 8 periods)"
    if not isinstance(value, dict) or set(value) != {"changes", "periods"}:
        ctx.err(f"{where}: `flapping` needs `changes` and `periods`", loc_in(node, "flapping"), hint=hint)
        return
    changes = _int(ctx, value, "changes", f"{where} flapping", 0, 1)
    periods = _int(ctx, value, "periods", f"{where} flapping", 0, 2)
    if changes and periods and changes >= periods:
        ctx.err(f"{where}: `flapping`: {changes} changes can never happen in {periods} periods (one per period)",
                loc_in(value, "changes"), hint=hint)
        return
    rule.flap_changes, rule.flap_periods = changes, periods


def model_rule_kpi(kind: str, model: str, check: str = "") -> str:
    """The name a model rule's measure goes by in values and alert labels (never a KPI's name: it has a dot)."""
    return f"{model}.{kind}" + (f".{check}" if check else "")


def _parse_freshness(ctx: _Ctx, name: str, node: dict, project) -> Rule | None:
    """``type: freshness``: fires while now minus the model's watermark exceeds max_delay (docs/periods.md)."""
    where = f"rule '{name}'"
    model = node.get("model")
    if not isinstance(model, str) or not model:
        ctx.err(f"{where}: a freshness rule needs `model:` (the model whose data must be recent)", loc_in(node))
        return None
    for key in node:
        if key not in ("type", "model", "max_delay", "severity", "description", "labels", "message", "title",
                       "enabled"):
            ctx.err(f"{where}: `{key}` does not apply to a freshness rule", loc_in(node, key),
                    hint="fields: model, max_delay, severity, description, labels, message, title, enabled")
    rule = Rule(name=name, kpi=model_rule_kpi("freshness", model), type="freshness", grain="day", model=model,
                location=loc_in(node), no_data="alert")
    rule.enabled = bool(node.get("enabled", True))
    rule.description = str(node.get("description", ""))
    severity = _choice(ctx, node, "severity", where, SEVERITIES, "warning")
    rule.no_data_severity = severity
    labels = node.get("labels", {})
    rule.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    rule.message = "{kpi_label}: the latest data is {value} old (max_delay {threshold})"
    for key in ("message", "title"):
        if isinstance(node.get(key), str):
            setattr(rule, key, str(node[key]))
    models = getattr(project, "models", None) if project is not None else None
    spec = models.get(model) if models is not None else None
    if models is not None and spec is None:
        close = _close(model, models)
        ctx.err(f"{where}: unknown model '{model}'", loc_in(node, "model"),
                hint=f"did you mean '{close}'?" if close else f"models: {', '.join(sorted(models)) or 'none'}")
        return rule
    delay = None
    if "max_delay" in node:
        try:
            delay = parse_seconds(node["max_delay"])
        except ValueError as exc:
            ctx.err(f"{where}: max_delay: {exc}", loc_in(node, "max_delay"), hint="e.g. `max_delay: 1d`")
            return rule
    elif spec is not None:
        delay = spec.max_delay
    if delay is None and spec is not None:
        ctx.err(f"{where}: no max_delay: give it on the rule or on model '{model}'", loc_in(node),
                hint="e.g. `max_delay: 1d` (how far the data may lag behind now)")
        return rule
    rule.conditions = [(severity, Condition("above", low=float(delay or 0)))]
    return rule


def _parse_target(ctx: _Ctx, value: Any, loc: Location | None, where: str) -> Any:
    if isinstance(value, dict):
        if len(value) != 1:
            ctx.err(f"{where}: a per-dimension target names one dimension: {{rep: {{alice: 40}}}}", loc)
            return None
        (dim, per_value), = value.items()
        if not isinstance(per_value, dict):
            ctx.err(f"{where}: target for dimension '{dim}' must map values to numbers", loc)
            return None
        out = {}
        for k, v in per_value.items():
            try:
                out[str(k)] = parse_number(v)
            except (TypeError, ValueError):
                ctx.err(f"{where}: target for {dim}={k} must be a number (got {v!r})", loc_in(per_value, k))
        return {str(dim): out}
    try:
        return parse_number(value)
    except (TypeError, ValueError):
        ctx.err(f"{where}: `target` must be a number or {{dimension: {{value: number}}}} (got {value!r})", loc)
        return None


def _check_against_project(ctx: _Ctx, rule: Rule, node: dict, project) -> None:
    where = f"rule '{rule.name}'"
    kpis = getattr(project, "kpis", {}) or {}
    known = set(kpis)  # funnel steps are among them: the funnels section runs first
    if rule.kpi not in known:
        close = _close(rule.kpi, known)
        ctx.err(f"{where}: unknown KPI '{rule.kpi}'", loc_in(node, "kpi"),
                hint=f"did you mean '{close}'?" if close else f"known KPIs: {', '.join(sorted(known)) or 'none'}")
        return
    spec = kpis.get(rule.kpi)
    if rule.sample and rule.sample not in known:
        ctx.err(f"{where}: `sample` KPI '{rule.sample}' is not defined", loc_in(node, "sample"))
    if (rule.min_sample is not None or rule.significance is not None) and not rule.sample:
        den = denominator_of(spec) if spec is not None else None
        if den is None:
            ctx.err(f"{where}: `min_sample`/`significance` need the sample size: KPI '{rule.kpi}' is not a "
                    f"ratio a / b", loc_in(node, "min_sample" if "min_sample" in node else "significance"),
                    hint="add `sample: <KPI counting the denominator>` to the rule")
    names = [rule.kpi] + ([rule.sample or denominator_of(spec)] if rule.min_sample is not None
                          or rule.significance is not None else [])
    if rule.where and getattr(project, "models", None):
        # the same allow-list and dimension check as `kpi run --where`, located at the rule's `where:`
        for issue in check_where(project, [n for n in names if n in kpis], rule.where, what="`where`",
                                 dialect=getattr(project, "sql_dialect", None) or "duckdb"):
            ctx.err(f"{where}: {issue.message}", loc_in(node, "where"), hint=issue.hint)
    if rule.by and getattr(project, "models", None):
        for name in (n for n in names if n in kpis):
            issues = check_breakdown(project, [name], rule.by)
            for issue in issues:
                ctx.err(f"{where}: {issue.message}", loc_in(node, "by"), hint=issue.hint)
            if issues:
                break  # the sample KPI would repeat the same complaint


def denominator_of(spec) -> str | None:
    """For a ratio KPI ``a / b`` the KPI named b (the sample size of a rate); else None."""
    formula = getattr(spec, "formula", None)
    return _denominator(formula) if formula else None


def _denominator(formula: str) -> str | None:
    """The core's reading of a ratio; an unparsable formula (reported by validation) has none."""

    try:
        return denominator(parse_formula(formula))
    except FormulaError:
        return None


def _close(word: str, choices) -> str | None:
    found = difflib.get_close_matches(word, sorted(str(c) for c in choices), n=1)
    return found[0] if found else None


def parse_rules(raw: Any, project=None, *, check_keys: bool = True) -> tuple[dict[str, Rule], list[SpecIssue]]:
    ctx = _Ctx()
    rules: dict[str, Rule] = {}
    if raw in (None, {}):
        return rules, ctx.issues
    if not isinstance(raw, dict):
        ctx.err("`rules` must be a mapping of rule names to rules", loc_in(raw))
        return rules, ctx.issues
    for name, node in raw.items():
        rule = parse_rule(ctx, str(name), node, project, check_keys)
        if rule is not None:
            rules[str(name)] = rule
    return rules, ctx.issues


def load_rules(project) -> dict[str, Rule]:
    """The project's rules; raises SpecError when they are invalid."""
    rules, issues = parse_rules(project.section("rules", {}), project)
    if issues:
        raise SpecError(issues)
    return rules
