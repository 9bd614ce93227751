"""From per-model aggregates to the rows a request shows: formulas, offsets, the range, gap filling.

The engine reads every model query into ``aggregates[kpi][(period, dims...)]``. This
module turns them into KPI values:

* a formula is evaluated at every key where any of its aggregate inputs has a row; an input
  missing there is its aggregate over no rows (0 for counts and sums, null otherwise),
  decided by the input's ``aggregate:`` alone, so a period's value never depends on the
  requested range;
* an input at an offset (``revenue[-1]``) is looked up at the shifted period, which the
  compiler scanned in the same query (:mod:`kpiengine.sql.windows`);
* only periods in the requested range are shown (the scan may be wider);
* ``fill: zero|null`` adds the periods of a generated spine with no rows.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from ..errors import SpecError, SpecIssue
from ..results import KpiValue
from ..spec.formulanode import FormulaProgram, evaluate_node
from ..spec.model import Project
from ..spec.periodmath import OffsetError, truncate
from .gaps import ADDITIVE, FILLS, fills_null, missing_value, spine
from .normalize import sort_key


def assemble(project: Project, names: list[str], grain: str, by: list[str], aggregates: dict[str, dict],
             model_keys: dict[str, set[tuple]], start: date | None, end: date | None,
             fill: dict[str, str | None] | None = None,
             programs: dict[str, FormulaProgram] | None = None) -> list[KpiValue]:
    """``programs`` (:func:`formula_programs`, kept with the spec cache): the request's formulas
    as plain trees, evaluated without sqlglot; without them each formula's sqlglot tree is evaluated."""
    memo: dict[tuple[str, tuple], Any] = {}
    refs: dict[str, list] = {}  # formula -> its (input, offset) pairs, read once
    if programs is None:
        from ..spec.formula import (  # lazy: sqlglot, which a run from a cached plan never imports
            evaluate,
            input_key,
            inputs,
            parse_formula,
        )

    def value(name: str, key: tuple) -> Any:
        found = memo.get((name, key), memo)
        if found is not memo:
            return found
        kpi = project.kpis[name]
        if not kpi.is_formula:
            data = aggregates.get(name, {})
            out = data[key] if key in data else missing_value(project, name)
        elif programs is not None:
            program = programs[name]
            out = evaluate_node(program.node, {ref: value(ref, key) for ref in program.inputs})
        else:
            tree = parse_formula(kpi.formula)
            if name not in refs:
                refs[name] = inputs(tree)
            values = {}
            for ref, offset in refs[name]:
                at = key if offset is None else (_shift(offset, key[0], grain),) + key[1:]
                values[input_key(ref, offset)] = value(ref, at)
            out = evaluate(tree, values)
        memo[(name, key)] = out
        return out

    def leaves(name: str) -> list[str]:
        if programs is None:
            from ..sql.compiler import required_aggregates  # lazy: as above

            return required_aggregates(project, [name])
        return list(programs[name].leaves) if project.kpis[name].is_formula else [name]

    first = truncate(start, grain) if start is not None and grain != "all" else start
    rows: list[KpiValue] = []
    for name in names:
        kpi = project.kpis[name]
        keys: set[tuple] = set()
        # A formula has a value wherever one of its aggregate inputs has a row (all KPIs of one
        # model query share its rows; a window aggregate has the rows of its window query).
        for leaf in leaves(name):
            keys |= set(aggregates.get(leaf, {}))
        if grain != "all":
            keys = {k for k in keys if (first is None or k[0] >= first) and (end is None or k[0] < end)}
        how = (fill or {}).get(name)
        added = spine(keys, len(by), grain, first, end) if how in FILLS else set()
        null_fill = bool(added) and fills_null(project, name, how)  # (it reads the formula tree: only for a fill)
        for key in sorted(keys | added, key=sort_key):
            v = None if (key in added and null_fill) else value(name, key)
            if isinstance(v, float) and v.is_integer() and kpi.aggregate in ADDITIVE:
                v = int(v)
            rows.append(KpiValue(kpi=name, grain=grain, period_start=key[0],
                                 dimensions=dict(zip(by, key[1:])), value=v))
    return rows


def formula_programs(project: Project, names: list[str]) -> dict[str, FormulaProgram] | None:
    """A :class:`FormulaProgram` for every formula among ``names`` and the formulas they read, or None
    when one reads another period (an offset): :func:`assemble` then evaluates the sqlglot trees.
    Made with sqlglot (when a request is planned), used without it."""
    from ..spec.formula import inputs, parse_formula, to_node  # lazy: sqlglot, as in assemble
    from ..sql.compiler import required_aggregates  # lazy: as above

    programs: dict[str, FormulaProgram] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        kpi = project.kpis[name]
        if not kpi.is_formula or name in programs:
            continue
        tree = parse_formula(kpi.formula)
        refs = inputs(tree)
        if any(offset is not None for _, offset in refs):
            return None
        programs[name] = FormulaProgram(to_node(tree), tuple(ref for ref, _ in refs),
                                        tuple(required_aggregates(project, [name])))
        todo += [ref for ref, _ in refs]
    return programs


def _shift(offset, period: date, grain: str) -> date:
    try:
        return offset.shift(period, grain)
    except OffsetError as exc:
        raise SpecError([SpecIssue(str(exc), hint=exc.hint, code="offset")]) from None
