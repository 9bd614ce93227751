"""``kpi diff --values``: what a spec change does to the numbers, both versions on the same data side by side.

Each version is computed by its own spec (its formulas, filters, models) on
the warehouse both point to, for the last N complete periods; KPIs whose
definition changed, and KPIs added or removed, are compared. A KPI that one
version cannot compute (removed, or broken there) shows no value on that side
and a note, never a failure of the whole comparison.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Sequence

from ..errors import KpiEngineError
from ..formatting import format_value, render_table
from ..run.engine import Engine
from ..spec.formula import parse_formula, references
from ..sql.periods import next_period, python_period_start


@dataclass
class ValueRow:
    kpi: str
    period: date
    dimensions: dict[str, Any]
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    def to_dict(self) -> dict:
        return {"kpi": self.kpi, "period_start": self.period.isoformat(), "dimensions": self.dimensions,
                "a": self.a, "b": self.b, "delta": self.delta}


@dataclass
class ValueComparison:
    grain: str
    by: list[str]
    periods: list[date]
    rows: list[ValueRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"grain": self.grain, "by": self.by, "periods": [p.isoformat() for p in self.periods],
                "rows": [r.to_dict() for r in self.rows], "notes": self.notes}


def _values(project, kpis: list[str], grain: str, by: list[str], start, end, label: str, notes: list[str]) -> dict:
    engine = Engine(project)
    out: dict[tuple, float | None] = {}
    for name in kpis:
        try:
            rs = engine.compute([name], grain=grain, by=by, start=start, end=end)
        except KpiEngineError as exc:
            notes.append(f"{name}: version {label} cannot compute it: {exc}")
            continue
        for r in rs.rows:
            out[(r.kpi, r.period_start, tuple(r.dimensions.get(d) for d in by))] = r.value
    return out


def with_dependents(project, names: Sequence[str]) -> list[str]:
    """``names`` and every formula KPI of ``project`` built on them (a changed filter moves conversion too)."""
    found = [n for n in names if n in project.kpis]
    grew = True
    while grew:
        grew = False
        for name, spec in project.kpis.items():
            if name not in found and spec.is_formula and set(references(parse_formula(spec.formula))) & set(found):
                found.append(name)
                grew = True
    return found


def compare_values(project_a, project_b, kpis: Sequence[str], *, grain: str = "week", by: Sequence[str] = (),
                   last: int = 4, today: date | None = None) -> ValueComparison:
    """Both versions of ``kpis`` for the last ``last`` complete periods (those over by today)."""
    today = today or date.today()
    by = list(by)
    notes: list[str] = []
    names_a = [k for k in kpis if k in project_a.kpis]
    names_b = [k for k in kpis if k in project_b.kpis]
    for k in kpis:
        if k not in project_a.kpis or k not in project_b.kpis:
            notes.append(f"{k}: only in version {'b' if k not in project_a.kpis else 'a'}")
    end = python_period_start(today + timedelta(days=1), grain)  # the period still running is not final
    values_b = _values(project_b, names_b, grain, by, None, end, "b", notes)
    values_a = _values(project_a, names_a, grain, by, None, end, "a", notes)
    seen = sorted({p for (_k, p, _d), v in [*values_a.items(), *values_b.items()] if v is not None
                   and next_period(p, grain) <= end})
    periods = seen[-last:] if last > 0 else seen
    keys = sorted({key for key in [*values_a, *values_b] if key[1] in set(periods)},
                  key=lambda k: (list(kpis).index(k[0]), k[1], [str(x) for x in k[2]]))
    rows = [ValueRow(k, p, dict(zip(by, dims)), values_a.get((k, p, dims)), values_b.get((k, p, dims)))
            for k, p, dims in keys]
    return ValueComparison(grain, by, periods, rows, notes)


def values_text(cmp: ValueComparison, project_b, label_a: str, label_b: str) -> str:
    if not cmp.rows:
        return "no values to compare" + ("".join(f"\nnote: {n}" for n in cmp.notes))
    unit = {k: s.unit for k, s in project_b.kpis.items()}
    rows = []
    for r in cmp.rows:
        dims = ", ".join(f"{k}={v}" for k, v in r.dimensions.items())
        change = "—" if r.delta is None else (f"{r.delta * 100:+.2f} pt" if unit.get(r.kpi) == "percent"
                                              else f"{r.delta:+,.4g}")
        rows.append([r.kpi, r.period.isoformat(), dims, format_value(r.a, unit.get(r.kpi)),
                     format_value(r.b, unit.get(r.kpi)), change])
    text = render_table(["kpi", "period", "dimensions", label_a, label_b, "change"], rows,
                        [False, False, False, True, True, True])
    return text + "".join(f"\nnote: {n}" for n in cmp.notes)
