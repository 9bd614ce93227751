"""The terminal form of a review: one line per KPI, then what the meeting must look at.

The order is the meeting's: what was promised (targets) and what happened
(attainment, trend), what drove it (driver share, lead/lag), what the alerts
did, and what to change (the suggested decision and its reason).
"""
from __future__ import annotations

from ..formatting import format_value, render_table


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.0%}" if signed else f"{x:.0%}"


def attainment_cell(kr) -> str:
    complete = [a for a in kr.attainment if a.attainment is not None]
    if not complete:
        return "no target"
    last = complete[-1]
    mark = "met" if last.met else "short"
    return f"{last.period} {_pct(last.attainment)} {mark}" + (" (partial)" if last.partial else "")


def driver_cell(kr) -> str:
    direct = [s for s in kr.drivers if s.direct and s.weight is not None]
    if not direct:
        return "—"
    best = max(direct, key=lambda s: s.weight)
    return f"{_pct(best.weight)} of {best.outcome}"


def lead_cell(kr) -> str:
    if not kr.lead_lag:
        return "—"
    best = max(kr.lead_lag, key=lambda x: abs(x.r))
    star = "*" if best.significant else ""
    return f"{best.outcome} r={best.r:+.2f}{star}" + (f" lag {best.lag}" if best.lag else "")


def alerts_cell(kr) -> str:
    a = kr.alerts
    if a is None:
        return "no rules"
    if not a.fired:
        return "0 fired"
    return f"{a.fired} fired, {a.still_open} open, {a.acted_on} acted, {a.silenced} silenced"


def review_table(review) -> str:
    lines = [f"Review of {review.project}: {review.start} to {review.end} (exclusive), by {review.grain}; "
             f"{len(review.periods)} periods from {review.periods[0]} to {review.periods[-1]}, "
             f"base {review.base}",
             f"outcomes: {', '.join(review.outcomes) or 'none (tag KPIs with `tags: [outcome]`)'}", ""]
    rows = []
    for kr in review.kpis:
        rows.append([kr.name, kr.status, attainment_cell(kr), _pct(kr.trend.pct_change, signed=True),
                     _pct(kr.trend.volatility), driver_cell(kr), lead_cell(kr), alerts_cell(kr),
                     kr.suggestion.decision if kr.suggestion else "—"])
    lines.append(render_table(["kpi", "status", "attainment", "trend", "volatility", "driver share",
                               "lead/lag", "alerts", "suggested"], rows,
                              [False, False, False, True, True, False, False, False, False]))
    lines += ["", "Suggested decisions (accept or override with kpi review --decide KPI=DECISION --reason ...):"]
    for kr in review.kpis:
        if kr.suggestion and (kr.suggestion.decision != "keep" or kr.suggestion.drives):
            lines.append(f"  {kr.name}: {kr.suggestion.decision} — {kr.suggestion.reason}")
            if kr.where:
                lines.append(f"    where: {kr.where}")
    short = [(kr, a) for kr in review.kpis for a in kr.attainment if a.short]
    if short:
        lines += ["", "Fell short of the target set in advance:"]
        for kr, a in short:
            who = ", ".join(f"{'/'.join(f'{k}={v}' for k, v in d.dimensions.items())} "
                            f"{format_value(d.value, kr.unit)} vs {format_value(d.target, kr.unit)}"
                            for d in a.short)
            lines.append(f"  {kr.name} {a.period}{' (partial)' if a.partial else ''}: {who}")
    stale = [kr for kr in review.kpis if kr.data_health and (kr.data_health.stale or kr.data_health.failed_runs)]
    if stale:
        lines += ["", "Data health:"]
        for kr in stale:
            h = kr.data_health
            lines.append(f"  {kr.name}: last value {h.last_period or 'never'}"
                         + (f", {h.failed_runs} failed run(s): {h.last_error}" if h.failed_runs else ""))
    if review.decisions:
        lines += ["", "Decisions recorded in the window:"]
        for d in review.decisions:
            lines.append(f"  {d['date']} {d['kpi']}: {d['decision']} — {d['reason']}"
                         + (f" ({d['by']})" if d.get("by") else ""))
    if review.retired:
        lines += ["", "Retired (computed for history, not alerted): "
                  + ", ".join(f"{r['kpi']}{' since ' + str(r['since']) if r['since'] else ''}"
                              for r in review.retired)]
    for note in review.notes:
        lines.append(f"note: {note}")
    lines.append("")
    lines.append("* lead/lag significant at 5 % (Bonferroni over the lags tried)")
    return "\n".join(lines)


def short_review_notes(doc) -> str:
    """The diff since the last review, in a few lines (the full one is ``kpi diff``)."""
    title = f"\n\nSpec changes since the last review{' (' + str(doc.last_review) + ')' if doc.last_review else ''}:"
    if doc.diff is None:
        return f"{title}\n  {doc.diff_note}"
    if doc.diff.empty:
        return f"{title}\n  none"
    lines = [f"  {c.name}: {c.change} ({', '.join(sorted(c.kinds())) or c.change})" for c in doc.diff.kpis]
    lines += [f"  rule {c.name}: {c.change}" for c in doc.diff.rules]
    return title + "\n" + "\n".join(lines)
