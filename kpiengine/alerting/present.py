"""How ``kpi alerts --events`` and ``--outbox`` show the stored rows to people.

The store keeps epoch seconds and raw fractions (exact, sortable); a person
reads times in the project time zone and values in the KPI's unit (``8.0 %``,
``1,204``). JSON output keeps the numbers and gives times as ISO 8601 with the
zone's offset, so scripts need no guessing either.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .intervals import project_tz
from .templates import format_value


def local_time(epoch: float | None, tz) -> str | None:
    """``2026-12-02 10:15:03 +08:00`` in the project time zone (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), timezone.utc).astimezone(tz).isoformat(sep=" ", timespec="seconds")


def _dimensions(key: str | None) -> str:
    try:
        dims = json.loads(key) if key else {}
    except ValueError:
        return str(key)
    return ", ".join(f"{k}={'(none)' if v is None else v}" for k, v in dims.items()) if isinstance(dims, dict) else ""


def event_rows(events: list[dict], rules: dict, project) -> list[dict[str, Any]]:
    """Transitions with local times, dimensions as text and values in the KPI's unit."""
    tz = project_tz(getattr(project, "timezone", None))
    out = []
    for e in events:
        rule = rules.get(e.get("rule"))
        spec = project.kpis.get(rule.kpi) if rule is not None else None
        unit = getattr(spec, "unit", None)
        out.append({"at": local_time(e.get("at"), tz), "rule": e.get("rule"), "key": e.get("key"),
                    "dimensions": _dimensions(e.get("key")), "period": e.get("period"),
                    "transition": e.get("transition"), "severity": e.get("severity"),
                    "value": format_value(e.get("value"), unit), "baseline": format_value(e.get("baseline"), unit),
                    "value_raw": e.get("value"), "baseline_raw": e.get("baseline"), "unit": unit})
    return out


def outbox_view(rows: list[dict], project) -> list[dict[str, Any]]:
    """Outbox rows with local times."""
    tz = project_tz(getattr(project, "timezone", None))
    return [{**r, **{k: local_time(r.get(k), tz) for k in ("created_at", "delivered_at", "next_attempt_at")
                     if k in r}} for r in rows]


TABLE_COLUMNS = {
    "events": ["at", "rule", "dimensions", "period", "transition", "severity", "value", "baseline"],
    "outbox": ["id", "sink", "route", "status", "attempts", "created_at", "delivered_at", "last_error"],
}
