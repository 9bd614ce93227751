"""Inhibition rules (Alertmanager's ``inhibit_rules``): a firing alert hides others.

::

    inhibit_rules:
      - source_matchers: ['severity="critical"']
        target_matchers: ['severity=~"warning|info"']
        equal: [kpi, region]

A firing alert matching ``target_matchers`` is inhibited when another firing
alert matches ``source_matchers`` and has the same value for every ``equal``
label (a label both lack counts as equal, as in Alertmanager). An alert never
inhibits itself. Without an ``inhibit_rules:`` section the built-in rule holds:
a firing alert hides less severe firing alerts on the same KPI and the same
dimension values (from any rule); ``inhibit_rules: []`` turns inhibition off.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .matchers import Matcher, from_mapping, matches_all, parse_node
from .silences import inhibited

RULE_KEYS = {"source_matchers", "target_matchers", "source_match", "target_match", "equal", "name"}


@dataclass
class InhibitRule:
    source: list[Matcher] = field(default_factory=list)
    target: list[Matcher] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)
    name: str = ""


def parse_inhibit_rules(raw: Any, err, loc_of) -> list[InhibitRule] | None:
    """None when the section is absent (the built-in rule applies); else the rules as written."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        err("`inhibit_rules` is a list of {source_matchers, target_matchers, equal}", loc_of(raw, None), None)
        return None
    out = []
    for i, node in enumerate(raw):
        where = f"inhibit rule {i + 1}"
        if not isinstance(node, dict):
            err(f"{where}: a mapping with source_matchers, target_matchers and equal is expected",
                loc_of(raw, i), None)
            continue
        for key in node:
            if key not in RULE_KEYS:
                err(f"{where}: unknown field `{key}`", loc_of(node, key),
                    f"inhibit rule fields: {', '.join(sorted(RULE_KEYS))}")
        rule = InhibitRule(name=str(node.get("name", where)))
        for side in ("source", "target"):
            found: list[Matcher] = []
            if f"{side}_matchers" in node:
                found += parse_node(node[f"{side}_matchers"], f"{where} {side}_matchers", err, loc_of)
            legacy = node.get(f"{side}_match")  # Alertmanager's older form: {label: value}
            if isinstance(legacy, dict):
                found += from_mapping(legacy)
            elif legacy is not None:
                err(f"{where}: `{side}_match` maps labels to values", loc_of(node, f"{side}_match"), None)
            if f"{side}_matchers" not in node and f"{side}_match" not in node:
                err(f"{where}: `{side}_matchers` is required", loc_of(node, None),
                    "e.g. source_matchers: ['severity=critical'], target_matchers: ['severity=warning']")
            setattr(rule, side, found)
        equal = node.get("equal", [])
        equal = [equal] if isinstance(equal, str) else equal
        if not isinstance(equal, list):
            err(f"{where}: `equal` is a list of label names", loc_of(node, "equal"), None)
            equal = []
        rule.equal = [str(e) for e in equal]
        out.append(rule)
    return out


def inhibited_by_rules(alerts: Iterable[tuple[Any, dict[str, str]]], rules: list[InhibitRule]) -> set[Any]:
    """Ids of the alerts hidden by ``rules``; ``alerts`` yields (id, labels) of *firing* alerts."""
    alerts = list(alerts)
    hidden = set()
    for rule in rules:
        sources = [(i, labels) for i, labels in alerts if matches_all(rule.source, labels)]
        if not sources:
            continue
        for ident, labels in alerts:
            if ident in hidden or not matches_all(rule.target, labels):
                continue
            if any(si != ident and all((sl.get(e) or "") == (labels.get(e) or "") for e in rule.equal)
                   for si, sl in sources):
                hidden.add(ident)
    return hidden


def hidden_alerts(views: list, rules: list[InhibitRule] | None) -> set[tuple[str, str]]:
    """(rule, key) of the inhibited alerts among ``views`` (AlertView-like: rule, state, labels).

    ``rules`` None is the built-in rule (see :func:`.silences.inhibited`).
    """
    if rules is None:
        return inhibited((v.state, v.rule.kpi) for v in views)
    firing = [((v.rule.name, v.state.key), v.labels) for v in views if v.state.state == "firing"]
    return inhibited_by_rules(firing, rules)
