"""What the viewer asked for: grain, breakdown, period, date range, focus KPI, bubble axes.

The same options come from the command line (``kpi report``) and from the
query string of ``kpi serve``; both go through :func:`parse_options`, so a bad
value gives the same clear message in both places instead of a traceback.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date

from ..analysis.funnels import parse_duration
from ..errors import KpiEngineError
from ..spec.dimensions import check_where, known_dimensions, supports
from ..spec.entities import where_dimensions
from ..spec.model import GRAINS, Project

# Bubble chart defaults: the brief's "squeeze the bubbles" chart of visits vs conversion.
BUBBLE_X = ("visits", "visit_count", "activities")
BUBBLE_Y = ("conversion", "visit_to_deal", "win_rate")
BUBBLE_SIZE = ("revenue", "deals_won", "deals")
BUBBLE_BY = ("rep", "owner", "team", "region")
_OPTION_IN_MESSAGE = re.compile(r"option '(\w+)'")


class DashboardError(KpiEngineError):
    """A dashboard option is invalid; the message names the option and the accepted values.

    ``option`` names the offending option, so the live page can show the error and
    reload with that option at its default instead of leaving empty panels.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        named = _OPTION_IN_MESSAGE.match(message)
        self.option = option or (named.group(1) if named else None)


@dataclass
class DashboardOptions:
    grain: str = "week"
    by: str | None = None  # one breakdown dimension for tiles, funnel and trends
    period: date | None = None  # start of the "current" period; default: latest with data
    compare: date | None = None  # period to compare with; default: the one before `period`
    start: date | None = None  # inclusive
    end: date | None = None  # exclusive
    kpi: str | None = None  # focus KPI for "why it changed"
    node: str | None = None  # selected process node
    funnel: str | None = None
    # The funnel panel counts like the funnel's KPIs on the tiles (the spec's `view:`), so the
    # page shows one number per stage; the maturing cohorts are marked, event view is one click.
    funnel_view: str | None = None  # event | cohort; None: the funnel's own `view:` (cohort by default)
    funnel_window: float | None = None  # seconds; None: the funnel's own `window:`
    segment: dict = field(default_factory=dict)  # filter every panel to these dimension values
    # A query filter over dimension names, as `kpi run --where` takes it (checked by parse_where):
    # every panel is computed on the warehouse with it, since history holds unfiltered values only.
    where: str | None = None
    top: int = 5  # breakdown rows per KPI: the N largest and the N worst movers ("show all" for the rest)
    bubble_by: str | None = None
    bubble_x: str | None = None
    bubble_y: str | None = None
    bubble_size: str | None = None
    spark_periods: int = 12
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("period", "compare", "start", "end"):
            out[key] = out[key].isoformat() if out[key] else None
        out.pop("extra")
        out["segment"] = dict(self.segment)
        out["filter"] = segment_text(self.segment)
        return out


NULL_TEXT = "∅"  # how a NULL dimension value is written in a filter and shown on the page


def segment_text(segment: dict) -> str:
    return ",".join(f"{d}={NULL_TEXT if v is None else v}" for d, v in segment.items())


def parse_segment(project: Project, text: str | None) -> dict:
    """``region=east`` (or ``region:east``, several joined by commas) -> {"region": "east"}; ∅ is NULL."""
    segment: dict = {}
    dims = project_dimensions(project)
    for part in [p for p in (text or "").split(",") if p.strip()]:
        sep = "=" if "=" in part else ":" if ":" in part else None
        if sep is None:
            raise DashboardError(f"option 'filter': {part!r} is not dimension=value; write it as region=east",
                                 "filter")
        dim, value = (x.strip() for x in part.split(sep, 1))
        if dim not in dims:
            raise DashboardError(f"option 'filter': {dim!r} is not a dimension; use one of {', '.join(dims)}",
                                 "filter")
        segment[dim] = None if value == NULL_TEXT else value
    return segment


def parse_where(project: Project, text: str | None) -> str | None:
    """``region = 'east' AND rep.team IN ('a', 'b')``: the allow-list and the dimensions of ``kpi run --where``.

    Raises DashboardError naming the option, the problem and a hint, so the page shows it
    and renders with no filter instead of empty panels.
    """
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    issues = check_where(project, [], text, what="option 'where'")
    if not issues:
        dims = where_dimensions(text, "duckdb")
        unknown = [d for d in dims if d not in known_dimensions(project)
                   and not any(supports(project, k, [d]) for k in project.kpis)]
        if unknown:
            known = known_dimensions(project)
            raise DashboardError(f"option 'where': {unknown[0]!r} is not a dimension any KPI can be filtered by; "
                                 f"use one of {', '.join(known[:20])}" + ("…" if len(known) > 20 else ""), "where")
        return text
    issue = issues[0]
    message = issue.message.replace("option 'where': option 'where'", "option 'where'")
    raise DashboardError(message + (f" (hint: {issue.hint})" if issue.hint else ""), "where")


def _date(name: str, text) -> date | None:
    if text in (None, ""):
        return None
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise DashboardError(f"option '{name}': {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-02") from None


