"""The JSON behind each dashboard view, built by pure functions from :class:`DashboardInputs`.

One function per view (process map, attention list, funnel, trends, team
bubbles, why-it-changed, alerts) plus :func:`build_dashboard` for all of them.
Nothing here touches a database: :mod:`kpiengine.dashboard.collect` gathers the
inputs, so every number shown can be checked against hand-computed values.
A view whose inputs are missing returns ``{"empty": True, "reason": ...}`` so the
page can say why a panel is blank instead of showing nothing.
"""
from __future__ import annotations

import math
import statistics
from datetime import date

from sqlglot import exp

from ..spec.formula import inputs as formula_reads
from ..spec.formula import parse_formula
from ..spec.model import GRAINS
from . import maturity
from .counting import step_twins, tile_counting
from .options import segment_text
from .formatting import change, format_short, format_value, severity_of_change, tone
from .health_feed import kpi_health
from .inputs import AlertRecord, DashboardInputs
from .options import project_dimensions
from .values import DimKey, ValueTable, dim_key

STATUS_RANK = {"firing": 3, "pending": 2, "silenced": 1, "ok": 0}
UNASSIGNED = "_other"
MAX_SERIES = 8  # lines per trend chart: more than this is a hairball
# A bad move worth a manager's attention: 3% of a total (or 0.6 pp of a rate), or a
# segment moving the total that much (see segment_weights). Smaller moves are noise here.
NOTABLE = 0.03


# -- periods -------------------------------------------------------------------

def period_label(period: date | None, grain: str) -> str:
    if period is None:
        return "—"
    if grain == "week":
        year, week, _ = period.isocalendar()
        return f"{year}-W{week:02d} ({period:%b} {period.day})"
    if grain == "month":
        return f"{period:%Y-%m}"
    if grain == "quarter":
        return f"{period.year}-Q{(period.month - 1) // 3 + 1}"
    if grain == "year":
        return str(period.year)
    return period.isoformat()


def axis_label(period: date, grain: str) -> str:
    """A short label that still carries the year: 2026-W44, 2026-10-26, 2026-10."""
    if grain == "week":
        year, week, _ = period.isocalendar()
        return f"{year}-W{week:02d}"
    return period_label(period, grain)


def filter_options(inputs: DashboardInputs) -> list[dict]:
    """The segments the page offers to filter to: the values of the breakdown shown, and the active filter."""
    out = []
    if inputs.options.segment:
        text = segment_text(inputs.options.segment)
        out.append({"value": text, "label": text.replace("=", " = ").replace(",", ", ")})
    by = inputs.options.by
    table = inputs.breakdown
    if by and table:
        values = sorted({dict(k).get(by) for kpi in table.kpis for k in table.keys(kpi) if k}, key=lambda v: (v is None, str(v)))
        for v in values:
            text = segment_text(dict(inputs.options.segment, **{by: v}))
            if all(o["value"] != text for o in out):
                out.append({"value": text, "label": text.replace("=", " = ").replace(",", ", ")})
    return out


def chosen_periods(inputs: DashboardInputs) -> tuple[date | None, date | None]:
    """The current period (asked for, or the latest with data) and the one it is compared with."""
    table = inputs.totals
    # by default the last period the data covers completely: a partial week is never the headline
    wanted = inputs.options.period or table.last_complete_period()
    current = table.period_at_or_before(wanted)
    compare = inputs.options.compare
    previous = compare if compare in table.periods and compare != current else table.period_before(current)
    return current, previous


# -- alert status -------------------------------------------------------------------

def _matches(record: AlertRecord, kpi: str, dimensions: dict | None) -> bool:
    if record.kpi != kpi:
        return False
    if dimensions is None:  # a KPI's tile: any of its alerts counts
        return True
    if not record.dimensions:
        return False
    return all(record.dimensions.get(d) == v for d, v in dimensions.items() if d in record.dimensions) and \
        any(d in record.dimensions for d in dimensions)


def alert_status(inputs: DashboardInputs, kpi: str, dimensions: dict | None = None) -> str:
    """ok, pending, firing or silenced: the worst state among the KPI's matching alerts."""
    best = "ok"
    for record in inputs.alerts.active:
        if record.where or not _matches(record, kpi, dimensions):
            continue  # a filtered rule judged other values than the tile's
        state = "silenced" if record.silenced and record.state in ("firing", "pending") else record.state
        if state in STATUS_RANK and STATUS_RANK[state] > STATUS_RANK[best]:
            best = state
    return best


# -- process map ----------------------------------------------------------------------

def _dims_text(key: DimKey) -> str:
    return ", ".join("∅" if v is None else str(v) for _, v in key) or "total"


def ratio_parts(spec) -> tuple[str, str] | None:
    """(numerator, denominator) KPI names when a formula is exactly ``a / b``."""
    if not spec.formula:
        return None


    try:
        tree = parse_formula(spec.formula)
    except Exception:  # the spec validator reports bad formulas; here it just means "not a ratio"
        return None
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.Div) and isinstance(tree.this, exp.Column) and isinstance(tree.expression, exp.Column):
        return tree.this.name, tree.expression.name
    return None


