"""Leaf aggregates from the warehouse: additive KPIs per combination of dimension values and period.

The combination search needs, for every leaf (region x channel x rep ...), the
baseline and actual value of the KPI's additive inputs. They are computed where
the data lives: the engine compiles its usual query per model (``GROUP BY``
period and the chosen dimensions, all of a model's KPIs in one scan), the
periods needed are selected in the query itself (one ``UNION ALL`` branch per
run of consecutive periods, so "the same week last year" does not scan the
year in between), and only aggregates come back, read straight into numpy
arrays. Every coarser element is then summed from the leaves in numpy, which
is exact for counts and sums and costs nothing next to a ``CUBE`` (2^d
grouping sets, impossible for 20 dimensions).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np
from sqlglot import exp

from ..sql.compiler import CompiledQuery
from ..run.engine import normalize_date, normalize_number, normalize_value
from ..errors import KpiEngineError
from ..sql.periods import next_period


@dataclass
class LeafTable:
    """Aggregate KPIs per leaf and period: ``values[kpi][p, i]`` for ``periods[p]`` and ``keys[i]``."""

    dimensions: list[str]
    periods: list[date]
    keys: list[tuple]
    values: dict[str, np.ndarray]
    queries: int = 0

    def series(self, kpi: str) -> np.ndarray:
        return self.values.get(kpi, np.zeros((len(self.periods), len(self.keys))))

    def at(self, kpi: str, period: date) -> np.ndarray:
        return self.series(kpi)[self.periods.index(period)]


def period_runs(periods: Sequence[date], grain: str) -> list[tuple[date, date]]:
    """[start, end) ranges covering ``periods``, one per run of consecutive periods."""
    runs: list[list[date]] = []
    for p in sorted(set(periods)):
        if runs and next_period(runs[-1][1], grain) == p:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return [(a, next_period(b, grain)) for a, b in runs]


def _one_statement(parts: list[CompiledQuery]) -> str:
    """The compiled queries of one model (one per run of periods) as one UNION ALL statement."""
    if len(parts) == 1:
        return parts[0].sql
    union: exp.Expression = parts[0].expression.copy()
    for q in parts[1:]:
        union = exp.union(union, q.expression.copy(), distinct=False)
    return union.sql(dialect=parts[0].dialect)


def fetch_leaves(engine, kpis: Sequence[str], dimensions: Sequence[str], grain: str,
                 periods: Sequence[date]) -> LeafTable:
    """Aggregate (non-formula, additive) ``kpis`` per leaf of ``dimensions`` for each of ``periods``.

    One query per model, each selecting only the needed periods. A leaf or
    period a model has no rows for counts 0 (no event happened there).
    """
    periods = sorted(set(periods))
    dims = list(dimensions)
    runs = period_runs(periods, grain)
    by_model: dict[str, list[CompiledQuery]] = {}
    for start, end in runs:
        for q in engine.compile(list(kpis), grain, dims, start, end):
            by_model.setdefault(q.model, []).append(q)
    p_index = {p: j for j, p in enumerate(periods)}
    k_index: dict[tuple, int] = {}
    cells: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {k: [] for k in kpis}
    n_queries = 0
    by_source: dict[str, list[list[CompiledQuery]]] = {}
    for parts in by_model.values():
        by_source.setdefault(parts[0].source, []).append(parts)
    for source_name, models in by_source.items():
        source = engine.open_source(source_name)
        try:
            source.connect()
            for parts in models:
                result = source.execute(_one_statement(parts), timeout=engine.timeout)
                n_queries += 1
                _read(parts[0], result.rows, p_index, k_index, cells)
        finally:
            source.close()
    keys = list(k_index)
    values = {}
    for kpi, parts in cells.items():
        arr = np.zeros((len(periods), len(keys)))
        for p, i, v in parts:
            np.add.at(arr, (p, i), v)
        values[kpi] = arr
    return LeafTable(dims, periods, keys, values, n_queries)


_UNSEEN = object()


def _read(q: CompiledQuery, rows, p_index: dict, k_index: dict, cells: dict) -> None:
    """Append (period, leaf, value) arrays per KPI; dimension values are normalised once per distinct key."""
    ndims = len(q.dim_aliases)
    positions = [1 + ndims + i for i in range(len(q.columns))]
    periods_of: dict = {}
    leaf_of: dict[tuple, int] = {}
    ps, leaves = [], []
    raw = [[] for _ in positions]
    for row in rows:
        p = periods_of.get(row[0], _UNSEEN)
        if p is _UNSEEN:
            if row[0] is None:
                sample = f" (e.g. {row[-1]!r})" if q.time_format else ""
                raise KpiEngineError(f"model '{q.model}': some rows have no readable period{sample}; check the "
                                     "model's time column and time_format (rows are never dropped silently)")
            # a period outside those asked for (a timezone edge) is not part of the comparison
            p = periods_of[row[0]] = p_index.get(normalize_date(row[0]))
        if p is None:
            continue
        key = row[1:1 + ndims]
        i = leaf_of.get(key)
        if i is None:
            i = leaf_of[key] = k_index.setdefault(tuple(normalize_value(v) for v in key), len(k_index))
        ps.append(p)
        leaves.append(i)
        for vals, pos in zip(raw, positions):
            vals.append(row[pos])
    for col, vals in zip(q.columns, raw):
        numbers = np.fromiter((0.0 if v is None else float(normalize_number(v)) for v in vals), float, len(vals))
        cells[col.kpi].append((np.array(ps, dtype=np.int64), np.array(leaves, dtype=np.int64), numbers))
