"""The health of each model: its data checks and freshness as ``kpi check`` last judged them.

A KPI computed from a model whose *critical* data check fails is marked on its
tile ("data check failing"), not silently shown as a number like any other.
The states come from the alert store (checks and freshness rules are rules),
so the dashboard runs no query of its own for them.
"""
from __future__ import annotations

from ..spec.dimensions import leaf_models
from .inputs import AlertSnapshot

_FAILING = ("firing", "pending")


def model_health(snapshot: AlertSnapshot, watermarks: dict | None = None) -> dict[str, dict]:
    """model -> {"status": ok | warning | critical, "checks": [...], "stale": bool, "note": ...}."""
    out: dict[str, dict] = {}
    for (rule_name, _key), st in sorted(snapshot.states.items()):
        rule = snapshot.rules.get(rule_name)
        if rule is None or rule.type not in ("check", "freshness") or not rule.model:
            continue
        entry = out.setdefault(rule.model, {"model": rule.model, "status": "ok", "checks": [], "stale": False})
        failing = st.state in _FAILING
        severity = st.severity or rule.max_severity
        entry["checks"].append({"rule": rule_name, "type": rule.type, "state": st.state, "severity": severity,
                                "period": st.last_period, "value": st.value, "note": st.note})
        if rule.type == "freshness" and failing:
            entry["stale"] = True
        if failing and (entry["status"] == "ok" or severity == "critical"):
            entry["status"] = "critical" if severity == "critical" else "warning"
    for name, mark in (watermarks or {}).items():
        if getattr(mark, "stale", False):
            entry = out.setdefault(name, {"model": name, "status": "ok", "checks": [], "stale": False})
            entry["stale"] = True
            entry["note"] = mark.note()
    for entry in out.values():
        failing = [c for c in entry["checks"] if c["state"] in _FAILING]
        entry.setdefault("note", "; ".join(f"{c['rule']} {c['state']}" for c in failing))
    return out


def kpi_health(project, health: dict[str, dict], kpi: str) -> str | None:
    """A note when a model the KPI is computed from fails a critical data check, else None."""
    bad = [m for m in sorted(leaf_models(project, kpi)) if health.get(m, {}).get("status") == "critical"]
    return f"data check failing on model {', '.join(bad)}: the value may be wrong" if bad else None
