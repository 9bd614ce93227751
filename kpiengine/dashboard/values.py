"""KPI values indexed by (kpi, dimension values, period) for quick lookups by the views.

Rows are anything shaped like :class:`kpiengine.engine.KpiValue` (``kpi``,
``period_start``, ``dimensions``, ``value``), whether they came from the history
store or straight from the engine.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

DimKey = tuple  # sorted ((dimension, value), ...); () for the total


def dim_key(dimensions: dict | None) -> DimKey:
    if not dimensions:
        return ()
    if len(dimensions) == 1:  # the usual breakdown: nothing to sort
        return tuple(dimensions.items())
    return tuple(sorted(dimensions.items(), key=lambda kv: kv[0]))


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class ValueTable:
    def __init__(self, rows: Iterable = ()):
        self._values: dict[tuple[str, DimKey, date], float | None] = {}
        self._keys: dict[str, dict[DimKey, None]] = {}  # insertion-ordered sets: by rep, a list took seconds
        self._partial: set[tuple[str, DimKey, date]] = set()  # values the engine marks not complete
        self._maturing: set[tuple[str, DimKey, date]] = set()  # of those, funnel cohorts younger than their window
        periods: set[date] = set()
        for row in rows:
            period = _as_date(row.period_start)
            key = dim_key(row.dimensions)
            value = None if row.value is None else float(row.value)
            self._values[(row.kpi, key, period)] = value
            if not getattr(row, "complete", True):
                self._partial.add((row.kpi, key, period))
            if getattr(row, "maturing", False):
                self._maturing.add((row.kpi, key, period))
            self._keys.setdefault(row.kpi, {})[key] = None
            periods.add(period)
        self.periods: list[date] = sorted(periods)

    def __bool__(self) -> bool:
        return bool(self._values)

    @property
    def kpis(self) -> list[str]:
        return list(self._keys)

    def has(self, kpi: str) -> bool:
        return kpi in self._keys

    def get(self, kpi: str, period: date | None, dimensions: dict | DimKey | None = None) -> float | None:
        if period is None:
            return None
        key = dimensions if isinstance(dimensions, tuple) else dim_key(dimensions)
        return self._values.get((kpi, key, period))

    def complete(self, kpi: str, period: date | None, dimensions: dict | DimKey | None = None) -> bool:
        """False for a value its source marks as not final (a partial period, a maturing cohort)."""
        key = dimensions if isinstance(dimensions, tuple) else dim_key(dimensions)
        return (kpi, key, period) not in self._partial

    def maturing(self, kpi: str, period: date | None, dimensions: dict | DimKey | None = None) -> bool:
        """True for a funnel cohort value whose period is over but whose window is not (see run.watermarks)."""
        key = dimensions if isinstance(dimensions, tuple) else dim_key(dimensions)
        return (kpi, key, period) in self._maturing

    def last_complete_period(self) -> date | None:
        """The latest period none of whose values is partial (a maturing cohort does not hold it back)."""
        held = {p for (k, key, p) in self._partial if (k, key, p) not in self._maturing}
        done = [p for p in self.periods if p not in held]
        return done[-1] if done else None

    def keys(self, kpi: str) -> list[DimKey]:
        """Dimension-value combinations seen for ``kpi`` (``()`` is the total)."""
        return list(self._keys.get(kpi, []))

    def series(self, kpi: str, dimensions: dict | DimKey | None = None,
               periods: list[date] | None = None) -> list[tuple[date, float | None]]:
        key = dimensions if isinstance(dimensions, tuple) else dim_key(dimensions)
        return [(p, self._values.get((kpi, key, p))) for p in (self.periods if periods is None else periods)]

    def period_at_or_before(self, wanted: date | None) -> date | None:
        """The period containing ``wanted`` (its start is the latest start <= wanted); latest when None."""
        if not self.periods:
            return None
        if wanted is None:
            return self.periods[-1]
        earlier = [p for p in self.periods if p <= wanted]
        return earlier[-1] if earlier else None

    def period_before(self, period: date | None) -> date | None:
        if period is None:
            return None
        earlier = [p for p in self.periods if p < period]
        return earlier[-1] if earlier else None