ADDITIVE = ("count", "count_distinct", "sum")


def volume_kpi(project, kpi: str) -> str | None:
    """The KPI measuring a segment's weight: itself for counts and sums, the denominator of a ratio."""
    spec = project.kpis[kpi]
    if not spec.is_formula and spec.aggregate in ADDITIVE:
        return kpi
    parts = ratio_parts(spec)
    return parts[1] if parts else None


COUNTS = ("count", "count_distinct")


def confidence(project, table: ValueTable, kpi: str, key, current, previous) -> float:
    """How sure we are that a move is more than chance, from 0 to 1 (1 from three standard errors on).

    Counts are treated as Poisson (z = |c - p| / sqrt(c + p)); a ratio of two
    counts (conversion = deals_won / visits) gets the two-proportion z-test.
    Other KPIs carry no sample size here and keep full weight. A rep going
    from 2 lost deals to 8 (z = 1.9) is damped; a region losing 60 % of its
    deals (z > 5) is not.
    """
    spec = project.kpis[kpi]
    if not spec.is_formula and spec.aggregate in COUNTS:
        c, p = table.get(kpi, current, key), table.get(kpi, previous, key)
        if c is None or p is None or c + p <= 0:
            return 1.0
        return min(1.0, abs(c - p) / math.sqrt(c + p) / 3.0)
    parts = ratio_parts(spec)
    if parts and all(n in project.kpis and not project.kpis[n].is_formula and project.kpis[n].aggregate in COUNTS
                     for n in parts):
        a1, b1 = table.get(parts[0], current, key), table.get(parts[1], current, key)
        a0, b0 = table.get(parts[0], previous, key), table.get(parts[1], previous, key)
        if None in (a0, a1, b0, b1) or b0 <= 0 or b1 <= 0:
            return 1.0
        pooled = (a0 + a1) / (b0 + b1)
        se = math.sqrt(pooled * (1 - pooled) * (1 / b0 + 1 / b1)) if 0 < pooled < 1 else 0.0
        return 1.0 if se == 0 else min(1.0, abs(a1 / b1 - a0 / b0) / se / 3.0)
    return 1.0


def segment_weights(inputs: DashboardInputs, kpi: str, keys: list[DimKey], current, previous) -> dict:
    """Each segment's share of the volume behind a KPI (both periods), to rank moves by their impact.

    A rep going from 2 lost deals to 8 is +300% but barely moves the business;
    weighting the change by the segment's share of the volume ranks the planted
    regional drop above such noise. KPIs with no volume measure weigh equally.
    """
    table = inputs.breakdown
    vol = volume_kpi(inputs.project, kpi)
    sizes = {}
    if vol and table.has(vol):
        for key in keys:
            sizes[key] = abs(table.get(vol, current, key) or 0.0) + abs(table.get(vol, previous, key) or 0.0)
    total = sum(sizes.values())
    if not total:
        return {key: 1.0 / len(keys) for key in keys} if keys else {}
    return {key: sizes[key] / total for key in keys}


def value_state(inputs: DashboardInputs, table: ValueTable | None, kpi: str, period, key=()) -> str | None:
    """None for a final value; ``partial`` or ``maturing`` for one that can still change."""
    last = inputs.totals.periods[-1] if inputs.totals.periods else None
    return maturity.value_state(inputs.funnel_windows, table, kpi, period, key, inputs.options.grain, last)


def breakdown_rows(inputs: DashboardInputs, kpi: str, current, previous) -> list[dict]:
    """Every breakdown value of a KPI, worst first (alerts, then weighted bad moves), then the rest by name.

    Without sparklines: only the rows a tile shows draw one (``with_sparks``); by rep and day the
    2,000 rows' series were a third of the views' time.
    """
    table = inputs.breakdown
    if not table or not table.has(kpi):
        return []
    spec = inputs.project.kpis[kpi]
    keys = [k for k in table.keys(kpi) if k]
    weights = segment_weights(inputs, kpi, keys, current, previous)
    additive = volume_kpi(inputs.project, kpi) == kpi
    rows = []
    for key in keys:
        value, prev = table.get(kpi, current, key), table.get(kpi, previous, key)
        delta = change(value, prev, spec.unit)
        state = value_state(inputs, table, kpi, current, key) or value_state(inputs, table, kpi, previous, key)
        dims = dict(key)
        rows.append({
            "name": _dims_text(key), "dimensions": dims,
            "value": value, "display": format_value(value, spec.unit, spec.format),
            "previous": prev, "previous_display": format_value(prev, spec.unit, spec.format),
            "change": delta, "tone": "flat" if state else tone(delta, spec.direction, spec.unit), "state": state,
            "status": alert_status(inputs, kpi, dims),
            "weight": weights.get(key, 0.0),
            "magnitude": 0.0 if state else severity_of_change(delta, spec.unit) * weights.get(key, 0.0)
            * confidence(inputs.project, table, kpi, key, current, previous),
            "additive": additive,
        })
    rows.sort(key=lambda r: (-STATUS_RANK[r["status"]], r["tone"] != "bad",
                             -r["magnitude"] if r["tone"] == "bad" else 0, r["name"]))
    for r in rows:
        r["notable"] = _notable(r)
    return rows


