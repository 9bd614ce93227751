"""The values a run produces, as every layer and every plugin sees them.

They sit at the bottom of the package because they cross every boundary:
the engine makes them, history stores them, alerting and the dashboard read
them, and the ``kpiengine_run_finished`` hook hands them to plugins. Keeping
them here lets each of those import the type without importing the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class KpiValue:
    """One KPI's value for one period and one combination of dimension values."""

    kpi: str
    grain: str
    period_start: date
    dimensions: dict[str, Any]
    value: float | int | None
    #: False while the period is not over for the data: it ends after a model's watermark or after now
    complete: bool = True
    #: a funnel cohort younger than its window: its period is over, but its entities can still convert
    maturing: bool = False

    def key(self) -> tuple:
        return (self.kpi, self.period_start, tuple(sorted(self.dimensions.items(), key=lambda kv: kv[0])))

    def to_dict(self) -> dict:
        out = {"kpi": self.kpi, "period_start": self.period_start.isoformat(),
               "dimensions": dict(self.dimensions), "value": self.value}
        if not self.complete:
            out["complete"] = False
        if self.maturing:
            out["maturing"] = True
        return out


@dataclass(frozen=True)
class RunSummary:
    """A finished ``kpi run``, after its values were stored in history."""

    run_id: int | None
    project: str
    spec_version: str
    grain: str
    by: tuple[str, ...]
    kpis: tuple[str, ...]
    rows: tuple[KpiValue, ...] = field(default_factory=tuple)
    status: str = "ok"
