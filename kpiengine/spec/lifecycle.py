"""A KPI's lifecycle, as plain YAML an ops person edits: status, since, the review log, targets per period.

A key indicator is set in advance, proven in execution and corrected in
review. The spec holds each step as data::

    conversion:
      status: strengthened          # proposed | active | strengthened | weakened | retired
      since: 2026-07-06
      targets:                      # set in advance, per period (and per dimension value)
        2026-Q3: 20%
        2026-Q4: {total: 0.21, region: {east: 0.20, west: 0.22}}
      review:
        - {date: 2026-07-06, decision: strengthen, reason: "closing explains the Q2 miss", by: sales-director}

This module parses and checks those fields (located issues with hints); the
``kpis`` section calls it. Which target applies to a week inside a quarter is
:mod:`kpiengine.analysis.targets`; the review itself is :mod:`kpiengine.analysis.review`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from ..errors import Location, SpecIssue
from .yamlsrc import LDict, LList, loc_of

STATUSES = ("proposed", "active", "strengthened", "weakened", "retired")
#: A review decision and the status it leaves the KPI in (None: the status stays).
DECISIONS = {"activate": "active", "strengthen": "strengthened", "weaken": "weakened", "retire": "retired",
             "adjust": None, "keep": None}
#: The period a target is written for: 2026 (year), 2026-Q4, 2026-10 (month), 2026-W43, 2026-10-05 (day).
PERIOD_KEY = r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2])|-W(0[1-9]|[1-4]\d|5[0-3])|-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))?$"
TOTAL = "total"  # the key of a period's total target when it also lists dimension values

_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*-?\d+(\.\d+)?\s*%?\s*$"}]}
TARGETS_SCHEMA = {
    "type": "object",
    "description": "targets set in advance: {2026-Q4: 0.20} or {2026-Q4: {total: 0.20, region: {east: 0.18}}}",
    "propertyNames": {"pattern": PERIOD_KEY},
    "additionalProperties": {"anyOf": [_NUMBER, {
        "type": "object", "minProperties": 1,
        "properties": {TOTAL: _NUMBER},
        "additionalProperties": {"type": "object", "minProperties": 1, "additionalProperties": _NUMBER},
    }]},
}
REVIEW_SCHEMA = {
    "type": "array",
    "description": "review decisions, oldest first: {date, decision, reason, by}",
    "items": {
        "type": "object",
        "required": ["date", "decision", "reason"],
        "properties": {
            "date": {"description": "the day of the decision, YYYY-MM-DD (YAML may read it as a date)"},
            "decision": {"enum": list(DECISIONS)},
            "reason": {"type": "string", "minLength": 1},
            "by": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


@dataclass(frozen=True)
class ReviewEntry:
    date: date
    decision: str
    reason: str
    by: str | None = None
    location: Location | None = None

    @property
    def status(self) -> str | None:
        """The status this decision leaves the KPI in (None: unchanged)."""
        return DECISIONS.get(self.decision)

    def to_dict(self) -> dict:
        return {"date": self.date.isoformat(), "decision": self.decision, "reason": self.reason, "by": self.by}


@dataclass(frozen=True)
class TargetEntry:
    """The targets written for one period: the total and, per dimension, per value."""

    label: str  # as written: 2026-Q4
    start: date
    grain: str  # day | week | month | quarter | year
    total: float | None = None
    by_dimension: dict[str, dict[str, float]] = field(default_factory=dict)
    location: Location | None = None

    def value_for(self, dimensions: dict[str, Any]) -> float | None:
        """The target for a dimension-value combination ({} is the total); None when not set."""
        if not dimensions:
            return self.total
        if len(dimensions) != 1:
            return None
        (dim, value), = dimensions.items()
        return self.by_dimension.get(dim, {}).get("(null)" if value is None else str(value))

    def to_dict(self) -> dict:
        return {"period": self.label, "start": self.start.isoformat(), "grain": self.grain, "total": self.total,
                "by_dimension": self.by_dimension}


def parse_number(value: Any) -> float:
    """A number, or a percent string such as ``20%`` (meaning 0.2); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true/false")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().replace(" ", "")
    if text.endswith("%"):
        return float(text[:-1]) / 100.0
    return float(text)


def parse_day(text: Any) -> date:
    """An ISO date (YYYY-MM-DD); ValueError otherwise."""
    if isinstance(text, date):
        return text
    return date.fromisoformat(str(text).strip())


def parse_period_key(text: str) -> tuple[date, str]:
    """'2026-Q4' -> (2026-10-01, quarter); also 2026, 2026-10, 2026-W43, 2026-10-05. ValueError otherwise."""
    s = str(text).strip().upper()
    if not re.match(PERIOD_KEY, s):
        raise ValueError(f"{text!r} is not a period: write 2026, 2026-Q4, 2026-10, 2026-W43 or 2026-10-05")
    if len(s) == 4:
        return date(int(s), 1, 1), "year"
    if "-Q" in s:
        return date(int(s[:4]), 3 * (int(s[6]) - 1) + 1, 1), "quarter"
    if "-W" in s:
        return date.fromisocalendar(int(s[:4]), int(s[6:]), 1), "week"
    if len(s) == 7:
        return date(int(s[:4]), int(s[5:7]), 1), "month"
    return date.fromisoformat(s), "day"


# --------------------------------------------------------------------------- parsing with located issues


