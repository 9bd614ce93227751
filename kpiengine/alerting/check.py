"""``kpi check``: compute what the rules need, evaluate, advance states, route, enqueue, deliver.

Order of work, and why:

1. Values are computed *outside* any lock (queries may take a while).
2. States are read, advanced, routed and notifications written to the outbox in
   ONE ``BEGIN IMMEDIATE`` transaction: a concurrent check waits, then sees the
   new states and the notification log, and sends nothing twice.
3. After the commit the outbox delivers (retries, fallback). A crash before
   delivery loses nothing: the rows are pending and the next run sends them.

``--dry-run`` runs step 2 and rolls it back: it shows what would be sent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from ..analysis.baselines import rule_baseline
from ..analysis.explain_change import top_drivers_text
from ..errors import KpiEngineError
from ..run.data_checks import run_checks
from ..run.engine import Engine
from ..run.history import HistoryStore
from ..run.watermarks import mark_complete
from . import periods as P
from .evaluate import ValueTable, dims_key, error_outcomes, evaluate, of_current_filter, sample_kpi
from .lifecycle import apply_lifecycle
from .machine import AlertState, advance
from .model_rules import (
    Watermarks,
    check_rules,
    checks_tables,
    freshness_table,
    is_model_rule,
    model_rule_spec,
)
from .notify import AlertView, Group, build_notification, group_key, needs_notification, notified_kind
from .outbox import DeliveryReport, Outbox, enqueue
from .routing import Routing, build_sink, load_routing
from .rules import Rule, load_rules
from .inhibition import hidden_alerts
from .intervals import project_tz
from .silences import list_silences, silenced_by
from .state import AlertStore, connect, history_file, immediate

CATCH_UP = 12  # at most this many missed periods are replayed when checks were skipped

# fetch(grain, by, kpis, start, end) -> rows; called with where=... too for rules with a `where:` filter
Fetch = Callable[..., list[Any]]


@dataclass
class CheckResult:
    alerts: list[AlertView] = field(default_factory=list)
    notifications: list[tuple[str, Any]] = field(default_factory=list)  # (sink, Notification)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    periods: dict[str, date] = field(default_factory=dict)  # rule -> period evaluated
    delivery: DeliveryReport | None = None
    dry_run: bool = False
    stale: list[str] = field(default_factory=list)  # one note per model past its max_delay

    def firing(self, severity: str | None = None) -> list[AlertView]:
        return [a for a in self.alerts if a.state.state == "firing" and not a.suppressed
                and (severity is None or a.state.severity == severity)]

    def exit_code(self, warn_ok: bool = False) -> int:
        """3 error, 2 critical firing, 1 warning firing (0 with warn_ok), else 0."""
        if self.errors:
            return 3
        if self.firing("critical"):
            return 2
        if self.firing("warning") and not warn_ok:
            return 1
        return 0


def engine_fetch(project, *, record: bool = True, warnings: list[str] | None = None, engine: Engine | None = None
                 ) -> Fetch:
    """Values from the warehouse through the engine, stored in history, completed from history.

    Periods the warehouse no longer returns (purged partitions, a table that keeps
    only recent weeks) are taken from the local history store, so change and
    anomaly baselines survive without any cloud service. Every value is marked
    complete or not from the models' watermarks (asked once per check).
    """
    engine = engine or Engine(project)

    def fetch(grain, by, kpis, start, end, where=None):
        rs = engine.compute(kpis=kpis, grain=grain, by=by, start=start, end=end, where=where)
        rows = list(rs.rows)
        if where:
            # History holds the KPIs as they are, unfiltered: a filtered value is never written there
            # (it would pass for the whole KPI), nor is an unfiltered one read back as filtered.
            return rows
        try:
            store = HistoryStore.for_project(project)
            if record:
                store.record_run(project, rs)
            fresh = {(r.kpi, r.period_start, dims_key(r.dimensions)) for r in rows}
            older = [r for r in store.values(kpis=kpis, grain=grain, by=by, start=start, end=end)
                     if (r.kpi, r.period_start, dims_key(r.dimensions)) not in fresh]
            mark_complete(project, older, rs.watermarks)
            rows += older
        except Exception as exc:  # history is a help here, not a requirement
            if warnings is not None:
                warnings.append(f"history store unavailable ({exc}); using warehouse values only")
        return rows

    return fetch


def history_fetch(project, now: float | None = None) -> Fetch:
    """Values already stored in the history file (no warehouse query), marked by the stored watermarks."""
    store = HistoryStore.for_project(project)

    def fetch(grain, by, kpis, start, end, where=None):
        if where:
            raise KpiEngineError(f"the history store holds unfiltered values only: a rule with `where: {where}` "
                                 "is judged on values from the warehouse (leave out --history)")
        rows = store.values(kpis=kpis, grain=grain, by=by, start=start, end=end)
        mark_complete(project, rows, store.watermarks(project, now))
        return rows

    return fetch


def history_watermarks(project, now: float | None = None) -> Watermarks:
    """The watermarks the last runs stored (for checks fed from history)."""
    store = HistoryStore.for_project(project)
    return lambda models: {m: w for m, w in store.watermarks(project, now).items() if m in models}


def today_in(project, now: float) -> date:
    try:
        tz = ZoneInfo(project.timezone or "UTC")
    except Exception:
        tz = timezone.utc
    return datetime.fromtimestamp(now, tz).date()


def select_rules(project, names: list[str] | None, notes: list[str] | None = None) -> dict[str, Rule]:
    """The enabled rules (all, or those named), as the KPIs' review statuses want them (see lifecycle.py)."""
    rules = {**load_rules(project), **check_rules(project)}  # data checks (`checks:`) run as rules too
    if names:
        unknown = [n for n in names if n not in rules]
        if unknown:
            raise KpiEngineError(f"unknown rule(s): {', '.join(unknown)}; rules in the spec: "
                                 f"{', '.join(sorted(rules)) or 'none'}")
        rules = {n: rules[n] for n in names}
    rules, left_out = apply_lifecycle({n: r for n, r in rules.items() if r.enabled}, project)
    if notes is not None:
        notes.extend(left_out)
    return rules