def with_sparks(inputs: DashboardInputs, kpi: str, rows: list[dict], current) -> list[dict]:
    """The rows with their sparklines (the periods of the tile's own), for the rows a tile shows."""
    periods = _spark_periods(inputs.totals, current, inputs.options.spark_periods)
    table = inputs.breakdown
    return [dict(r, spark=[v for _, v in table.series(kpi, dim_key(r["dimensions"]), periods)]) for r in rows]


def shown_rows(rows: list[dict], top: int) -> list[dict]:
    """The rows a tile shows: the ``top`` worst movers and the ``top`` largest segments, worst first.

    By rep a KPI has 60 rows; a manager reads the worst few and the big ones,
    and "show all" pages through the rest.
    """
    worst = [r for r in rows if r["status"] != "ok" or r["tone"] == "bad"][:top]
    largest = sorted(rows, key=lambda r: -r["weight"])[:top]
    keep = {id(r) for r in worst + largest}
    return [r for r in rows if id(r) in keep]


def _spark_periods(table: ValueTable, current: date | None, n: int) -> list[date]:
    upto = [p for p in table.periods if current is None or p <= current]
    return upto[-n:]


def _notable(row: dict) -> bool:
    return row["tone"] == "bad" and row["magnitude"] >= NOTABLE


def kpi_tile(inputs: DashboardInputs, kpi: str, current: date | None, previous: date | None) -> dict:
    """One KPI tile: current value, change vs previous period, sparkline, alert status, tone."""
    spec = inputs.project.kpis[kpi]
    table = inputs.totals
    value, prev = table.get(kpi, current), table.get(kpi, previous)
    delta = change(value, prev, spec.unit)
    state = value_state(inputs, table, kpi, current) or value_state(inputs, table, kpi, previous)
    spark_periods = _spark_periods(table, current, inputs.options.spark_periods)
    rows = breakdown_rows(inputs, kpi, current, previous)
    shown = with_sparks(inputs, kpi, shown_rows(rows, inputs.options.top), current)
    return {
        "kpi": kpi, "label": spec.label, "description": spec.description, "owner": spec.owner,
        "unit": spec.unit, "direction": spec.direction, "format": spec.format,
        "process": spec.process, "path": inputs.project.kpi_path(kpi), "playbook": spec.playbook,
        "formula": spec.formula, "target": spec.target if isinstance(spec.target, (int, float)) else None,
        **tile_counting(inputs, kpi),
        "value": value, "display": format_value(value, spec.unit, spec.format),
        "short": format_short(value, spec.unit, spec.format),
        "previous": prev, "previous_display": format_value(prev, spec.unit, spec.format),
        "change": delta, "tone": "flat" if state else tone(delta, spec.direction, spec.unit),
        "state": state, "state_text": maturity.STATE_TEXT.get(state),
        "health": kpi_health(inputs.project, inputs.health, kpi),
        "status": alert_status(inputs, kpi),
        "has_data": table.has(kpi),
        "spark": [v for _, v in table.series(kpi, None, spark_periods)],
        "breakdown": shown, "breakdown_total": len(rows),
        "magnitude": 0.0 if state else
        severity_of_change(delta, spec.unit) * confidence(inputs.project, table, kpi, (), current, previous),
        "worst": next(({k: r[k] for k in ("name", "display", "previous_display", "change", "status", "tone")}
                       for r in rows if r["status"] != "ok" or _notable(r)), None),
        "_rows": rows,
    }


def public(process: dict) -> dict:
    """The process view without the tiles' full breakdown rows (kept only for the attention ranking)."""
    tiles = {k: {f: v for f, v in t.items() if f != "_rows"} for k, t in process["tiles"].items()}
    return dict(process, tiles=tiles)


def process_view(inputs: DashboardInputs) -> dict:
    """The process tree (level 1, 2, 3...) with the KPI tiles measured at each node.

    Built once per set of inputs (the attention list, "why" and the page all read it).
    """
    stamp = (id(inputs.totals), id(inputs.breakdown), id(inputs.alerts), inputs.options.top)
    cached = inputs.__dict__.get("_process")
    if cached and cached[0] == stamp:
        return cached[1]
    view = _build_process(inputs)
    inputs.__dict__["_process"] = (stamp, view)
    return view


def main_view_kpis(project) -> list[str]:
    """The KPIs of the main view: all but the retired ones (computed for history; the Review lists them)."""
    return [k for k, s in project.kpis.items() if s.status != "retired"]


