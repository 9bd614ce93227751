"""Everything the Review view shows, gathered once: the review, the alert statistics, the diff since the last review.

``kpi review`` (every format), ``kpi report --review`` and the ``/review``
page of ``kpi serve`` all read this document, so they agree. The dashboard
layer sits above analysis and alerting, so it is where the alert store's
statistics meet the review.

*The last review* is the latest decision recorded before the window starts
(any KPI's ``review:`` log); the diff compares the spec as committed on that
day with the spec as it is now. Without git, or without an earlier decision,
the document says so instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

from ..alerting.episodes import project_alert_statistics
from ..analysis.review import Review, build_review
from ..errors import KpiEngineError
from ..run.engine import Engine
from ..spec.diff import SpecDiff, diff_projects
from ..spec.loader import load_project_unchecked
from ..spec.revisions import commit_before, spec_at


@dataclass
class ReviewDocument:
    review: Review
    diff: SpecDiff | None
    diff_note: str | None
    last_review: date | None

    def to_dict(self) -> dict:
        out = self.review.to_dict()
        out["last_review"] = self.last_review.isoformat() if self.last_review else None
        out["diff_since_last_review"] = self.diff.to_dict() if self.diff else None
        out["diff_note"] = self.diff_note
        return out


def last_review_day(project, before: date) -> date | None:
    days = [e.date for k in project.kpis.values() for e in k.review if e.date < before]
    return max(days, default=None)


def diff_since(project, day: date | None) -> tuple[SpecDiff | None, str | None]:
    """The spec change from the commit of ``day`` to the working tree, or why there is none."""
    if day is None:
        return None, "no decision was recorded before this window: there is no earlier review to compare with"
    try:
        commit = commit_before(project.folder, day.isoformat())
        if commit is None:
            return None, f"the spec folder has no commit from {day} or earlier to compare with"
        with spec_at(commit, project.folder) as (folder, label):
            old, _issues = load_project_unchecked(folder)
            return diff_projects(old, project, f"{day} ({commit[:10]})", "now"), None
    except KpiEngineError as exc:
        return None, f"no diff since the last review: {exc}"


def review_document(project, start: date, end: date, *, grain: str = "week", kpis: Sequence[str] | None = None,
                    outcomes: Sequence[str] | None = None, by: Sequence[str] = (), today: date | None = None,
                    engine: Any = None) -> ReviewDocument:
    stats = project_alert_statistics(project, start, end)
    review = build_review(engine or Engine(project), start, end, grain=grain, kpis=kpis, outcomes=outcomes, by=by,
                          today=today, alert_stats=stats)
    day = last_review_day(project, start)
    diff, note = diff_since(project, day)
    return ReviewDocument(review, diff, note, day)
