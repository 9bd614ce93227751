"""Watermarks and freshness: how far each model's data reaches, and whether that is recent enough.

The watermark of a model is the latest moment its data covers, in the project
time zone: its latest event time, or the maximum of a declared ``freshness:``
column or query. Two judgements follow from it (docs/periods.md):

* a period is **complete** when it ends at or before what every model it reads
  covers, and at or before now: its value will not move any more. Data is taken
  to arrive in whole days: a latest event on Sunday 18:27 covers that Sunday
  (the week is complete), one on Wednesday 14:00 covers up to Wednesday's end
  (the week is not). A declared ``freshness:`` (a loaded-at column or query) is
  taken as the exact moment the data covers;
* a model is **stale** when now minus its watermark exceeds its ``max_delay:``.

Watermarks are asked once per source and cached on the engine, so every
compute of one command (``kpi check`` makes several) shares them.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import KpiEngineError
from ..spec.durations import describe_seconds
from ..spec.leaves import leaf_models
from ..spec.model import ALL_GRAIN, Project
from ..spec.periodmath import next_period, previous_period, python_period_start


@dataclass
class Watermark:
    """One model's reach (local wall-clock time of the project, naive) judged at ``now`` (same clock)."""

    model: str
    reach: datetime | None  # None: the model has no rows (or its watermark query failed: see error)
    now: datetime
    max_delay: float | None = None  # seconds
    error: str | None = None
    exact: bool = False  # reach is a declared freshness moment, not the latest event time

    @property
    def covers(self) -> datetime | None:
        """The moment up to which the data is complete: the end of the latest event's day (never after now)."""
        if self.reach is None or self.exact:
            return self.reach
        return min(datetime.combine(self.reach.date() + timedelta(days=1), dtime()), max(self.now, self.reach))

    @property
    def delay_s(self) -> float | None:
        return None if self.reach is None else max(0.0, (self.now - self.reach).total_seconds())

    @property
    def stale(self) -> bool:
        """Past its max_delay (a model without max_delay is never stale; one with no rows always is)."""
        if self.max_delay is None or self.error:
            return False
        return self.reach is None or (self.delay_s or 0.0) > self.max_delay

    def note(self) -> str:
        """``model orders is stale: data reaches 2026-03-11 14:00, 3d 2h ago (max_delay 1d)``."""
        if self.error:
            return f"model {self.model}: watermark unknown ({self.error})"
        if self.reach is None:
            return f"model {self.model} has no rows"
        state = "is stale" if self.stale else "is fresh"
        limit = f" (max_delay {describe_seconds(self.max_delay)})" if self.max_delay is not None else ""
        return (f"model {self.model} {state}: data reaches {self.reach.isoformat(sep=' ', timespec='minutes')}, "
                f"{describe_seconds(self.delay_s or 0)} ago{limit}")

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model), "reach": self.reach.isoformat(sep=" ") if self.reach else None,
                "covers": self.covers.isoformat(sep=" ") if self.covers else None,
                "delay_s": self.delay_s, "max_delay_s": self.max_delay, "stale": self.stale, "error": self.error}


def project_zone(project: Project):
    try:
        return ZoneInfo(project.timezone or "UTC")
    except Exception:  # reported by `kpi validate`
        return UTC


def local_now(project: Project, now: float | None = None) -> datetime:
    """Now as wall-clock time in the project time zone (naive, like the watermarks)."""
    return datetime.fromtimestamp(time.time() if now is None else now, project_zone(project)).replace(tzinfo=None)