@dataclass
class _Batch:
    """Rules sharing a grain and breakdown: their values come from one engine request."""

    grain: str
    by: list[str]
    rules: list[Rule]
    kpis: list[str]
    where: str | None = None  # the rules' `where:` filter: their values come from a filtered request
    table: ValueTable | None = None
    period: date | None = None
    error: str | None = None
    model_rules: bool = False  # freshness and data checks: evaluated on the day of the check only
    partial_note: str | None = None  # the period asked for is not over for the data


def _batches(project, rules: dict[str, Rule]) -> list[_Batch]:
    batches: dict[tuple, _Batch] = {}
    for rule in rules.values():
        if is_model_rule(rule):
            continue
        b = batches.setdefault((rule.grain, tuple(rule.by), rule.where),
                               _Batch(rule.grain, list(rule.by), [], [], where=rule.where))
        b.rules.append(rule)
        for k in (rule.kpi, sample_kpi(rule, project.kpis.get(rule.kpi))
                  if (rule.min_sample is not None or rule.significance) else None):
            if k and k not in b.kpis:
                b.kpis.append(k)
    return list(batches.values())


def _load_values(b: _Batch, fetch: Fetch, period: date | None, today: date) -> None:
    latest_complete = P.shift(P.truncate(today, b.grain), b.grain, -1)
    anchor = P.truncate(period, b.grain) if period else latest_complete
    back = max(r.lookback + max(r.for_periods, 1) for r in b.rules) + CATCH_UP
    filtered = {"where": b.where} if b.where else {}  # fetch functions without a filter stay valid
    try:
        rows = fetch(b.grain, b.by, b.kpis, P.shift(anchor, b.grain, -back), P.shift(anchor, b.grain, 1), **filtered)
        table = ValueTable(rows)
        main = {r.kpi for r in b.rules}
        seen = [p for k in main for p in table.periods(k)]
        if period is None and not seen:
            # nothing recent: the data may end earlier (a frozen extract, the demo); use its last period
            rows = fetch(b.grain, b.by, b.kpis, None, P.shift(anchor, b.grain, 1), **filtered)
            table = ValueTable(rows)
            seen = [p for k in main for p in table.periods(k)]
    except KpiEngineError as exc:
        b.error, b.period = str(exc), anchor
        return
    b.table = table
    if period is None:
        # the last period the data covers completely: a partial week is never judged against full ones
        seen = [p for p in table.final_periods(main) if p <= anchor] or seen
    else:
        # a period asked for by name is judged as asked (a warning says when it is partial); maturing
        # cohorts still wait for their window unless a rule says `on_maturing: alert`
        partial = sorted({p for (k, _key, p), why in table.not_final.items() if why == "partial" and k in main})
        table.drop_partial()
        b.partial_note = (f"period {anchor} is partial for the data (it ends after the data's watermark): "
                          f"judged because --period asked for it") if anchor in partial else None
    b.period = anchor if period or not seen else min(anchor, max(seen))


def _eval_periods(rule: Rule, states: dict[str, AlertState], period: date) -> list[date]:
    lasts = [s.last_period for s in states.values() if s.last_period]
    if lasts:
        start = max(P.as_date(max(lasts)), P.shift(period, rule.grain, -CATCH_UP))
    else:
        start = P.shift(period, rule.grain, -(rule.for_periods - 1))
    out, p = [], min(start, period)
    while p <= period:
        out.append(p)
        p = P.shift(p, rule.grain, 1)
    return out


