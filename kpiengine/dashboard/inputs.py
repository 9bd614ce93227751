"""Everything the views are built from, gathered once per request.

:mod:`kpiengine.dashboard.collect` fills a :class:`DashboardInputs` from the
history store, the engine, the alerting state, the funnel and root-cause
modules; :mod:`kpiengine.dashboard.data` turns it into JSON with pure functions.
Keeping the two apart lets the views be tested on hand-made inputs and lets a
missing module degrade into an explained, empty panel (``notes``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..spec.model import Project
from .maturity import funnel_windows
from .options import DashboardOptions
from .values import ValueTable

ALERT_STATES = ("firing", "pending", "resolved", "inactive")


@dataclass
class AlertRecord:
    """One alert instance: a rule on a KPI for one set of dimension values."""

    rule: str
    kpi: str
    state: str  # firing | pending | resolved | inactive
    severity: str = "warning"
    dimensions: dict = field(default_factory=dict)
    since: str | None = None  # when it entered its state (ISO timestamp)
    period_start: str | None = None  # the period it was evaluated on
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    silenced: bool = False
    #: the rule's `where:` filter: the alert judges the KPI under it, so no tile of the unfiltered KPI wears it
    where: str | None = None


@dataclass
class Threshold:
    """A line (or band) drawn on a trend: a rule's static limit or a target."""

    kpi: str
    severity: str
    op: str  # above | below | outside | inside
    value: float | None = None
    low: float | None = None
    high: float | None = None
    rule: str = ""
    dimensions: dict = field(default_factory=dict)  # only for per-dimension limits


@dataclass
class AlertSnapshot:
    active: list[AlertRecord] = field(default_factory=list)  # pending and firing now
    silences: list[dict] = field(default_factory=list)  # {id, matchers, comment, created_by, starts_at, ends_at}
    fired: list[dict] = field(default_factory=list)  # {kpi, period_start, severity, dimensions, rule}
    thresholds: list[Threshold] = field(default_factory=list)
    available: bool = False
    evaluated: str | None = None  # the latest period `kpi check` judged at this grain
    scope: str = "now"  # now: the states `kpi check` keeps; as_of: replayed from the log for an earlier period
    known: bool = True  # False when the alert log does not reach back to the period shown
    events: list[dict] = field(default_factory=list, repr=False)  # the transition log, oldest first
    states: dict = field(default_factory=dict, repr=False)
    silence_list: list = field(default_factory=list, repr=False)
    rules: dict = field(default_factory=dict, repr=False)


@dataclass
class FunnelData:
    """Per-step entity counts of one funnel for two periods, in total and per breakdown value."""

    name: str
    label: str
    steps: list[dict]  # {id, label, tier}
    # period ISO -> breakdown value ("" for the total) -> list of entity counts per step
    counts: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    by: str | None = None
    median_seconds: dict[str, list[float | None]] = field(default_factory=dict)  # period -> per step
    view: str = "cohort"  # cohort: every step counted in the entry period; event: in the period it happened
    attribution: str = ""
    window_seconds: float | None = None  # the conversion window used
    spec_window_seconds: float | None = None  # the spec's window (the control's default)
    ordered: bool = True
    maturing: set = field(default_factory=set)  # cohort periods whose window has not closed yet
    distribution: dict | None = None  # time to convert per step in distribution_period (funnel_times)
    distribution_period: str | None = None
    precomputed: bool = False  # counts read from what `kpi check` stored (funnel_store), not queried now


@dataclass
class DashboardInputs:
    project: Project
    options: DashboardOptions
    totals: ValueTable  # KPI values without breakdown, every period in range
    breakdown: ValueTable | None = None  # by options.by
    team: ValueTable | None = None  # by options.bubble_by
    alerts: AlertSnapshot = field(default_factory=AlertSnapshot)
    funnels: list[FunnelData] = field(default_factory=list)
    why: dict[str, Any] | None = None  # explain_change JSON for the focus KPI
    notes: dict[str, str] = field(default_factory=dict)  # panel -> why it is empty or partial
    source: dict[str, Any] = field(default_factory=dict)  # where values came from (history run, warehouse)
    health: dict[str, dict] = field(default_factory=dict)  # model -> data checks and freshness (health_feed)
    # inputs left for the page's second request (collect part "first"): "why", "funnels"; their panels say so
    pending: list[str] = field(default_factory=list)

    @property
    def funnel_windows(self) -> dict:
        """KPI -> (funnel, window seconds) for funnel cohort KPIs (see kpiengine.dashboard.maturity)."""
        if not hasattr(self, "_windows"):
            self._windows = funnel_windows(self.project)
        return self._windows