def _build_process(inputs: DashboardInputs) -> dict:
    project = inputs.project
    current, previous = chosen_periods(inputs)
    shown = main_view_kpis(project)
    tiles = {k: kpi_tile(inputs, k, current, previous) for k in shown}
    nodes: dict[str, dict] = {}
    for node in project.process.values():
        nodes[node.id] = {"id": node.id, "label": node.label, "level": node.level, "parent": node.parent,
                          "description": node.description, "children": list(node.children),
                          "path": project.process_path(node.id), "kpis": []}
    roots = [n.id for n in project.process.values() if not n.parent or n.parent not in project.process]
    for name in shown:
        spec = project.kpis[name]
        if spec.process in nodes:
            nodes[spec.process]["kpis"].append(name)
        else:  # KPIs not placed on the map still get tiles, under "Other KPIs"
            if UNASSIGNED not in nodes:
                nodes[UNASSIGNED] = {"id": UNASSIGNED, "label": "Other KPIs", "level": 1, "parent": None,
                                     "description": "KPIs without a `process:` node in the spec",
                                     "children": [], "path": ["Other KPIs"], "kpis": []}
                roots.append(UNASSIGNED)
            nodes[UNASSIGNED]["kpis"].append(name)

    def summarise(node_id: str, seen: frozenset) -> tuple[str, int, list[str]]:
        node = nodes[node_id]
        status, bad, all_kpis = "ok", 0, list(node["kpis"])
        for k in node["kpis"]:
            if STATUS_RANK[tiles[k]["status"]] > STATUS_RANK[status]:
                status = tiles[k]["status"]
            bad += _notable(tiles[k]) or tiles[k]["worst"] is not None
        for child in node["children"]:
            if child in nodes and child not in seen:
                s, b, ks = summarise(child, seen | {child})
                status = s if STATUS_RANK[s] > STATUS_RANK[status] else status
                bad += b
                all_kpis += ks
        node.update(status=status, attention=bad, subtree_kpis=all_kpis)
        return status, bad, all_kpis

    for root in roots:
        summarise(root, frozenset({root}))
    spark = _spark_periods(inputs.totals, current, inputs.options.spark_periods)
    return {"roots": roots, "nodes": nodes, "tiles": tiles, "spark_periods": [p.isoformat() for p in spark],
            "current": current.isoformat() if current else None,
            "previous": previous.isoformat() if previous else None}


def breakdown_view(inputs: DashboardInputs, kpi: str | None = None) -> dict:
    """Every breakdown row of one KPI (or of each KPI with more rows than its tile shows), compact.

    Rows are ``[name, value, previous, change, tone, alert status, state]``
    (display strings), worst first: what "show all" pages through.
    """
    process = process_view(inputs)
    kpis = [kpi] if kpi else [k for k, t in process["tiles"].items() if t["breakdown_total"] > len(t["breakdown"])]
    out = {}
    for k in kpis:
        tile = process["tiles"].get(k)
        if tile is None:
            continue
        out[k] = [[r["name"], r["display"], r["previous_display"], r["change"]["text"], r["tone"], r["status"],
                   r["state"]] for r in tile["_rows"]]
    return {"by": inputs.options.by, "columns": ["name", "value", "previous", "change", "tone", "status", "state"],
            "kpis": out}


# -- what needs attention ------------------------------------------------------------------

def attention_view(inputs: DashboardInputs, process: dict | None = None, limit: int = 6) -> dict:
    """The biggest bad moves this period (total and per breakdown value), firing alerts first."""
    process = process or process_view(inputs)
    grain = inputs.options.grain
    items = []
    for tile in process["tiles"].values():
        candidates = [dict(r, scope=r["name"]) for r in tile.get("_rows", tile["breakdown"])]
        candidates.append({"scope": "total", "dimensions": {}, "value": tile["value"], "display": tile["display"],
                           "previous_display": tile["previous_display"], "change": tile["change"],
                           "magnitude": tile["magnitude"], "state": tile["state"],
                           "tone": tile["tone"], "status": _exact_status(inputs, tile["kpi"], {})})
        for c in candidates:
            if c["status"] not in ("firing", "pending") and (c.get("state") or not _notable(c)):
                continue  # a small move, or a number that is not final yet (maturing cohort, partial period)
            where = "" if c["scope"] == "total" else f" — {inputs.options.by} {c['scope']}"
            items.append({
                "kpi": tile["kpi"], "label": tile["label"], "scope": c["scope"], "dimensions": c["dimensions"],
                "process": tile["process"], "value": c["value"], "display": c["display"],
                "change": c["change"], "status": c["status"], "tone": c["tone"],
                "magnitude": c["magnitude"],
                "text": f"{tile['label']}{where}: {c['display']} ({c['change']['text']} vs previous {grain}, "
                        f"was {c['previous_display']})",
            })
    _inputs_first(inputs.project, items)
    items += _uncovered_alerts(inputs, process)
    items.sort(key=lambda i: (-STATUS_RANK[i["status"]], -i["magnitude"]))
    return {"items": items[:limit], "total": len(items), "alerts_scope": inputs.alerts.scope,
            "alerts_known": inputs.alerts.known}