def engine_explainer(project):
    """Top drivers of a KPI's change for one period, from the root-cause module."""
    engine = Engine(project)
    return lambda rule, period: top_drivers_text(engine, rule.kpi, period, grain=rule.grain,
                                                 by=list(rule.by) or None,
                                                 baseline=rule_baseline(rule, period))


def _drivers(rules_batches: list[_Batch], project, explainer, result: CheckResult) -> dict[str, str]:
    """For rules with ``explain: true`` that breach now: one root-cause line, computed before the lock."""
    out = {}
    for b in rules_batches:
        if b.error or b.table is None:
            continue
        for rule in b.rules:
            if not rule.explain:
                continue
            spec = project.kpis.get(rule.kpi)
            breaching = [o for o in evaluate(rule, b.table, b.period, spec)
                         if o.status == "value" and o.significant is not False and rule.classify(o.measure)]
            if not breaching:
                continue
            try:
                out[rule.name] = explainer(rule, b.period)
            except Exception as exc:  # the alert matters more than its explanation
                result.warnings.append(f"rule '{rule.name}': could not explain the change: {exc}")
    return out


def run_check(project, *, rule_names: list[str] | None = None, period: date | None = None,
              dry_run: bool = False, deliver: bool = True, budget: float = 30.0,
              fetch: Fetch | None = None, now: float | None = None, sink_factory=build_sink,
              routing: Routing | None = None, clock=time.time, sleep=time.sleep, explainer=None,
              watermarks: Watermarks | None = None,
              progress: Callable[[str], None] | None = None) -> CheckResult:
    """One ``kpi check``. ``progress`` hears, as it happens, what delivery waits for or leaves behind."""
    result = CheckResult(dry_run=dry_run)
    now = clock() if now is None else now
    rules = select_rules(project, rule_names, result.warnings)
    routing = routing or load_routing(project)
    engine = Engine(project, now=now) if fetch is None else None
    if watermarks is None:
        watermarks = engine.watermarks if engine is not None else history_watermarks(project, now)
    if fetch is None:
        fetch = engine_fetch(project, record=not dry_run, warnings=result.warnings, engine=engine)
        explainer = explainer or engine_explainer(project)
    batches = _batches(project, rules)
    today = today_in(project, now)
    for b in batches:
        _load_values(b, fetch, period, today)
        if b.error:
            result.errors.append(f"{', '.join(r.name for r in b.rules)}: {b.error}")
        if b.partial_note:
            result.warnings.append(f"{', '.join(r.name for r in b.rules)}: {b.partial_note}")
    batches += _model_batches(project, rules, watermarks, today, result)
    batches += _check_batches(rules, engine, result)
    drivers = _drivers(batches, project, explainer, result) if explainer else {}

    con = connect(history_file(project))
    store = AlertStore(con)
    try:
        with immediate(con, rollback=dry_run):
            _advance_all(project, store, batches, result, now)
            for view in result.alerts:
                view.drivers = drivers.get(view.rule.name)
            if rule_names is None and not dry_run:
                store.forget_rules(set(rules))
            _route_and_enqueue(project, store, routing, result, now)
        if deliver and not dry_run:
            outbox = Outbox(con, routing.sinks, sink_factory, clock=clock, sleep=sleep, progress=progress)
            result.delivery = outbox.deliver(budget)
            if result.delivery.pending:
                result.warnings.append(f"{len(result.delivery.pending)} notification(s) still pending; "
                                       f"the next `kpi check` retries them")
            result.warnings.extend(result.delivery.errors)
            if progress is None:  # otherwise already said while it happened
                result.warnings.extend(result.delivery.waiting)
    finally:
        con.close()
    return result


def _model_batches(project, rules: dict[str, Rule], watermarks: Watermarks, today: date,
                   result: CheckResult) -> list[_Batch]:
    """Freshness rules (and data checks) as one batch evaluated on ``today``; stale models noted."""
    fresh = [r for r in rules.values() if r.type == "freshness"]
    try:
        marks = watermarks(sorted(m for m, spec in project.models.items() if spec.max_delay is not None))
        result.stale = [w.note() for w in marks.values() if w.stale]
    except KpiEngineError as exc:
        result.warnings.append(f"freshness unknown: {exc}")
    if not fresh:
        return []
    table, errors = freshness_table(fresh, watermarks, today)
    result.errors.extend(errors)
    return [_Batch("day", [], fresh, [r.kpi for r in fresh], table=table, period=today, model_rules=True)]


