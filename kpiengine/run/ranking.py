"""Order by a KPI with a limit (``--order-by revenue --limit 10``), and KPI-value filters (``--having "visits > 20"``).

Ranking happens after the values are computed and recorded: history keeps
every value, and the ranked run only shows fewer rows. Each period is ranked
on its own (the top 10 reps of every week), by the KPI's value, highest first
unless ``KPI:asc``; a NULL value ranks last either way, ties keep the order of
the dimension values, so the output is the same on every run.

``--having`` keeps the groups (a period and its dimension values) whose KPI
values pass every condition: "only reps with more than 20 visits". It is
applied before ranking, so ``--having "visits > 20" --order-by conversion
--limit 10`` is the ten best converters among the reps who made 20 visits.
"""
from __future__ import annotations

import operator
import re
from typing import Any

from ..errors import SpecError, SpecIssue
from .engine import ResultSet
from .normalize import sort_key


def parse_order(text: str, kpis: list[str]) -> tuple[str, bool]:
    """(KPI name, descending) of ``revenue``, ``revenue:desc`` or ``revenue:asc``."""
    name, _, direction = text.partition(":")
    if direction not in ("", "asc", "desc"):
        raise SpecError([SpecIssue(f"--order-by {text!r}: unknown direction {direction!r}",
                                   hint="write KPI, KPI:desc (highest first, the default) or KPI:asc",
                                   code="request")])
    if name not in kpis:
        raise SpecError([SpecIssue(f"--order-by {name!r} is not one of the KPIs of this run",
                                   hint=f"add --kpi {name}, or order by one of: {', '.join(kpis)}",
                                   code="request")])
    return name, direction != "asc"


def rank_rows(rs: ResultSet, order_by: str | None, limit: int | None) -> list:
    """The rows of ``rs`` ranked within each period; sets ``rs.rank`` for the table layouts."""
    if not order_by:
        raise SpecError([SpecIssue("--limit needs --order-by KPI", hint="e.g. --order-by revenue --limit 10",
                                   code="request")])
    if not rs.by:
        raise SpecError([SpecIssue("--order-by ranks the dimension values of each period: add --by",
                                   hint="e.g. --by rep --order-by revenue --limit 10", code="request")])
    name, descending = parse_order(order_by, rs.kpis)
    groups: dict[tuple, list] = {}
    score: dict[tuple, float | None] = {}
    for r in rs.rows:
        key = (r.period_start, *[r.dimensions.get(d) for d in rs.by])
        groups.setdefault(key, []).append(r)
        if r.kpi == name:
            score[key] = r.value
    periods: dict = {}
    for key in sorted(groups, key=sort_key):
        periods.setdefault(key[0], []).append(key)
    rank: dict[tuple, int] = {}
    out = []
    for period in sorted(periods):
        keys = periods[period]
        present = [k for k in keys if score.get(k) is not None]
        present.sort(key=lambda k: score[k], reverse=descending)  # stable: ties keep dimension order
        ordered = present + [k for k in keys if score.get(k) is None]
        for i, key in enumerate(ordered[:limit] if limit else ordered):
            rank[key] = i
            out += sorted(groups[key], key=lambda r: rs.kpis.index(r.kpi))
    rs.rank = rank
    return out


_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|<>|!=|=|>|<)\s*(-?\d+(?:\.\d+)?)(%?)\s*$")
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq,
        "!=": operator.ne, "<>": operator.ne}


def parse_having(text: str, kpis: list[str]) -> list[tuple[str, Any, float]]:
    """``visits > 20 AND conversion >= 10%`` -> [(kpi, op, number)]; a located SpecError otherwise."""
    out = []
    for part in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        m = _CONDITION.match(part)
        if not m:
            raise SpecError([SpecIssue(f"--having {part!r} is not KPI OP NUMBER",
                                       hint="e.g. --having \"visits > 20\" or \"conversion >= 10% AND visits > 20\" "
                                            "(>, >=, <, <=, =, !=; conditions joined by AND)", code="request")])
        name, op, number, percent = m.groups()
        if name not in kpis:
            raise SpecError([SpecIssue(f"--having {name!r} is not one of the KPIs of this run",
                                       hint=f"add --kpi {name}, or filter on one of: {', '.join(kpis)}",
                                       code="request")])
        out.append((name, _OPS[op], float(number) / (100 if percent else 1)))
    return out


def having_rows(rs: ResultSet, text: str) -> list:
    """Only the (period, dimension values) groups whose KPI values pass every condition (null never passes)."""
    conditions = parse_having(text, rs.kpis)
    values: dict[tuple, dict[str, Any]] = {}
    for r in rs.rows:
        values.setdefault((r.period_start, *[r.dimensions.get(d) for d in rs.by]), {})[r.kpi] = r.value
    keep = {key for key, vals in values.items()
            if all(vals.get(k) is not None and op(vals[k], n) for k, op, n in conditions)}
    return [r for r in rs.rows if (r.period_start, *[r.dimensions.get(d) for d in rs.by]) in keep]