def _inputs_first(project, items: list[dict]) -> None:
    """A formula KPI ranks just after the worst of its inputs that moved the same way in the same place.

    Performance (mindset x visits x conversion) falling because conversion fell
    is one problem, and the place to act is conversion: the composite is kept
    on the list, below its input. Only composites over other formula KPIs are
    moved; a ratio of two counts is itself the place to act.
    """
    size = {(i["kpi"], i["scope"]): i["magnitude"] for i in items}
    for item in items:
        spec = project.kpis[item["kpi"]]
        if not spec.is_formula:
            continue
        # only composites of rates (performance = ... * conversion): a plain ratio of counts is where one acts;
        # and every KPI compared across periods (revenue / revenue[-1] - 1): a change of a change is no
        # place to act, the input that moved is
        shifted = _reads_another_period(spec.formula)
        composite = [k for k in maturity.formula_inputs(spec.formula)
                     if k in project.kpis and (shifted or project.kpis[k].is_formula)]
        inputs = [size[(k, item["scope"])] for k in composite if (k, item["scope"]) in size]
        if inputs and max(inputs) <= item["magnitude"]:
            item["magnitude"] = max(inputs) * 0.999


def _reads_another_period(formula: str) -> bool:
    """Whether a formula reads an input at an offset (week over week, year over year)."""
    try:
        return any(offset is not None for _name, offset in formula_reads(parse_formula(formula)))
    except Exception:  # noqa: BLE001 - an invalid formula is reported by `kpi validate`; here it shifts nothing
        return False


def _exact_status(inputs: DashboardInputs, kpi: str, dimensions: dict) -> str:
    """The state of the alerts on exactly these dimension values (the total: no dimensions)."""
    best = "ok"
    for r in inputs.alerts.active:
        if r.kpi == kpi and r.dimensions == dimensions and r.state in ("firing", "pending") and not r.where:
            state = "silenced" if r.silenced else r.state
            best = state if STATUS_RANK[state] > STATUS_RANK[best] else best
    return best


def _uncovered_alerts(inputs: DashboardInputs, process: dict) -> list[dict]:
    """Firing and pending alerts the current breakdown does not show (say by region while viewing by rep)."""
    out = []
    by = inputs.options.by
    for r in inputs.alerts.active:
        if r.silenced or r.state not in ("firing", "pending") or not r.dimensions or r.where:
            continue
        tile = process["tiles"].get(r.kpi)
        if tile is None:
            continue
        if by in r.dimensions and any(row["dimensions"].get(by) == r.dimensions[by] for row in tile["breakdown"]):
            continue  # its breakdown row is already a candidate
        spec = inputs.project.kpis[r.kpi]
        scope = _dims_text(dim_key(r.dimensions))
        where = ", ".join(f"{k} {v}" for k, v in r.dimensions.items())
        out.append({"kpi": r.kpi, "label": spec.label, "scope": scope, "dimensions": dict(r.dimensions),
                    "process": spec.process, "value": r.value, "display": format_value(r.value, spec.unit, spec.format),
                    "change": {"abs": None, "rel": None, "text": ""}, "status": r.state, "tone": "bad",
                    "magnitude": 1.0,
                    "text": f"{spec.label} — {where}: {format_value(r.value, spec.unit, spec.format)} "
                            f"({r.severity} alert {r.rule}, since {r.since or '?'})"})
    return out


# -- trends ----------------------------------------------------------------------------------

def _targets(spec, by: str | None) -> list[dict]:
    target = spec.target
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        return [{"name": "target", "value": float(target), "dimensions": {}}]
    if isinstance(target, dict) and by and isinstance(target.get(by), dict):
        return [{"name": f"target {v}", "value": float(t), "dimensions": {by: v}}
                for v, t in target[by].items() if isinstance(t, (int, float))]
    return []


def trends_view(inputs: DashboardInputs, kpis: list[str] | None = None) -> dict:
    """Each KPI over time, per breakdown value when one is chosen, with thresholds, targets and fired alerts."""
    project, opts = inputs.project, inputs.options
    current, _ = chosen_periods(inputs)
    periods = [p for p in inputs.totals.periods if current is None or p <= current]
    out = []
    for kpi in kpis or main_view_kpis(project):
        spec = project.kpis[kpi]
        series = [{"name": "total", "dimensions": {},
                   "values": [v for _, v in inputs.totals.series(kpi, None, periods)]}]
        hidden = 0
        table = inputs.breakdown
        if table and table.has(kpi):
            if volume_kpi(project, kpi) == kpi:
                series = []  # a sum's total dwarfs its parts on one axis; the tile shows the total
            keys = [k for k in table.keys(kpi) if k]
            # keep the largest values at the current period so the chart stays readable
            keys.sort(key=lambda k: -(abs(table.get(kpi, current, k) or 0)))
            hidden = max(0, len(keys) - MAX_SERIES)
            for key in sorted(keys[:MAX_SERIES], key=_dims_text):
                series.append({"name": _dims_text(key), "dimensions": dict(key),
                               "values": [v for _, v in table.series(kpi, key, periods)]})
        shown = {p.isoformat() for p in periods}
        markers = [m for m in inputs.alerts.fired if m.get("kpi") == kpi and m.get("period_start") in shown]
        thresholds = [{"severity": t.severity, "op": t.op, "value": t.value, "low": t.low, "high": t.high,
                       "rule": t.rule, "dimensions": t.dimensions}
                      for t in inputs.alerts.thresholds if t.kpi == kpi]
        out.append({"kpi": kpi, "label": spec.label, "unit": spec.unit, "direction": spec.direction,
                    "format": spec.format, "process": spec.process, "series": series, "hidden_series": hidden,
                    "has_total": bool(series) and series[0]["name"] == "total",
                    "thresholds": thresholds, "targets": _targets(spec, opts.by), "markers": markers})
    return {"periods": [p.isoformat() for p in periods], "kpis": out}


