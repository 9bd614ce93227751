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
from .rules import MODEL_RULE_TYPES, Rule

#: model name -> Watermark (kpiengine.run.watermarks), for the models asked
Watermarks = Callable[[list[str]], dict[str, Any]]


def is_model_rule(rule: Rule) -> bool:
    return rule.type in MODEL_RULE_TYPES


def model_rule_spec(rule: Rule) -> KpiSpec:
    """What messages and the dashboard show for a model rule where a KPI rule shows its KPI."""
    if rule.type == "freshness":
        return KpiSpec(name=rule.kpi, label=f"Freshness of {rule.model}", unit="delay", direction="lower",
                       description=f"time since model {rule.model}'s data last reached (its watermark)")
    return KpiSpec(name=rule.kpi, label=getattr(rule, "check_label", "") or rule.kpi, unit="number",
                   direction="lower")


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
