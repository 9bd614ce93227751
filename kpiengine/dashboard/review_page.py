"""The Review view as one printable HTML page: ``kpi report --review``, ``kpi review --format html``, ``/review``.

Rendered on the server from the review document (no script, no request, a
Content-Security-Policy of ``default-src 'none'``), so the file mailed before
the meeting prints as it shows. Every piece of spec text is HTML-escaped.

Sections, in the meeting's order: the KPI tree (each KPI's status, attainment,
driver share and suggested decision), the evidence per KPI, what fell short,
the decisions of the window, the spec diff since the last review, retired KPIs.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from html import escape

from ..spec.model import GRAINS
from .formatting import format_value
from .options import DashboardError
from .report import static_text

_PLACEHOLDER = re.compile(r"/\*__(CSS)__\*/|__(TITLE|WINDOW|NAV|BODY)__")


def _e(text) -> str:
    return escape("" if text is None else str(text), quote=True)


_CJK = re.compile("([\u3400-\u9fff\uf900-\ufaff]+)")


def _label(text) -> str:
    """Spec text for the page body: escaped, each CJK run marked lang="zh" (screen readers, font choice)."""
    return _CJK.sub(r'<span lang="zh">\1</span>', _e(text))


def _pct(x, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.0%}" if signed else f"{x:.0%}"


def _badge(word: str | None) -> str:
    return f'<span class="badge {_e(word)}">{_e(word)}</span>' if word else ""


def sparkline(values, target=None, width: int = 120, height: int = 28) -> str:
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return ""
    ys = [v for _, v in points] + ([target] if target is not None else [])
    lo, hi = min(ys), max(ys)
    span = (hi - lo) or 1.0
    n = max(1, len(values) - 1)

    def xy(i, v):
        return f"{2 + i * (width - 4) / n:.1f},{height - 2 - (v - lo) * (height - 4) / span:.1f}"

    line = " ".join(xy(i, v) for i, v in points)
    extra = ""
    if target is not None:
        y = height - 2 - (target - lo) * (height - 4) / span
        extra = f'<line class="target" x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}"/>'
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="trend">{extra}<polyline points="{line}"/></svg>')


def _attainment(kr) -> str:
    judged = [a for a in kr.attainment if a.attainment is not None]
    if not judged:
        return '<span class="muted">no target</span>'
    last = judged[-1]
    cls = "met" if last.met else "short"
    word = "met" if last.met else "short"
    part = " (partial)" if last.partial else ""
    return (f'<span class="{cls}">{_e(last.period)}: {_pct(last.attainment)} {word}{part}</span> '
            f'<span class="muted">{_e(format_value(last.value, kr.unit))} vs {_e(format_value(last.target, kr.unit))}'
            f'</span>')


def _driver(kr, parent: str | None = None) -> str:
    shares = [s for s in kr.drivers if s.direct and (parent is None or s.outcome == parent)]
    if not shares:
        return ""
    s = max(shares, key=lambda x: x.weight or 0.0)
    return f"moves {_pct(s.weight)} of {_e(s.outcome)}, nets {_pct(s.share)} of its change"


def _node(doc, name: str, parent: str | None, seen: frozenset) -> str:
    review = doc.review
    kr = next((k for k in review.kpis if k.name == name), None)
    if kr is None:
        return f'<li class="node"><span class="name">{_e(name)}</span></li>'
    facts = [_attainment(kr), _driver(kr, parent)]
    suggestion = kr.suggestion.decision if kr.suggestion else None
    children = "".join(_node(doc, child, name, seen | {name}) for child in kr.inputs if child not in seen)
    return (f'<li class="node" data-kpi="{_e(name)}"><span class="name">{_e(name)}</span> '
            f'<span class="label">{_label(kr.label)}</span> {_badge(kr.status)} '
            f'<span class="facts">{" · ".join(f for f in facts if f)}</span> '
            f'{"→ " + _badge(suggestion) if suggestion and suggestion != "keep" else ""}'
            f'{"<ul>" + children + "</ul>" if children else ""}</li>')


def _tree(doc) -> str:
    review = doc.review
    placed: set[str] = set()

    def mark(name, seen=frozenset()):
        placed.add(name)
        kr = next((k for k in review.kpis if k.name == name), None)
        for child in (kr.inputs if kr else []):
            if child not in seen:
                mark(child, seen | {name})

    for o in review.outcomes:
        mark(o)
    roots = "".join(_node(doc, o, None, frozenset()) for o in review.outcomes)
    others = [k.name for k in review.kpis if k.name not in placed]
    rest = "".join(_node(doc, n, None, frozenset()) for n in others
                   if not any(n in k.inputs for k in review.kpis if k.name in others))
    return (f'<section id="tree"><h2>The KPI tree</h2><ul class="tree">{roots}</ul>'
            + (f'<h3>Other KPIs</h3><ul class="tree">{rest}</ul>' if rest else "") + "</section>")


def _alerts(kr) -> str:
    a = kr.alerts
    if a is None:
        return '<span class="muted">no rules</span>'
    if not a.fired:
        return f"0 fired ({len(a.rules)} rule{'s' if len(a.rules) != 1 else ''})"
    hours = f", open {a.mean_open_periods:.1f} periods on average" if a.mean_open_periods is not None else ""
    return (f"{a.fired} fired ({a.critical} critical), {a.still_open} still open{hours}; "
            f"{a.acted_on} acted on, {a.silenced} silenced")


def _lead(kr) -> str:
    if not kr.lead_lag:
        return "—"
    best = max(kr.lead_lag, key=lambda x: abs(x.r))
    sig = "significant" if best.significant else "not significant"
    when = f"{best.lag} period(s) ahead of" if best.lag else "with"
    return f"moves {when} {_e(best.outcome)}: r = {best.r:+.2f} ({sig}, p = {best.p:.2f})"


def _evidence(doc) -> str:
    rows = []
    for kr in doc.review.kpis:
        target = next((a.target for a in reversed(kr.attainment) if a.target is not None and not a.by), None)
        health = kr.data_health
        health_text = "—" if health is None else (
            f"last value {health.last_period or 'never'}" + (" (stale)" if health.stale else "")
            + (f"; {health.failed_runs} failed run(s)" if health.failed_runs else ""))
        s = kr.suggestion
        rows.append(
            f'<tr data-kpi="{_e(kr.name)}"><td><b>{_e(kr.name)}</b><br><span class="muted">{_label(kr.label)}</span>'
            f'<br>{_badge(kr.status)}</td>'
            f"<td>{_attainment(kr)}</td>"
            f'<td class="num">{sparkline(kr.values, target)}<br>{_pct(kr.trend.pct_change, True)} '
            f'<span class="muted">vol. {_pct(kr.trend.volatility)}</span></td>'
            f"<td>{_driver(kr) or '—'}<br><span class='muted'>{_lead(kr)}</span></td>"
            f"<td>{_alerts(kr)}</td><td>{_e(health_text)}</td>"
            f'<td>{_badge(s.decision if s else None)} <span class="reason">{_e(s.reason if s else "")}</span>'
            f'{"<br><span class=muted>where: " + _e(kr.where) + "</span>" if kr.where else ""}</td></tr>')
    return ('<section id="evidence"><h2>Evidence per KPI</h2><table class="evidence"><thead><tr><th>KPI</th>'
            '<th>attainment (latest target period)</th><th class="num">trend</th><th>driver share, lead/lag</th>'
            '<th>alerts</th><th>data health</th><th>suggested decision</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _shortfalls(doc) -> str:
    rows = []
    for kr in doc.review.kpis:
        for a in kr.attainment:
            for d in a.by:
                dims = ", ".join(f"{k}={v}" for k, v in d.dimensions.items())
                cls = "met" if d.met else "short"
                rows.append(f'<tr class="{cls}"><td>{_e(kr.name)}</td><td>{_e(a.period)}'
                            f'{" (partial)" if a.partial else ""}</td><td>{_e(dims)}</td>'
                            f'<td class="num">{_e(format_value(d.value, kr.unit))}</td>'
                            f'<td class="num">{_e(format_value(d.target, kr.unit))}</td>'
                            f'<td class="num">{_pct(d.attainment)}</td><td>{"met" if d.met else "short"}</td></tr>')
    if not rows:
        return ""
    return ('<section id="attainment"><h2>Targets set in advance, per dimension value</h2><table><thead><tr>'
            '<th>KPI</th><th>period</th><th>value of</th><th class="num">actual</th><th class="num">target</th>'
            '<th class="num">attainment</th><th></th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>")


def _decisions(doc) -> str:
    items = doc.review.decisions
    body = "".join(f"<tr><td>{_e(d['date'])}</td><td>{_e(d['kpi'])}</td><td>{_badge(d['decision'])}</td>"
                   f"<td>{_e(d['reason'])}</td><td>{_e(d.get('by') or '')}</td></tr>" for d in items)
    empty = '<p class="note">no decision was recorded in this window</p>'
    return ('<section id="decisions"><h2>Decisions of the window</h2>'
            + (f"<table><thead><tr><th>date</th><th>KPI</th><th>decision</th><th>reason</th><th>by</th></tr></thead>"
               f"<tbody>{body}</tbody></table>" if items else empty) + "</section>")


def _diff(doc) -> str:
    title = "Spec changes since the last review" + (f" ({doc.last_review})" if doc.last_review else "")
    if doc.diff is None:
        return f'<section id="diff"><h2>{_e(title)}</h2><p class="note">{_e(doc.diff_note)}</p></section>'
    if doc.diff.empty:
        return f'<section id="diff"><h2>{_e(title)}</h2><p class="note">no KPI or rule changed</p></section>'
    rows = []
    for c in doc.diff.kpis + doc.diff.rules:
        what = "; ".join(f"{f.field}: {_short(f.before)} → {_short(f.after)}" if f.kind != "review"
                         else f"{len(f.after)} decision(s) recorded" for f in c.fields)
        rows.append(f"<tr><td>{_e(c.name)}</td><td>{'rule' if c.kpi else 'KPI'}</td><td>{_badge(c.change)}</td>"
                    f"<td>{_e(what)}</td></tr>")
    return (f'<section id="diff"><h2>{_e(title)}</h2><table><thead><tr><th>name</th><th>kind</th><th>change</th>'
            f'<th>what changed</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _short(value) -> str:
    text = "(none)" if value is None else str(value).strip().replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _retired(doc) -> str:
    if not doc.review.retired:
        return ""
    items = "".join(f"<li><b>{_e(r['kpi'])}</b> {_label(r['label'])}"
                    f"{' since ' + _e(r['since']) if r['since'] else ''}"
                    f"{' — ' + _e(r['last_decision']['reason']) if r['last_decision'] else ''}</li>"
                    for r in doc.review.retired)
    return (f'<section id="retired"><h2>Retired KPIs</h2><p class="note">computed for history, not alerted, '
            f'not on the main view</p><ul>{items}</ul></section>')


def review_window(query: dict, today: date | None = None) -> tuple[date, date, str]:
    """(from, to, grain) of a /review request; default: from the start of the previous quarter to today."""
    today = today or date.today()
    grain = query.get("grain") or "week"
    if grain not in GRAINS:
        raise DashboardError(f"option 'grain': {grain!r} is not a grain; use one of {', '.join(GRAINS)}", "grain")
    try:
        start = date.fromisoformat(query["from"]) if query.get("from") else None
        end = date.fromisoformat(query["to"]) if query.get("to") else today
    except ValueError as exc:
        raise DashboardError(f"option 'from'/'to': {exc}; write YYYY-MM-DD", "from") from None
    if start is None:
        quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        start = date(quarter.year - (quarter.month == 1), (quarter.month - 4) % 12 + 1, 1)
    return start, end, grain


def review_nav(start: date, end: date, grain: str) -> str:
    """The live page's window form (a plain GET form: the page needs no script)."""
    options = "".join(f'<option{" selected" if g == grain else ""}>{g}</option>' for g in GRAINS)
    return ('<nav><a href="/">dashboard</a><form method="get" action="/review" class="window-form">'
            f'<label>from <input type="date" name="from" value="{start.isoformat()}"></label> '
            f'<label>to <input type="date" name="to" value="{end.isoformat()}"></label> '
            f'<label>by <select name="grain">{options}</select></label> <button type="submit">review</button>'
            '</form></nav>')


def render_review_page(project, doc, *, nav: str = "") -> str:
    """The whole page for one review document (:class:`~kpiengine.dashboard.review_feed.ReviewDocument`)."""
    review = doc.review
    window = (f"{review.start} to {review.end} (exclusive), by {review.grain}: {len(review.periods)} periods, "
              f"{review.periods[0]} to {review.periods[-1]}; outcomes: {', '.join(review.outcomes) or 'none'}; "
              f"generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in review.notes)
    body = _tree(doc) + _evidence(doc) + _shortfalls(doc) + _decisions(doc) + _diff(doc) + _retired(doc) + notes
    values = {"TITLE": _e(f"{project.name} — KPI review"), "CSS": static_text("review.css"),
              "WINDOW": _e(window), "NAV": nav, "BODY": body}
    # one pass, so text inside an inserted value is never substituted again
    return _PLACEHOLDER.sub(lambda m: values[m.group(1) or m.group(2)], static_text("review.html"))