def _check_batches(rules: dict[str, Rule], engine, result: CheckResult) -> list[_Batch]:
    """Data checks (the `checks:` section) measured on each model's last complete day, one batch per day."""
    checks = [r for r in rules.values() if r.type == "check"]
    if not checks or engine is None:
        return []
    out = []
    for (day, _err), (table, members, error) in checks_tables(checks, run_checks(engine)).items():
        if day is None:
            result.errors.append(f"{', '.join(r.name for r in members)}: {error}")
            continue
        out.append(_Batch("day", [], members, [r.kpi for r in members], table=table, period=day, error=error,
                          model_rules=True))
        if error:
            result.errors.append(f"{', '.join(r.name for r in members)}: {error}")
    return out


def _advance_all(project, store: AlertStore, batches: list[_Batch], result: CheckResult, now: float) -> None:
    all_states = store.states()
    for b in batches:
        for rule in b.rules:
            # alerts of an earlier `where:` judged another population: they are not carried on
            states = {k: s for (r, k), s in all_states.items() if r == rule.name and of_current_filter(rule, k)}
            store.forget_keys(rule.name, [k for (r, k) in all_states if r == rule.name and k not in states])
            spec = project.kpis.get(rule.kpi) or (model_rule_spec(rule) if b.model_rules else None)
            known = {k: s.dimensions for k, s in states.items()}
            result.periods[rule.name] = b.period
            transitions: dict[str, str] = {}
            for p in ([b.period] if b.model_rules else _eval_periods(rule, states, b.period)):
                if b.error:
                    outcomes = error_outcomes(rule, p, known, b.error) if p == b.period else []
                else:
                    outcomes = evaluate(rule, b.table, p, spec, known)
                for o in outcomes:
                    prev = states.get(o.key) or AlertState(rule.name, o.key, o.dimensions)
                    new, transition = advance(rule, prev, o)
                    states[o.key] = new
                    known.setdefault(o.key, o.dimensions)
                    if transition:
                        transitions[o.key] = transition
                        store.save(new, transition, now)
            for key, st in states.items():
                store.save(st, None, now)
                all_states[(rule.name, key)] = st
                result.alerts.append(AlertView(rule, st, spec, transitions.get(key)))


def _route_and_enqueue(project, store: AlertStore, routing: Routing, result: CheckResult, now: float) -> None:
    silences = list_silences(store.con, now=now)
    hidden = hidden_alerts(result.alerts, routing.inhibit_rules)
    tz = project_tz(getattr(project, "timezone", None))
    groups: dict[tuple, Group] = {}
    for view in result.alerts:
        s = silenced_by(view.labels, silences, now)
        view.silenced_by = s.id if s else None
        view.inhibited = (view.rule.name, view.state.key) in hidden
    for view in result.alerts:
        if view.state.state not in ("firing", "resolved", "inactive"):
            continue
        view.flapping = view.state.flapping
        if view.flapping:  # held, not logged as sent: once it calms down the next check says where it stands
            continue
        for route in routing.routes_for(view.labels):
            sent = store.notified(route.name, view.rule.name, view.state.key)
            status = needs_notification(view, route, sent, now)
            if status is not None and status != "forget":
                why = routing.muted(route, now, tz)
                if why:  # not logged as sent: when the interval ends, the next check sends what still holds
                    view.muted_on = {**(view.muted_on or {}), route.name: why}
                    continue
            if status == "forget":
                store.mark_notified(route.name, view.state, "resolved", now)
                continue
            if status is None:
                continue
            g = groups.setdefault((route.name, group_key(route, view.labels)),
                                  Group(route, group_key(route, view.labels)))
            g.items.append((view, status))
    # a group that sends anything also lists its other firing alerts, so the message tells the whole story
    for (route_name, gkey), g in groups.items():
        present = {(v.rule.name, v.state.key) for v, _s in g.items}
        for view in result.alerts:
            if (view.state.state == "firing" and not view.suppressed and not view.flapping
                    and (view.rule.name, view.state.key) not in present
                    and any(r.name == route_name for r in routing.routes_for(view.labels))
                    and group_key(g.route, view.labels) == gkey):
                g.items.append((view, "firing"))
    for g in groups.values():
        notification = build_notification(g, project, now)
        for view, status in g.items:
            store.mark_notified(g.route.name, view.state, notified_kind(view.state, status), now)
            if view.template_error:
                result.warnings.append(f"rule '{view.rule.name}': {view.template_error}")
        for sink in g.route.sinks:
            enqueue(store.con, notification, sink, now)
            result.notifications.append((sink, notification))
        if not g.route.sinks:
            result.warnings.append(f"route '{g.route.name}' has no sinks: {notification.title} was not sent")