def parse_targets(raw: Any, kpi: str) -> tuple[list[TargetEntry], list[SpecIssue]]:
    """Target entries ordered by period start, and what is wrong with the ones that are not valid."""
    entries: list[TargetEntry] = []
    issues: list[SpecIssue] = []
    if not isinstance(raw, dict):
        return entries, issues  # the schema reports the type
    for key, value in raw.items():
        where = getattr(raw, "key_locs", {}).get(key) if isinstance(raw, LDict) else None
        try:
            start, grain = parse_period_key(str(key))
        except ValueError as exc:
            issues.append(SpecIssue(f"KPI '{kpi}' targets: {exc}", where, code="target",
                                    hint="a target is set for one period, e.g. `2026-Q4: 0.20`"))
            continue
        try:
            total, per_dim = _period_targets(value)
        except ValueError as exc:
            issues.append(SpecIssue(f"KPI '{kpi}' target for {key}: {exc}", loc_of(value) or where, code="target",
                                    hint="e.g. `2026-Q4: 20%` or `2026-Q4: {total: 0.20, region: {east: 0.18}}`"))
            continue
        entries.append(TargetEntry(str(key), start, grain, total, per_dim, where))
    entries.sort(key=lambda e: (e.start, e.grain))
    seen: dict[tuple, TargetEntry] = {}
    for e in entries:
        if (e.start, e.grain) in seen:
            issues.append(SpecIssue(f"KPI '{kpi}': the target for {e.label} is also written as "
                                    f"{seen[(e.start, e.grain)].label}", e.location, code="duplicate",
                                    hint="keep one of the two keys"))
        seen[(e.start, e.grain)] = e
    return entries, issues


def _period_targets(value: Any) -> tuple[float | None, dict[str, dict[str, float]]]:
    if not isinstance(value, dict):
        return parse_number(value), {}
    total = parse_number(value[TOTAL]) if TOTAL in value else None
    per_dim: dict[str, dict[str, float]] = {}
    for dim, per_value in value.items():
        if dim == TOTAL:
            continue
        if not isinstance(per_value, dict):
            raise ValueError(f"`{dim}:` must map each {dim} value to its target, e.g. {{east: 0.18}}")
        try:
            per_dim[str(dim)] = {("(null)" if v is None else str(v)): parse_number(n) for v, n in per_value.items()}
        except (TypeError, ValueError):
            raise ValueError(f"the {dim} targets must be numbers or percents such as 18%") from None
    return total, per_dim


def parse_review(raw: Any, kpi: str) -> tuple[list[ReviewEntry], list[SpecIssue]]:
    """The review log, oldest first; entries with a bad date are reported and left out."""
    entries: list[ReviewEntry] = []
    issues: list[SpecIssue] = []
    if not isinstance(raw, list):
        return entries, issues
    for i, item in enumerate(raw):
        loc = raw.loc_of(i) if isinstance(raw, LList) else None
        if not isinstance(item, dict) or item.get("decision") not in DECISIONS or not item.get("reason"):
            continue  # the schema reports it
        try:
            day = parse_day(item.get("date"))
        except ValueError:
            issues.append(SpecIssue(f"KPI '{kpi}' review entry {i + 1}: date {item.get('date')!r} is not a date",
                                    item.loc_of("date") if isinstance(item, LDict) else loc,
                                    hint="write the day of the decision as YYYY-MM-DD", code="review"))
            continue
        entries.append(ReviewEntry(day, str(item["decision"]), str(item["reason"]).strip(),
                                   str(item["by"]) if item.get("by") is not None else None, loc))
    return sorted(entries, key=lambda e: e.date), issues


def lifecycle_issues(kpi, available: Iterable[str] | None) -> Iterable[SpecIssue]:
    """Semantic checks of ``status``, ``since``, ``targets`` and ``review`` of one KPI.

    ``available`` are the dimensions the KPI can be broken down by (None: unknown, not checked).
    """
    raw = kpi.raw if isinstance(kpi.raw, LDict) else LDict()
    if kpi.since is not None:
        try:
            parse_day(kpi.since)
        except ValueError:
            yield SpecIssue(f"KPI '{kpi.name}': since {kpi.since!r} is not a date", raw.loc_of("since"),
                            hint="the day the current status began, as YYYY-MM-DD", code="review")
    _, target_issues = parse_targets(raw.get("targets"), kpi.name)
    yield from target_issues
    known = set(available or ())
    for entry in kpi.targets:
        for dim in entry.by_dimension:
            if available is not None and dim not in known:
                yield SpecIssue(f"KPI '{kpi.name}' target for {entry.label}: '{dim}' is not a dimension of "
                                f"the KPI's models", entry.location, code="target",
                                hint=f"dimensions: {', '.join(sorted(known)) or 'none'}")
    _, review_issues = parse_review(raw.get("review"), kpi.name)
    yield from review_issues
    decided = [e for e in kpi.review if e.status is not None]
    if decided and decided[-1].status != kpi.status:
        last = decided[-1]
        yield SpecIssue(f"KPI '{kpi.name}' has status '{kpi.status}', but its last review decision "
                        f"({last.date}: {last.decision}) leaves it {last.status}",
                        raw.loc_of("status") if "status" in raw else last.location, code="review",
                        hint=f"set `status: {last.status}`, or record the new decision under `review:` "
                             f"(kpi review --decide {kpi.name}=...)")
