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


def same_value(value, wanted: str | None) -> bool:
    """A dimension value against a filter's text; a filter's ∅ (None) matches NULL only."""
    return value is None if wanted is None else value is not None and str(value) == wanted


class ValueTable:
    def __init__(self, rows: Iterable = ()):
        self._values: dict[tuple[str, DimKey, date], float | None] = {}
        self._keys: dict[str, dict[DimKey, None]] = {}  # insertion-ordered sets: by rep, a list took seconds
        self._partial: set[tuple[str, DimKey, date]] = set()  # values the engine marks not complete
        self._maturing: set[tuple[str, DimKey, date]] = set()  # of those, funnel cohorts younger than their window
        self.periods: list[date] = []
        self.add(rows)

    def add(self, rows: Iterable) -> None:
        """Add rows shaped like KpiValue (``complete`` and ``maturing`` read when present).

        By rep and day a live breakdown is 50,000 rows: the loop binds what it touches to locals.
        """
        periods: set[date] = set(self.periods)
        values, keys, partial, maturing = self._values, self._keys, self._partial, self._maturing
        for row in rows:
            period = row.period_start
            if type(period) is not date:
                period = _as_date(period)
            dims = row.dimensions
            key = (tuple(dims.items()) if len(dims) == 1 else dim_key(dims)) if dims else ()
            value = row.value
            at = (row.kpi, key, period)
            values[at] = None if value is None else float(value)
            if not getattr(row, "complete", True):
                partial.add(at)
            if getattr(row, "maturing", False):
                maturing.add(at)
            kset = keys.get(row.kpi)
            if kset is None:
                kset = keys[row.kpi] = {}
            kset[key] = None
            periods.add(period)
        self.periods = sorted(periods)

    @classmethod
    def from_tuples(cls, rows: Iterable[tuple], states: dict | None = None) -> "ValueTable":
        """From ``(kpi, period_start, dimensions, value)`` tuples (``HistoryStore.latest_values``).

        ``states`` maps ``(kpi, period_start)`` to ``(complete, maturing)``: completeness depends on the
        KPI's models and the period only, so it is judged once per pair, not once per breakdown value.
        By rep that is 1,000 judgements instead of 56,000 objects.
        """
        table = cls()
        keys_of: dict[int, DimKey] = {}  # the store shares one dimensions dict per combination
        values, keys, partial, maturing = table._values, table._keys, table._partial, table._maturing
        states = states or {}
        periods: set[date] = set()
        for kpi, period, dims, value in rows:
            key = keys_of.get(id(dims))
            if key is None:
                key = keys_of[id(dims)] = dim_key(dims)
            values[(kpi, key, period)] = None if value is None else float(value)
            state = states.get((kpi, period))
            if state is not None:
                if not state[0]:
                    partial.add((kpi, key, period))
                if state[1]:
                    maturing.add((kpi, key, period))
            kset = keys.get(kpi)
            if kset is None:
                kset = keys[kpi] = {}
            kset[key] = None
            periods.add(period)
        table.periods = sorted(periods)
        return table

    def in_segment(self, segment: dict) -> "ValueTable":
        """The values of ``segment`` ({"region": "east"}), the segment's dimensions taken off; NULL matches NULL only."""
        out = ValueTable()
        periods: set[date] = set()
        cut: dict[DimKey, DimKey | None] = {}
        for (kpi, key, period), value in self._values.items():
            rest = cut.get(key, False)
            if rest is False:
                dims = dict(key)
                rest = cut[key] = (tuple(kv for kv in key if kv[0] not in segment)
                                   if all(d in dims and same_value(dims[d], v) for d, v in segment.items()) else None)
            if rest is None:
                continue
            out._values[(kpi, rest, period)] = value
            if (kpi, key, period) in self._partial:
                out._partial.add((kpi, rest, period))
            if (kpi, key, period) in self._maturing:
                out._maturing.add((kpi, rest, period))
            out._keys.setdefault(kpi, {})[rest] = None
            periods.add(period)
        out.periods = sorted(periods)
        return out

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