def to_local(value: Any, project: Project, from_zone: str) -> datetime | None:
    """A driver's raw maximum as project wall-clock time: naive values are read in ``from_zone``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace("T", " ").rstrip("Z")
        try:
            value = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text[:10])
        except ValueError:
            raise KpiEngineError(f"cannot read a time from {value!r}") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, dtime())
    if not isinstance(value, datetime):
        raise KpiEngineError(f"cannot read a time from {value!r}")
    if value.tzinfo is None:
        if from_zone == "":  # already local wall-clock time
            return value
        value = value.replace(tzinfo=ZoneInfo(from_zone))
    return value.astimezone(project_zone(project)).replace(tzinfo=None)


def direct_models(project: Project, models: Iterable[str]) -> tuple[dict[str, list], dict[str, list[str]]]:
    """({source: [ModelSpec asked there]}, {generated model: [models it reaches as far as]})."""
    wanted = [m for m in dict.fromkeys(models) if m in project.models]
    derived = {m: [r for r in project.models[m].reach_from if r in project.models]
               for m in wanted if project.models[m].reach_from}
    direct = list(dict.fromkeys([m for m in wanted if m not in derived] + [r for rs in derived.values() for r in rs]))
    by_source: dict[str, list] = {}
    for name in direct:
        model = project.models[name]
        by_source.setdefault(model.source, []).append(model)
    return by_source, derived


def read_watermarks(engine, source, source_name: str, specs: list, now_local: datetime) -> dict[str, Watermark]:
    """The watermarks of ``specs`` through an open ``source``: one query; a failure marks each model's error."""
    project = engine.project
    specs = sorted(specs, key=lambda m: m.name)  # one query text per set of models: the cache finds it again
    try:
        sql = _watermark_sql(engine, specs, source_name)
        row = source.execute(sql, timeout=engine.timeout).rows[0]
        # a freshness query returns an instant; naive values are read in the model's zone like its times
        return {m.name: Watermark(m.name, to_local(raw, project, m.source_zone), now_local, m.max_delay,
                                  exact=bool(m.freshness)) for m, raw in zip(specs, row)}
    except Exception as exc:  # a watermark is a help: the values themselves still stand
        return {m.name: Watermark(m.name, None, now_local, m.max_delay, error=str(exc)[:300]) for m in specs}


def _watermark_sql(engine, specs: list, source_name: str) -> str:
    """The watermark query of ``specs`` on a source, kept with the spec cache (it depends on the spec alone)."""
    dialect = engine.dialect_of(source_name)
    key = repr((dialect, [m.name for m in specs]))
    cache = getattr(engine.project, "cache", None)
    sql = cache.get("watermarks", key) if cache is not None else None
    if sql is None:
        from ..sql.watermark_sql import (
            watermark_query,  # lazy: built with sqlglot, which a run from a cached plan does not import
        )

        sql = watermark_query(engine.project, specs, dialect)
        if cache is not None:
            cache.put("watermarks", key, sql)
    return sql


def from_latest_times(project: Project, latest: dict[str, str | None], now: float | None = None
                      ) -> dict[str, Watermark]:
    """Watermarks from the latest times an incremental run's day counts read (``MAX`` of the same time
    expression the watermark query takes, written as text by the warehouse), for the models whose
    watermark is their latest event: one statement fewer. A model with a ``freshness:`` column or
    query, or a text that does not read as a time, is left to the watermark query."""
    now_local = local_now(project, now)
    out: dict[str, Watermark] = {}
    for name, text in latest.items():
        model = project.models.get(name)
        if model is None or model.freshness or model.reach_from:
            continue
        try:
            reach = to_local(text, project, model.source_zone)
        except KpiEngineError:
            continue
        out[name] = Watermark(name, reach, now_local, model.max_delay)
    return out


def derive(project: Project, derived: dict[str, list[str]], out: dict[str, Watermark], now_local: datetime) -> None:
    """A generated model (a funnel's) reaches as far as the least of the models it is built from."""
    for name, parts in derived.items():
        marks = [out[p] for p in parts if p in out]
        errors = [w.error for w in marks if w.error]
        known = [w for w in marks if w.reach is not None]
        least = min(known, key=lambda w: w.covers) if known and len(known) == len(marks) else None
        out[name] = Watermark(name, least.reach if least else None, now_local, project.models[name].max_delay,
                              error=errors[0] if errors else None, exact=bool(least and least.exact))


