"""Breakdowns every model with a time has without declaring them: date parts and a second grain.

``kpi run --grain week --by day_of_week`` or ``--grain day --by time_month`` break a KPI down
by a part of its model's own event time (in the project time zone):

* ``day_of_week``: 1 (Monday) to 7 (Sunday), ISO, on every engine;
* ``hour``: 0 to 23;
* ``time_day``, ``time_week``, ``time_month``, ``time_quarter``, ``time_year``: the first day of
  that period (weeks on Monday), as ISO text, so a coarser (or finer) grain than the request's
  can be a dimension.

A model's own dimension of the same name wins. The names are listed here (``spec``) because
validation, ``kpi run`` and the compiler must agree on them; the SQL is in ``sql.timeparts``.
"""
from __future__ import annotations

DATE_PARTS = ("day_of_week", "hour")
TIME_GRAIN_DIMENSIONS = {f"time_{g}": g for g in ("day", "week", "month", "quarter", "year")}
TIME_DIMENSIONS = DATE_PARTS + tuple(TIME_GRAIN_DIMENSIONS)


def is_time_dimension(name: str, declared: dict | None = None) -> bool:
    """Whether ``name`` is a built-in time breakdown (and not a dimension the model declares itself)."""
    return name in TIME_DIMENSIONS and not (declared and name in declared)
