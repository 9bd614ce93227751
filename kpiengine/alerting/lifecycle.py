"""What a KPI's review status does to its alert rules, one small step before evaluation and routing.

* **weakened**: still computed and still judged, but it no longer pages: every
  condition of its rules drops one severity (critical -> warning -> info), and
  each alert carries the label ``kpi_status: weakened``, so a route can send
  them to a digest instead (``match: {kpi_status: weakened}``, a long
  ``repeat_interval``). The lowered severity is the alert's severity
  everywhere: in its saved state, in ``kpi alerts``, in the exit code of ``kpi check``.
* **retired**: computed for history, never alerted: its rules are left out of
  ``kpi check``, so their states are forgotten like those of a deleted rule.
* **proposed**, **active**, **strengthened**: rules as written.
"""
from __future__ import annotations

from dataclasses import replace

from ..sinks import SEVERITIES
from .rules import Rule

STATUS_LABEL = "kpi_status"


def lower(severity: str) -> str:
    """One severity down; info stays info."""
    index = SEVERITIES.index(severity) if severity in SEVERITIES else 1
    return SEVERITIES[max(0, index - 1)]


def weakened(rule: Rule) -> Rule:
    """A copy of ``rule`` one severity lower, labelled ``kpi_status: weakened``."""
    return replace(rule, conditions=[(lower(s), c) for s, c in rule.conditions],
                   no_data_severity=lower(rule.no_data_severity),
                   labels={**rule.labels, STATUS_LABEL: "weakened"})


def apply_lifecycle(rules: dict[str, Rule], project) -> tuple[dict[str, Rule], list[str]]:
    """The rules as the KPIs' statuses want them, and a note for each rule left out (retired KPI)."""
    out: dict[str, Rule] = {}
    notes: list[str] = []
    for name, rule in rules.items():
        status = getattr(project.kpis.get(rule.kpi), "status", "active")
        if status == "retired":
            notes.append(f"rule '{name}' watches the retired KPI '{rule.kpi}': not evaluated "
                         f"(remove the rule, or reactivate the KPI in review)")
            continue
        out[name] = weakened(rule) if status == "weakened" else rule
    return out, notes