def query_watermarks(engine, models: Iterable[str], now: float | None = None) -> dict[str, Watermark]:
    """Ask each source once for the watermarks of its ``models``."""
    project = engine.project
    now_local = local_now(project, now)
    by_source, derived = direct_models(project, models)
    out: dict[str, Watermark] = {}
    for source_name, specs in by_source.items():
        try:
            source = engine.open_source(source_name)
            try:
                source.connect()
                out.update(read_watermarks(engine, source, source_name, specs, now_local))
            finally:
                source.close()
        except Exception as exc:  # the source cannot be opened: its models' watermarks are unknown
            out.update({m.name: Watermark(m.name, None, now_local, m.max_delay, error=str(exc)[:300])
                        for m in specs})
    derive(project, derived, out, now_local)
    return out


def period_complete(period: date, grain: str, reaches: list[datetime | None], now: datetime) -> bool:
    """The period ends at or before every watermark and at or before now."""
    end = datetime.combine(next_period(period, grain), dtime())
    if end > now:
        return False
    return all(r is None or end <= r for r in reaches)


def cohort_maturing(period: date, grain: str, window: float | None, reach: datetime | None) -> bool:
    """A cohort of a complete period still grows while its end plus the funnel's window lies after the data."""
    if reach is None:
        return False
    end = datetime.combine(next_period(period, grain), dtime())
    return window is not None and end + timedelta(seconds=window) > reach


def mark_complete(project: Project, rows: Iterable[Any], marks: dict[str, Watermark],
                  now: datetime | None = None, start: date | None = None, end: date | None = None) -> None:
    """Set ``row.complete`` (and ``row.maturing`` for young funnel cohorts) from the models' watermarks.

    ``start``/``end``: the requested range. A period the range cuts (``--from`` on a
    Wednesday) holds only part of its days, so it is partial too: ranges are never
    widened, the cut periods are marked (docs/periods.md).
    """
    leaves: dict[str, dict] = {}
    answers: dict[tuple, dict] = {}
    now = now or next((w.now for w in marks.values()), None) or local_now(project)
    kpi = grain = periods = None
    for row in rows:
        if row.kpi != kpi or row.grain != grain:  # rows come KPI by KPI: look up its answers once per run of rows
            kpi, grain = row.kpi, row.grain
            found = leaves.get(kpi)
            if found is None:
                names = [m for m in sorted(leaf_models(project, kpi)) if m in marks and not marks[m].error]
                cohorts = [(project.models[m].maturity_window, marks[m].covers) for m in names
                           if project.models[m].cohort]
                reaches = [marks[m].covers for m in names]
                # KPIs over the same models share their answers: the key is what the answer depends on
                found = leaves[kpi] = {"reaches": reaches, "cohorts": cohorts,
                                       "key": (tuple(reaches), tuple(cohorts))}
            periods = answers.setdefault((found["key"], grain), {})
        state = periods.get(row.period_start)
        if state is None:
            state = periods[row.period_start] = _period_state(row.period_start, grain, found["reaches"],
                                                              found["cohorts"], now, start, end)
        row.complete, row.maturing = state


def _period_state(period: date, grain: str, reaches: list, cohorts: list, now: datetime, start: date | None,
                  end: date | None) -> tuple[bool, bool]:
    """(complete, maturing) of one period of KPIs over models that reach as far as ``reaches``."""
    if grain == ALL_GRAIN:
        # One figure over the requested range: final only when the range has an end that every
        # model's data and now have passed; an open range keeps growing (docs/periods.md).
        ends = datetime.combine(end, dtime()) if end is not None else None
        return ends is not None and ends <= now and all(r is None or ends <= r for r in reaches), False
    done = (period_complete(period, grain, reaches, now)
            and (start is None or start <= period)
            and (end is None or next_period(period, grain) <= end))
    maturing = done and any(cohort_maturing(period, grain, w, r) for w, r in cohorts)
    return done and not maturing, maturing


def last_complete_period(grain: str, reaches: list[datetime | None], now: datetime) -> date:
    """The latest period start whose period is complete for every watermark and now.

    The period holding the earliest of them has not ended by then, so it is the one before.
    """
    limit = min([r for r in reaches if r is not None] + [now])
    return previous_period(python_period_start(limit.date(), grain), grain)
