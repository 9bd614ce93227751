"""Time intervals for routes: no pages at night or at weekends (Alertmanager's ``time_intervals``).

::

    time_intervals:
      nights_and_weekends:
        - weekdays: [saturday, sunday]
        - times: [{start_time: "00:00", end_time: "08:00"}, {start_time: "20:00", end_time: "24:00"}]
      office_hours:
        - weekdays: ["monday:friday"]
          times: [{start_time: "09:00", end_time: "17:30"}]
    routes:
      routes:
        - match: {team: sales}
          sinks: [sales_pager]
          mute_time_intervals: [nights_and_weekends]   # nothing is sent then
        - match: {severity: info}
          sinks: [digest]
          active_time_intervals: [office_hours]        # only sent then

An interval is a list of entries; it holds at a moment when any entry does, and
an entry holds when every field it gives does (``times``, ``weekdays``,
``days_of_month``, ``months``, ``years``). Moments are read in the project time
zone (``project.timezone``), or the entry's ``location``. As in Alertmanager, a
route's time intervals are its own (children do not inherit them). A muted
notification is not sent and not logged as sent: if the alert still fires when
the interval ends, the next ``kpi check`` sends it.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
ENTRY_KEYS = {"times", "weekdays", "days_of_month", "months", "years", "location"}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


@dataclass
class IntervalEntry:
    times: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in minutes of the day
    weekdays: set[int] = field(default_factory=set)  # 0 = Monday
    days_of_month: list[tuple[int, int]] = field(default_factory=list)  # ranges; negative counts from the end
    months: set[int] = field(default_factory=set)  # 1..12
    years: list[tuple[int, int]] = field(default_factory=list)
    location: tzinfo | None = None

    def holds(self, moment: datetime, default_tz: tzinfo) -> bool:
        t = moment.astimezone(self.location or default_tz)
        if self.times and not any(a <= t.hour * 60 + t.minute < b for a, b in self.times):
            return False
        if self.weekdays and t.weekday() not in self.weekdays:
            return False
        if self.days_of_month:
            last = calendar.monthrange(t.year, t.month)[1]
            def day(d: int) -> int:
                return d if d > 0 else last + 1 + d
            if not any(day(a) <= t.day <= day(b) for a, b in self.days_of_month):
                return False
        if self.months and t.month not in self.months:
            return False
        if self.years and not any(a <= t.year <= b for a, b in self.years):
            return False
        return True


@dataclass
class TimeInterval:
    name: str
    entries: list[IntervalEntry]

    def holds(self, now: float, tz: tzinfo) -> bool:
        moment = datetime.fromtimestamp(now, timezone.utc)
        return any(e.holds(moment, tz) for e in self.entries)


def project_tz(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _minutes(text: Any) -> int:
    m = _TIME.match(str(text))
    if not m or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (int(m.group(1)) == 24 and m.group(2) != "00"):
        raise ValueError(f"{text!r} is not a time of day HH:MM (00:00 to 24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


def _named(value: Any, names: tuple[str, ...], first: int) -> int:
    text = str(value).strip().lower()
    if text in names:
        return names.index(text) + first
    if text.isdigit() and first <= int(text) < first + len(names):
        return int(text)
    raise ValueError(f"{value!r} is not one of {', '.join(names)}")


def _ranges(values: Any, parse) -> list[tuple[int, int]]:
    """``["monday:friday", sunday]`` -> [(0, 4), (6, 6)] with ``parse`` reading one end."""
    if not isinstance(values, list):
        values = [values]
    out = []
    for v in values:
        a, _sep, b = str(v).partition(":")
        out.append((parse(a), parse(b) if b else parse(a)))
    return out


def parse_entry(node: Any) -> IntervalEntry:
    """One entry of a time interval; ValueError with a readable message when a field is wrong."""
    if not isinstance(node, dict):
        raise ValueError("an entry is a mapping of times, weekdays, days_of_month, months, years, location")
    unknown = [str(k) for k in node if k not in ENTRY_KEYS]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; use {', '.join(sorted(ENTRY_KEYS))}")
    entry = IntervalEntry()
    times = node.get("times", [])
    for t in times if isinstance(times, list) else [times]:
        if not isinstance(t, dict) or "start_time" not in t or "end_time" not in t:
            raise ValueError("each of `times` is {start_time: \"HH:MM\", end_time: \"HH:MM\"}")
        a, b = _minutes(t["start_time"]), _minutes(t["end_time"])
        if a >= b:
            raise ValueError(f"times: start_time {t['start_time']} is not before end_time {t['end_time']} "
                             f"(for a span over midnight, give two ranges)")
        entry.times.append((a, b))
    if "weekdays" in node:
        for a, b in _ranges(node["weekdays"], lambda x: _named(x, WEEKDAYS, 0)):
            if a > b:
                raise ValueError(f"weekdays: {WEEKDAYS[a]}:{WEEKDAYS[b]} runs backwards")
            entry.weekdays.update(range(a, b + 1))
    if "months" in node:
        for a, b in _ranges(node["months"], lambda x: _named(x, MONTHS, 1)):
            if a > b:
                raise ValueError(f"months: range {a}:{b} runs backwards")
            entry.months.update(range(a, b + 1))
    if "days_of_month" in node:
        def dom(x):
            d = int(str(x).strip())
            if d == 0 or not -31 <= d <= 31:
                raise ValueError(f"days_of_month: {x!r} is not a day 1..31 (or -1 for the last)")
            return d
        entry.days_of_month = _ranges(node["days_of_month"], dom)
    if "years" in node:
        entry.years = _ranges(node["years"], lambda x: int(str(x).strip()))
    if "location" in node:
        try:
            entry.location = ZoneInfo(str(node["location"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"location {node['location']!r} is not a time zone such as Europe/Berlin") from None
    return entry


def parse_intervals(raw: Any, err, loc_of) -> dict[str, TimeInterval]:
    """The ``time_intervals:`` section; ``err(message, location, hint)`` records located issues."""
    out: dict[str, TimeInterval] = {}
    if raw in (None, {}):
        return out
    if not isinstance(raw, dict):
        err("`time_intervals` maps names to lists of entries", loc_of(raw, None), None)
        return out
    for name, entries in raw.items():
        items = entries if isinstance(entries, list) else [entries]
        parsed = []
        for i, node in enumerate(items):
            try:
                parsed.append(parse_entry(node))
            except ValueError as exc:
                err(f"time interval '{name}': {exc}", loc_of(items, i) or loc_of(raw, name),
                    "e.g. `- weekdays: ['monday:friday']` with `times: [{start_time: '09:00', end_time: '17:00'}]`")
        out[str(name)] = TimeInterval(str(name), parsed)
    return out
