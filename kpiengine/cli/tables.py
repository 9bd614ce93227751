"""KPI values as a terminal table that fits the terminal, or as CSV a spreadsheet cannot run.

Three layouts of the same values: ``wide`` (a line per period and dimension
values, a column per KPI: the natural one for a few KPIs), ``rows`` (a line per
KPI and dimension values, a column per period: for many KPIs over a few
periods) and ``long`` (a line per value: always fits). ``auto`` takes the first
that fits the terminal width and says how to get the others.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import sys

from ..formatting import csv_cell, display, display_width, format_value, render_table

LAYOUTS = ("auto", "wide", "rows", "long")
_ALTERNATIVES = {"wide": "one column per KPI", "rows": "one row per KPI, one column per period",
                 "long": "one line per value"}


def terminal_width() -> int | None:
    """Columns to fit: $COLUMNS, else the terminal's; None when the output is not a terminal (a file, a pipe)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return None


PARTIAL_MARK = " *"  # after a period whose values are not final (docs/periods.md)


def _period_label(period, partial: set) -> str:
    return period.isoformat() + (PARTIAL_MARK if period in partial else "")


def partial_periods(rows) -> set:
    """Periods with a value that is not final (any KPI): the whole period label is marked."""
    return {r.period_start for r in rows if not getattr(r, "complete", True)}


def partial_footnote(rs, rows) -> str:
    """The legend under a table with marked periods, naming how far the data reaches."""
    if not partial_periods(rows):
        return ""
    if all(getattr(r, "complete", True) or getattr(r, "maturing", False) for r in rows):
        return "* maturing cohort: its entities can still convert within the funnel's window"
    reach = [w.reach for w in getattr(rs, "watermarks", {}).values() if w.reach is not None]
    upto = f" (data up to {min(reach).isoformat(sep=' ', timespec='minutes')})" if reach else ""
    young = any(getattr(r, "maturing", False) for r in rows)
    return f"* partial period{upto}" + (" or maturing cohort" if young else "") + ": values can still change"


def values_table(project, rs, rows, layout: str = "auto", width: int | None = None) -> tuple[str, str | None]:
    """(table, note): the note says which layout was chosen to fit and how to get the others."""
    table, note = _values_table(project, rs, rows, layout, width)
    notes = [partial_footnote(rs, rows)] if rows else []
    notes += getattr(rs, "stale_notes", list)()
    return "\n".join([table, *[n for n in notes if n]]), note


def _values_table(project, rs, rows, layout: str, width: int | None) -> tuple[str, str | None]:
    if not rows:
        return "no data for this period range", None
    width = width or terminal_width()
    if layout != "auto" or width is None:
        return _LAYOUTS["wide" if layout == "auto" else layout](project, rs, rows), None
    for choice in ("wide", "rows", "long"):
        table = _LAYOUTS[choice](project, rs, rows)
        if _table_width(table) <= width or choice == "long":
            break
    if choice == "wide":
        return table, None
    others = ", ".join(f"--layout {name} for {what}" for name, what in _ALTERNATIVES.items() if name != choice)
    return table, f"(shown as `--layout {choice}` to fit {width} columns; {others})"


def _table_width(table: str) -> int:
    return max(display_width(line) for line in table.splitlines())


def _kpis(rs, rows) -> list[str]:
    present = {r.kpi for r in rows}
    return [k for k in rs.kpis if k in present]


def _order(key: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in key)


def _ranked(rs, default):
    """The sort key of a (period, dims...) cell: its rank when the run was ranked (--order-by), else ``default``."""
    rank = getattr(rs, "rank", None)
    if not rank:
        return default
    return lambda key: (key[0], rank.get(key, 0))


def wide(project, rs, rows) -> str:
    kpis = _kpis(rs, rows)
    grid: dict[tuple, dict[str, object]] = {}
    for r in rows:
        grid.setdefault((r.period_start, *[r.dimensions.get(d) for d in rs.by]), {})[r.kpi] = r.value
    headers = ["period", *rs.by, *[project.kpis[k].label for k in kpis]]
    partial = partial_periods(rows)
    body = [[_period_label(key[0], partial), *[display(v) for v in key[1:]],
             *[format_value(grid[key].get(k), project.kpis[k].unit) if k in grid[key] else "" for k in kpis]]
            for key in sorted(grid, key=_ranked(rs, _order))]
    return render_table(headers, body, [False] * (1 + len(rs.by)) + [True] * len(kpis))


def kpi_rows(project, rs, rows) -> str:
    kpis = _kpis(rs, rows)
    periods = sorted({r.period_start for r in rows})
    grid: dict[tuple, dict] = {}
    for r in rows:
        grid.setdefault((kpis.index(r.kpi), *[r.dimensions.get(d) for d in rs.by]), {})[r.period_start] = r.value
    partial = partial_periods(rows)
    headers = ["KPI", *rs.by, *[_period_label(p, partial) for p in periods]]
    body = []
    for key in sorted(grid, key=lambda k: (k[0], *_order(k[1:]))):
        kpi = project.kpis[kpis[key[0]]]
        body.append([kpi.label, *[display(v) for v in key[1:]],
                     *[format_value(grid[key][p], kpi.unit) if p in grid[key] else "" for p in periods]])
    return render_table(headers, body, [False] * (1 + len(rs.by)) + [True] * len(periods))


def long(project, rs, rows) -> str:
    kpis = _kpis(rs, rows)
    rank = getattr(rs, "rank", None)  # kpi run --order-by: rank within the period, not alphabetical
    ordered = sorted(rows, key=lambda r: (r.period_start, *(
        (rank.get((r.period_start, *[r.dimensions.get(d) for d in rs.by]), 0),) if rank else
        _order(tuple(r.dimensions.get(d) for d in rs.by))), kpis.index(r.kpi)))
    partial = partial_periods(rows)
    body = [[_period_label(r.period_start, partial), *[display(r.dimensions.get(d)) for d in rs.by],
             project.kpis[r.kpi].label, format_value(r.value, project.kpis[r.kpi].unit)] for r in ordered]
    return render_table(["period", *rs.by, "KPI", "value"], body, [False] * (2 + len(rs.by)) + [True])


_LAYOUTS = {"wide": wide, "rows": kpi_rows, "long": long}


def values_csv(rs, rows, *, raw: bool = False) -> str:
    """Long-form CSV; text cells protected against spreadsheet formulas unless ``raw``."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["kpi", "period_start", *[csv_cell(d, raw=raw) for d in rs.by], "value", "complete"])
    for r in rows:
        writer.writerow([csv_cell(r.kpi, raw=raw), r.period_start.isoformat(),
                         *[csv_cell(r.dimensions.get(d), raw=raw) for d in rs.by], csv_cell(r.value),
                         "true" if getattr(r, "complete", True) else "false"])
    return buf.getvalue().rstrip("\n")