# -- team bubbles ----------------------------------------------------------------------------

QUADRANTS = {
    "star": "Stars: keep going",
    "more_visits": "Needs more visits",
    "better_conversion": "Needs better conversion",
    "both": "Needs coaching on both",
}


LABELLED_BUBBLES = 12


def team_view(inputs: DashboardInputs) -> dict:
    """One bubble per rep (or other dimension value): x visits, y conversion, size deals or revenue."""
    opts, project = inputs.options, inputs.project
    if not (opts.bubble_x and opts.bubble_y):
        return {"empty": True, "reason": "the spec has no KPIs for the axes (e.g. visits and conversion); "
                                          "choose them with bubble_x / bubble_y"}
    if not opts.bubble_by:
        return {"empty": True, "reason": "the models declare no dimension to draw one bubble per value of (e.g. rep)"}
    table = inputs.team
    if not table or not table.has(opts.bubble_x):
        return {"empty": True, "reason": inputs.notes.get("team") or
                f"no values of {opts.bubble_x} by {opts.bubble_by} for this period"}
    current, _ = chosen_periods(inputs)
    period = table.period_at_or_before(current)
    axis = {}
    for role in ("x", "y", "size"):
        name = getattr(opts, f"bubble_{role}")
        spec = project.kpis.get(name) if name else None
        axis[role] = {"kpi": name, "label": spec.label, "unit": spec.unit, "format": spec.format} if spec else None
    bubbles = []
    group_by = next((d for k in table.keys(opts.bubble_x) for d, _ in k if d != opts.bubble_by), None)
    for key in table.keys(opts.bubble_x):
        if not key:
            continue
        x, y = table.get(opts.bubble_x, period, key), table.get(opts.bubble_y, period, key)
        if x is None or y is None:
            continue
        size = table.get(opts.bubble_size, period, key) if opts.bubble_size else None
        dims = dict(key)
        name = dims.get(opts.bubble_by)
        group = dims.get(group_by) if group_by else None
        bubbles.append({"name": "∅" if name is None else str(name), "dimensions": dims,
                        "group": None if group_by is None else ("∅" if group is None else str(group)),
                        "x": x, "y": y, "size": size or 0.0,
                        "x_display": format_value(x, axis["x"]["unit"], axis["x"]["format"]),
                        "y_display": format_value(y, axis["y"]["unit"], axis["y"]["format"]),
                        "size_display": format_value(size, axis["size"]["unit"], axis["size"]["format"])
                        if axis["size"] else "—"})
    if not bubbles:
        return {"empty": True, "reason": f"no {opts.bubble_by} has both {opts.bubble_x} and {opts.bubble_y} "
                                          f"in {period_label(period, opts.grain)}"}
    mx = statistics.median(b["x"] for b in bubbles)
    my = statistics.median(b["y"] for b in bubbles)
    span_x = (max(b["x"] for b in bubbles) - min(b["x"] for b in bubbles)) or 1.0
    span_y = (max(b["y"] for b in bubbles) - min(b["y"] for b in bubbles)) or 1.0
    for b in bubbles:
        hi_x, hi_y = b["x"] >= mx, b["y"] >= my
        b["quadrant"] = "star" if hi_x and hi_y else "more_visits" if hi_y else "better_conversion" if hi_x else "both"
        b["distance"] = ((b["x"] - mx) / span_x) ** 2 + ((b["y"] - my) / span_y) ** 2
    # names are printed for the bubbles farthest from the medians (the ones to talk to);
    # the crowd in the middle keeps its names in the tooltip
    for b in sorted(bubbles, key=lambda b: -b["distance"])[:LABELLED_BUBBLES]:
        b["labelled"] = True
    bubbles.sort(key=lambda b: -b["size"])  # big bubbles drawn first so small ones stay clickable
    sizes = [b["size"] for b in bubbles if b["size"]]
    size_unit = axis["size"]["unit"] if axis["size"] else "number"
    size_fmt = axis["size"]["format"] if axis["size"] else None
    return {"by": opts.bubble_by, "group_by": group_by, "period": period.isoformat() if period else None,
            "groups": sorted({b["group"] for b in bubbles if b["group"] is not None}),
            "size_legend": [{"value": v, "display": format_value(v, size_unit, size_fmt)}
                            for v in (min(sizes), statistics.median(sizes), max(sizes))] if sizes else [],
            "period_label": period_label(period, opts.grain), "x": axis["x"], "y": axis["y"], "size": axis["size"],
            "median_x": mx, "median_y": my,
            "median_x_display": format_value(mx, axis["x"]["unit"], axis["x"]["format"]),
            "median_y_display": format_value(my, axis["y"]["unit"], axis["y"]["format"]),
            "quadrants": QUADRANTS, "bubbles": bubbles,
            "counts": {q: sum(b["quadrant"] == q for b in bubbles) for q in QUADRANTS}}


