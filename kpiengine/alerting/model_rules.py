"""Rules about a model's data rather than a KPI's value: freshness (``type: freshness``) and data checks.

They run through the same state machine, routing and outbox as every rule, so
they need nothing of their own past this module: each becomes a value per day
of the check (the delay behind now, the share of nulls, ...) under a name that
can never be a KPI's (``orders.freshness``, ``orders.check.ids_unique``) and a
threshold. Evaluated on the day of the check only: a stale model fires once,
stays firing while it is stale (no repeat beyond the route's
``repeat_interval``) and resolves in the first check after its data arrives.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Callable

from ..spec.model import KpiSpec
from .evaluate import ValueTable
from .rules import MODEL_RULE_TYPES, Condition, Rule, model_rule_kpi

#: model name -> Watermark (kpiengine.run.watermarks), for the models asked
Watermarks = Callable[[list[str]], dict[str, Any]]


def is_model_rule(rule: Rule) -> bool:
    return rule.type in MODEL_RULE_TYPES


def model_rule_spec(rule: Rule) -> KpiSpec:
    """What messages and the dashboard show for a model rule where a KPI rule shows its KPI."""
    if rule.type == "freshness":
        return KpiSpec(name=rule.kpi, label=f"Freshness of {rule.model}", unit="delay", direction="lower",
                       description=f"time since model {rule.model}'s data last reached (its watermark)")
    check = CHECK_OF.get(rule.name)
    share = check is not None and check.type in ("nulls", "volume")
    return KpiSpec(name=rule.kpi, label=check.label if check is not None else rule.kpi,
                   unit="percent" if share else "count", direction="higher" if check and check.type == "volume"
                   else "lower", description=(check.description if check is not None else ""))


#: rule name -> the DataCheck it runs (filled by :func:`check_rules`)
CHECK_OF: dict[str, Any] = {}


def check_rule_name(model: str, check: str) -> str:
    return f"check:{model}.{check}"


def check_rules(project) -> dict[str, Rule]:
    """Each data check of the ``checks:`` section as a rule of type ``check`` (see spec.sections.checks)."""
    out = {}
    for model, checks in (project.parsed.get("checks") or {}).items():
        if model not in project.models:
            continue
        for c in checks:
            if c.type == "volume":
                cond = Condition("below", high=c.min_ratio)
            elif c.type == "nulls":
                cond = Condition("above", low=c.max_share)
            else:
                cond = Condition("above", low=0.0)
            name = check_rule_name(model, c.name)
            CHECK_OF[name] = c
            out[name] = Rule(name=name, kpi=model_rule_kpi("check", model, c.name), type="check", grain="day",
                             model=model, conditions=[(c.severity, cond)], description=c.description,
                             labels={"model": model, "check": c.name}, location=c.location,
                             message="{kpi_label}: {value} ({condition}) on {period}")
    return out


def checks_tables(rules: list[Rule], measures: list) -> dict[Any, tuple[ValueTable, list[Rule], str | None]]:
    """Per judged day: the measures of the check rules as values, the rules, an error (a failed query)."""
    by_name = {check_rule_name(m.model, m.check.name): m for m in measures}
    out: dict[Any, tuple[ValueTable, list[Rule], str | None]] = {}
    for rule in rules:
        m = by_name.get(rule.name)
        if m is None:
            continue
        key = (m.day, m.error)
        table, members, _err = out.setdefault(key, (ValueTable(), [], m.error))
        members.append(rule)
        if m.value is not None and m.day is not None:
            table.add(rule.kpi, {}, m.day, m.value)
    return out


def freshness_table(rules: list[Rule], watermarks: Watermarks, today: date) -> tuple[ValueTable, list[str]]:
    """Each freshness rule's delay (seconds) on ``today``; a model without rows gets no value (no_data alerts)."""
    table = ValueTable()
    marks = watermarks(sorted({r.model for r in rules if r.model}))
    errors = []
    for rule in rules:
        mark = marks.get(rule.model)
        if mark is None or mark.error:
            errors.append(f"rule '{rule.name}': watermark of model '{rule.model}' unknown"
                          + (f" ({mark.error})" if mark is not None else ""))
            continue
        if mark.delay_s is not None:
            table.add(rule.kpi, {}, today, mark.delay_s)
    return table, errors