def project_dimensions(project: Project) -> list[str]:
    """Every dimension any model declares, in first-seen order."""
    dims: list[str] = []
    for model in project.models.values():
        for name in model.dimensions:
            if name not in dims:
                dims.append(name)
    return dims


def _pick(project: Project, wanted: str | None, candidates: tuple[str, ...], option: str) -> str | None:
    if wanted:
        if wanted not in project.kpis:
            raise DashboardError(f"option '{option}': unknown KPI {wanted!r}; known KPIs: {', '.join(sorted(project.kpis))}")
        return wanted
    return next((c for c in candidates if c in project.kpis), None)


def default_breakdown(project: Project) -> str | None:
    """The spec's main breakdown: the dimension KPIs list first in ``dimensions:`` most often.

    The demo's KPIs all list ``region`` first, so the dashboard opens by region,
    where the planted drop is. A spec without declared breakdowns opens on totals.
    """
    firsts: dict[str, int] = {}
    for spec in project.kpis.values():
        if spec.dimensions:
            firsts[spec.dimensions[0]] = firsts.get(spec.dimensions[0], 0) + 1
    if not firsts:
        return None
    best = max(firsts.values())
    return next(d for d, n in firsts.items() if n == best)


def parse_options(project: Project, raw: dict) -> DashboardOptions:
    """Check raw options (strings from a query string or the CLI) against the project."""
    raw = {k: v for k, v in raw.items() if v not in (None, "")}
    grain = str(raw.get("grain", "week"))
    if grain not in GRAINS:
        raise DashboardError(f"option 'grain': {grain!r} is not a grain; use one of {', '.join(GRAINS)}")
    dims = project_dimensions(project)
    by = raw.get("by") if "by" in raw else default_breakdown(project)
    if by in ("none", "total"):
        by = None
    if by is not None and by not in dims:
        raise DashboardError(f"option 'by': {by!r} is not a dimension of any model; "
                             f"use one of {', '.join(dims) or '(none declared)'}")
    bubble_by = raw.get("bubble_by")
    if bubble_by is not None and bubble_by not in dims:
        raise DashboardError(f"option 'bubble_by': {bubble_by!r} is not a dimension; use one of {', '.join(dims)}")
    if bubble_by is None:
        bubble_by = next((d for d in BUBBLE_BY if d in dims), dims[0] if dims else None)
    kpi = raw.get("kpi")
    if kpi is not None and kpi not in project.kpis:
        raise DashboardError(f"option 'kpi': unknown KPI {kpi!r}; known KPIs: {', '.join(sorted(project.kpis))}")
    node = raw.get("node")
    if node is not None and node not in project.process:
        raise DashboardError(f"option 'node': unknown process node {node!r}; known: {', '.join(project.process)}")
    start, end = _date("start", raw.get("start")), _date("end", raw.get("end"))
    if start and end and end <= start:
        raise DashboardError(f"option 'end' ({end}) must be after 'start' ({start}); 'end' is exclusive")
    try:
        spark = int(raw.get("spark_periods", 12))
    except (TypeError, ValueError):
        raise DashboardError(f"option 'spark_periods': {raw.get('spark_periods')!r} is not a whole number") from None
    if not 2 <= spark <= 400:
        raise DashboardError("option 'spark_periods': use a number from 2 to 400")
    funnel = raw.get("funnel")
    if funnel is not None and funnel not in (project.section("funnels", {})):
        raise DashboardError(f"option 'funnel': unknown funnel {funnel!r}; known: {', '.join(project.section('funnels', {})) or '(none)'}")
    funnel_view = raw.get("funnel_view")
    if funnel_view is not None and funnel_view not in ("event", "cohort"):
        raise DashboardError(f"option 'funnel_view': {funnel_view!r}; use event (steps counted when they happen) "
                             "or cohort (steps counted in the period the entity entered)")
    window = raw.get("funnel_window")
    if window is not None:
        try:
            window = parse_duration(window)
        except ValueError:
            raise DashboardError(f"option 'funnel_window': {window!r} is not a duration; write 30d, 12h or 2w") from None
        if window <= 0:
            raise DashboardError("option 'funnel_window': use a positive duration such as 30d")
    try:
        top = int(raw.get("top", 5))
    except (TypeError, ValueError):
        raise DashboardError(f"option 'top': {raw.get('top')!r} is not a whole number") from None
    if not 1 <= top <= 100:
        raise DashboardError("option 'top': use a number from 1 to 100")
    return DashboardOptions(
        grain=grain, by=by, period=_date("period", raw.get("period")), compare=_date("compare", raw.get("compare")),
        start=start, end=end, kpi=kpi, node=node, funnel=funnel, funnel_view=funnel_view, bubble_by=bubble_by,
        bubble_x=_pick(project, raw.get("bubble_x"), BUBBLE_X, "bubble_x"),
        bubble_y=_pick(project, raw.get("bubble_y"), BUBBLE_Y, "bubble_y"),
        bubble_size=_pick(project, raw.get("bubble_size"), BUBBLE_SIZE, "bubble_size"),
        spark_periods=spark, funnel_window=window, segment=parse_segment(project, raw.get("filter")), top=top,
        where=parse_where(project, raw.get("where")),
    )