# -- funnel -------------------------------------------------------------------------------------

def _median_text(seconds) -> str | None:
    if seconds is None:
        return None
    return "at once" if seconds < 1 else format_value(seconds, "duration")  # 0 s: the same event time


def funnel_stages(steps: list[dict], counts: list, medians: list | None = None) -> list[dict]:
    """Volume per stage with conversion from the stage before and from the top."""
    out = []
    top = counts[0] if counts else None
    for i, step in enumerate(steps):
        n = counts[i] if i < len(counts) else None
        prev = counts[i - 1] if i > 0 and i - 1 < len(counts) else None
        from_prev = (n / prev if prev else None) if i > 0 and n is not None else (1.0 if n else None)
        from_top = n / top if top and n is not None else None
        out.append({"id": step["id"], "label": step.get("label") or step["id"], "tier": step.get("tier"),
                    "entities": n, "display": format_value(n, "count"),
                    "from_previous": from_prev, "from_previous_display": format_value(from_prev, "percent"),
                    "from_top": from_top, "from_top_display": format_value(from_top, "percent"),
                    "drop_off": (prev - n) if (i > 0 and prev is not None and n is not None) else None,
                    "median_seconds": medians[i] if medians and i < len(medians) else None,
                    "median_display": _median_text(medians[i] if medians and i < len(medians) else None)})
    return out


def worst_step(stages: list[dict]) -> int | None:
    """Index of the step with the lowest conversion from the step before (None when none has one)."""
    rates = [(st["from_previous"], i) for i, st in enumerate(stages) if i > 0 and st["from_previous"] is not None]
    return min(rates)[1] if rates else None


def _funnel_breakdown(f, period: str, total: list[dict]) -> list[dict]:
    """Per breakdown value: entities and conversion per step, and the step where it falls furthest behind.

    "Worst" is the step whose conversion is furthest below the total's at that
    step (in points), so a region that loses its leads at the proposal stands
    out even when every region's lowest rate is at the same step.
    """
    rows = []
    for name, counts in sorted(f.counts.get(period, {}).items()):
        if not name:
            continue
        stages = funnel_stages(f.steps, counts)
        gaps = [(st["from_previous"] - total[i]["from_previous"], i) for i, st in enumerate(stages)
                if i > 0 and st["from_previous"] is not None and total[i]["from_previous"] is not None]
        worst = min(gaps) if gaps else None
        rows.append({"name": name, "entities": [st["entities"] for st in stages],
                     "displays": [st["display"] for st in stages],
                     "rates": [st["from_previous_display"] for st in stages],
                     "from_previous": [st["from_previous"] for st in stages],
                     "worst": worst[1] if worst and worst[0] < 0 else None,
                     "worst_gap_display": f"{worst[0] * 100:+.1f} pp" if worst and worst[0] < 0 else None})
    return rows


def funnel_view(inputs: DashboardInputs) -> dict:
    """Each funnel for the current and the comparison period side by side, total and per breakdown value."""
    if "funnels" in inputs.pending:  # the live page asks for them in a second request (collect part "rest")
        return {"empty": True, "pending": True, "reason": "the funnels are being computed…"}
    if not inputs.funnels:
        return {"empty": True, "reason": inputs.notes.get("funnel") or "the spec defines no funnel (see docs/funnels.md)"}
    current, previous = chosen_periods(inputs)
    grain = inputs.options.grain
    out = []
    for f in inputs.funnels:
        periods = sorted(date.fromisoformat(p) for p in f.counts)
        cur = max((p for p in periods if current is None or p <= current), default=None)
        prev = max((p for p in periods if cur and p < cur and (previous is None or p <= previous)), default=None)
        columns = []
        for p in (prev, cur):
            if p is None:
                continue
            key = p.isoformat()
            total = funnel_stages(f.steps, f.counts[key].get("", []), f.median_seconds.get(key))
            columns.append({
                "period": key, "label": period_label(p, grain), "maturing": key in f.maturing,
                "total": total, "worst_step": None if key in f.maturing else worst_step(total),
                "breakdown": _funnel_breakdown(f, key, total) if p == cur else [],
            })
        out.append({"name": f.name, "label": f.label, "by": f.by, "steps": f.steps, "columns": columns,
                    "view": f.view, "attribution": f.attribution, "ordered": f.ordered, "precomputed": f.precomputed,
                    "window_seconds": f.window_seconds, "window_display": format_value(f.window_seconds, "duration"),
                    "spec_window_seconds": f.spec_window_seconds,
                    "maturing_note": ("cohorts entered less than the conversion window "
                                      f"({format_value(f.window_seconds, 'duration')}) before the data ends are "
                                      "maturing: their later stages can still grow") if f.view == "cohort" else None,
                    # tiles counting the same stages by event (deals_won next to the cohort's won)
                    "twins": step_twins(inputs, f.name, cur),
                    "distribution": f.distribution, "distribution_period": f.distribution_period,
                    "distribution_label": period_label(date.fromisoformat(f.distribution_period), grain)
                    if f.distribution_period else None})
    return {"funnels": out}


# -- why it changed --------------------------------------------------------------------------

def why_view(inputs: DashboardInputs) -> dict:
    if "why" in inputs.pending:  # the live page asks for it in a second request (collect part "rest")
        return {"empty": True, "pending": True, "reason": "the change is being explained…"}
    if not inputs.why:
        return {"empty": True, "reason": inputs.notes.get("why") or "choose a KPI to explain its change"}
    return inputs.why


# -- alerts ---------------------------------------------------------------------------------------

SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}


def alerts_view(inputs: DashboardInputs) -> dict:
    if not inputs.alerts.available:
        return {"empty": True, "reason": inputs.notes.get("alerts") or "alerting has not run yet: run `kpi check`",
                "active": [], "silences": []}
    project = inputs.project
    active = []
    for r in inputs.alerts.active:
        spec = project.kpis.get(r.kpi)
        unit = spec.unit if spec else "number"
        fmt = spec.format if spec else None
        active.append({"rule": r.rule, "kpi": r.kpi, "label": spec.label if spec else r.kpi,
                       "state": r.state, "silenced": r.silenced, "severity": r.severity,
                       "dimensions": r.dimensions, "where": r.where,
                       "scope": _dims_text(dim_key(r.dimensions)) + (f" where {r.where}" if r.where else ""),
                       "since": r.since, "period_start": r.period_start,
                       "value": r.value, "display": format_value(r.value, unit, fmt),
                       "threshold": r.threshold,
                       "message": r.message, "process": spec.process if spec else None})
    active.sort(key=lambda a: (a["silenced"], a["state"] != "firing", -SEVERITY_RANK.get(a["severity"], 0),
                               a["since"] or ""))
    counts = {"firing": sum(a["state"] == "firing" and not a["silenced"] for a in active),
              "pending": sum(a["state"] == "pending" and not a["silenced"] for a in active),
              "silenced": sum(a["silenced"] for a in active)}
    return {"active": active, "silences": inputs.alerts.silences, "counts": counts,
            "scope": inputs.alerts.scope, "known": inputs.alerts.known, "evaluated": inputs.alerts.evaluated}


# -- everything -------------------------------------------------------------------------------------

def period_note(inputs: DashboardInputs, current: date | None) -> str:
    """Which period the page shows and why: the headline says it, so a partial week is never taken for a full one."""
    if current is None:
        return ""
    grain, label = inputs.options.grain, period_label(current, inputs.options.grain)
    if inputs.options.period:
        partial = any(not inputs.totals.complete(k, current) and not inputs.totals.maturing(k, current)
                      for k in inputs.totals.kpis)
        return f"{label}, as asked" + (" (partial: the data does not cover the whole " + grain + " yet)"
                                       if partial else "")
    later = [p for p in inputs.totals.periods if p > current]
    return f"{label}, the last complete {grain}" + (f" (the {grain} after it is partial)" if later else "")


def meta_view(inputs: DashboardInputs) -> dict:
    project, opts = inputs.project, inputs.options
    current, previous = chosen_periods(inputs)
    return {
        "project": project.name, "spec_version": project.version,
        "grain": opts.grain, "grains": list(GRAINS), "by": opts.by, "dimensions": project_dimensions(project),
        "periods": [{"value": p.isoformat(), "label": period_label(p, opts.grain), "axis": axis_label(p, opts.grain)}
                    for p in inputs.totals.periods],
        "filter_options": filter_options(inputs),
        "current": current.isoformat() if current else None, "current_label": period_label(current, opts.grain),
        "previous": previous.isoformat() if previous else None, "previous_label": period_label(previous, opts.grain),
        "options": opts.to_json(), "source": inputs.source, "notes": inputs.notes,
        "period_note": period_note(inputs, current),
        "current_complete": bool(current) and not any(not inputs.totals.complete(k, current)
                                                      for k in inputs.totals.kpis),
        "stale": list(inputs.source.get("stale", [])) if isinstance(inputs.source, dict) else [],
        "model_health": list(inputs.health.values()),
        # an earlier period the alert log does not reach: no state dots rather than green ones
        "alerts_available": inputs.alerts.available and inputs.alerts.known,
        "kpis": [{"kpi": k, "label": s.label, "unit": s.unit, "direction": s.direction} for k, s in project.kpis.items()],
        "funnels": list(project.section("funnels", {})),
    }
