"""Alerting commands: ``kpi check``, ``kpi alerts``, ``kpi silence``, ``kpi test``, ``kpi backtest``.

``kpi check`` exit codes: 0 nothing firing, 1 warning firing (0 with --warn-ok),
2 critical firing, 3 error (a query or delivery setup failed, or the spec is invalid).
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

import click

from ..errors import KpiEngineError, SpecError
from ..formatting import render_table
from .common import handle_errors, load, parse_date, spec_option

EXIT_ERROR = 3


def register(cli: click.Group) -> None:
    cli.add_command(check)
    cli.add_command(alerts)
    cli.add_command(silence)
    cli.add_command(test_rules)
    cli.add_command(backtest_cmd)


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _alert_row(view) -> list[str]:
    # lazy: kpi --help stays fast
    from ..alerting.notify import message_fields

    st = view.state
    f = message_fields(view, None)
    flag = "silenced" if view.silenced_by is not None else "inhibited" if view.inhibited else \
        "flapping: notifications held" if st.flapping else ""
    return [view.rule.name, st.state, st.severity or "-", f["dimensions"] or "-", st.last_period or "-",
            f["value"], f["baseline"], f["change"], flag or (st.note if st.outcome != "value" else "")]


# --------------------------------------------------------------------------- check
@click.command()
@spec_option
@click.option("--rule", "rules", multiple=True, help="only this rule (repeatable)")
@click.option("--period", callback=parse_date, help="evaluate this period (YYYY-MM-DD); default: the latest "
              "complete period that has data")
@click.option("--dry-run", is_flag=True, help="show what would be sent; change no state, send nothing")
@click.option("--warn-ok", is_flag=True, help="exit 0 when only warnings fire")
@click.option("--no-send", is_flag=True, help="update states and queue notifications, but do not deliver now")
@click.option("--delivery-timeout", default=30.0, show_default=True,
              help="seconds to keep retrying deliveries in this run; the rest waits for the next run")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check(spec, rules, period, dry_run, warn_ok, no_send, delivery_timeout, fmt):
    """Evaluate the alert rules, update alert states and send notifications.

    Exit code: 0 nothing firing, 1 a warning fires (0 with --warn-ok), 2 a critical
    fires, 3 error (invalid spec, failed query). See docs/alerting.md.
    """
    # lazy: kpi --help stays fast
    from ..alerting.check import run_check

    try:
        project = load(spec)
        result = run_check(project, rule_names=list(rules) or None, period=period, dry_run=dry_run,
                           deliver=not no_send, budget=delivery_timeout,
                           progress=lambda line: click.secho(f"delivery: {line}", fg="yellow", err=True))
    except SpecError as exc:
        click.secho(f"{len(exc.issues)} problem(s) found:", fg="red", err=True)
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        sys.exit(EXIT_ERROR)
    except KpiEngineError as exc:
        _fail(str(exc))
    except Exception as exc:  # a bug: no traceback unless asked, still exit "error"
        if os.environ.get("KPIENGINE_DEBUG"):
            raise
        _fail(f"internal error: {exc!r} (set KPIENGINE_DEBUG=1 for a traceback; please report it)")
    if fmt == "json":
        click.echo(json.dumps(_check_json(result, warn_ok), indent=2, ensure_ascii=False, default=str))
    else:
        _print_check(result, chosen=period is not None)
    for w in result.warnings:
        click.secho(f"warning: {w}", fg="yellow", err=True)
    for e in result.errors:
        click.secho(f"error: {e}", fg="red", err=True)
    if not dry_run:
        _store_dashboard_funnels(project)
    sys.exit(result.exit_code(warn_ok))


def _store_dashboard_funnels(project) -> None:
    """Precompute the dashboard's default funnels while checking, so the first page view reads them."""
    # lazy: kpi --help stays fast
    from ..dashboard.funnel_precompute import store_funnels
    from ..run.engine import Engine

    try:
        store_funnels(project, Engine(project))
    except (KpiEngineError, OSError, sqlite3.Error) as exc:  # a help for the page, never a failed check
        click.secho(f"warning: dashboard funnels not stored: {exc}", fg="yellow", err=True)


def _print_check(result, chosen: bool = False) -> None:
    # lazy: kpi --help stays fast
    from ..render import to_text

    active = [a for a in result.alerts if a.state.state in ("pending", "firing") or a.transition]
    periods = sorted({str(p) for p in result.periods.values() if p})
    which = "" if chosen else " (the last complete one for the data)"
    click.echo(f"checked {len(result.periods)} rule(s) for period {', '.join(periods) or '-'}{which}: "
               f"{len(result.firing('critical'))} critical, {len(result.firing('warning'))} warning firing")
    for note in result.stale:
        click.secho(note, fg="yellow")
    if active:
        click.echo(render_table(["rule", "state", "severity", "dimensions", "period", "value", "baseline",
                                 "change", "note"], [_alert_row(a) for a in active]))
    if result.notifications:
        verb = "would send" if result.dry_run else "queued"
        by_key: dict[str, tuple[object, list[str]]] = {}
        for sink, n in result.notifications:
            by_key.setdefault(n.idempotency_key, (n, []))[1].append(sink)
        click.echo(f"\n{verb} {len(by_key)} notification(s):")
        for n, sinks in by_key.values():
            click.echo(f"\n--- to {', '.join(sinks)} (route {n.route}) ---")
            click.echo(to_text(n).rstrip())
    if result.delivery:
        d = result.delivery
        click.echo(f"\ndelivered {len(d.delivered)}, failed {len(d.failed)}, pending {len(d.pending)}")


def _check_json(result, warn_ok: bool = False) -> dict:
    return {
        "dry_run": result.dry_run, "exit_code": result.exit_code(warn_ok),
        "periods": {k: str(v) if v else None for k, v in result.periods.items()},
        "alerts": [{"rule": a.rule.name, "kpi": a.rule.kpi, **{k: v for k, v in a.state.to_dict().items()
                                                                 if k not in ("prior", "before_error")},
                    "transition": a.transition, "silenced_by": a.silenced_by, "inhibited": a.inhibited}
                   for a in result.alerts],
        "notifications": [{"sink": s, **n.payload()} for s, n in result.notifications],
        "delivery": result.delivery.__dict__ if result.delivery else None,
        "errors": result.errors, "warnings": result.warnings, "stale": result.stale,
    }


# --------------------------------------------------------------------------- alerts
@click.command()
@spec_option
@click.option("--all", "show_all", is_flag=True, help="also list inactive and resolved alerts")
@click.option("--outbox", is_flag=True, help="list the notification outbox instead")
@click.option("--events", is_flag=True, help="list recent state transitions instead")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def alerts(spec, show_all, outbox, events, fmt):
    """Show the current alert states (or the outbox, or recent transitions)."""
    # lazy: kpi --help stays fast
    from ..alerting.notify import AlertView
    from ..alerting.outbox import outbox_rows
    from ..alerting.present import TABLE_COLUMNS, event_rows, outbox_view
    from ..alerting.rules import load_rules
    from ..alerting.inhibition import hidden_alerts
    from ..alerting.routing import load_routing
    from ..alerting.silences import list_silences, silenced_by
    from ..alerting.state import AlertStore, history_file

    project = load(spec)
    store = AlertStore.open(history_file(project))
    try:
        if outbox or events:
            # times in the project time zone, values in the KPI's unit (present.py)
            rows = outbox_view(outbox_rows(store.con), project) if outbox else \
                event_rows(store.events(limit=200), load_rules(project), project)
            if fmt == "json":
                click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
            elif rows:
                headers = TABLE_COLUMNS["outbox" if outbox else "events"]
                click.echo(render_table(headers, [["" if r.get(h) is None else str(r[h])[:60] for h in headers]
                                                  for r in rows]))
            else:
                click.echo("nothing yet")
            return
        rules = load_rules(project)
        now = time.time()
        silences = list_silences(store.con, now=now)
        views = [AlertView(rules[r], st, project.kpis.get(rules[r].kpi))
                 for (r, _k), st in sorted(store.states().items()) if r in rules]
        hidden = hidden_alerts(views, load_routing(project).inhibit_rules)
        for v in views:
            s = silenced_by(v.labels, silences, now)
            v.silenced_by, v.inhibited = (s.id if s else None), (v.rule.name, v.state.key) in hidden
        if not show_all:
            views = [v for v in views if v.state.state in ("pending", "firing")]
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps([{"rule": v.rule.name, "kpi": v.rule.kpi, "labels": v.labels,
                                **{k: val for k, val in v.state.to_dict().items()
                                   if k not in ("prior", "before_error")},
                                "silenced_by": v.silenced_by, "inhibited": v.inhibited} for v in views],
                              indent=2, ensure_ascii=False, default=str))
        return
    if not views:
        click.echo("no alert is pending or firing" + ("" if show_all else " (--all lists every tracked alert)"))
        return
    click.echo(render_table(["rule", "state", "severity", "dimensions", "period", "value", "baseline", "change",
                             "note"], [_alert_row(v) for v in views]))


# --------------------------------------------------------------------------- silence
@click.group()
def silence():
    """Mute matching alerts for a while: add, list, expire."""


@silence.command("add", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@spec_option
@click.option("--kpi", help="match this KPI")
@click.option("--rule", help="match this rule")
@click.option("--severity", type=click.Choice(["info", "warning", "critical"]))
@click.option("--match", "matches", multiple=True, metavar="MATCHER",
              help="any label or dimension value: LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX, LABEL!~REGEX")
@click.option("--for", "duration", required=True, help="how long: 30m, 4h, 2d, 1w")
@click.option("--reason", required=True, help="why (shown in kpi silence list)")
@click.pass_context
@handle_errors
def silence_add(ctx, spec, kpi, rule, severity, matches, duration, reason):
    """Add a silence; dimension values as --region east (any --NAME VALUE pair)."""
    # lazy: kpi --help stays fast
    from ..alerting.routing import parse_duration
    from ..alerting.matchers import Matcher, MatcherError, describe, parse_matcher
    from ..alerting.silences import add_silence
    from ..alerting.state import AlertStore, history_file

    matchers = [Matcher.make(k, "=", v) for k, v in (("kpi", kpi), ("rule", rule), ("severity", severity)) if v]
    for m in matches:
        try:
            matchers.append(parse_matcher(m))
        except MatcherError as exc:
            raise click.BadParameter(str(exc), param_hint="--match") from None
    extra = list(ctx.args)
    while extra:
        flag = extra.pop(0)
        if not flag.startswith("--") or not extra or extra[0].startswith("--"):
            raise click.UsageError(f"cannot read {flag!r}: dimension matchers are written --region east")
        name = flag[2:]
        if "=" in name:
            name, value = name.split("=", 1)
        else:
            value = extra.pop(0)
        matchers.append(Matcher.make(name.replace("-", "_"), "=", value))
    try:
        seconds = parse_duration(duration).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    project = load(spec)
    problem = _silence_name_problem(project, matchers)
    if problem:
        raise click.UsageError(problem)
    store = AlertStore.open(history_file(project))
    try:
        try:
            s = add_silence(store.con, matchers, seconds, reason, created_by=os.environ.get("USER"))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    finally:
        store.close()
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s.ends_at))
    click.echo(f"silence {s.id} added until {until}: {describe(matchers)}")


def _silence_name_problem(project, matchers) -> str | None:
    """A silence naming a KPI, rule or label the project does not have would silence nothing, silently."""
    import difflib

    from ..alerting.rules import RESERVED_LABELS, load_rules  # lazy: kpi --help stays fast

    rules = load_rules(project)
    labels = set(RESERVED_LABELS) | {k for r in rules.values() for k in r.labels} | \
        {d for r in rules.values() for d in r.by}
    known_values = {"kpi": set(project.kpis), "rule": set(rules)}

    def close(word, choices):
        found = difflib.get_close_matches(word, sorted(choices), n=1)
        return f"; did you mean '{found[0]}'?" if found else ""

    for m in matchers:
        if m.name not in labels:
            return (f"no alert has the label '{m.name}'{close(m.name, labels)} (labels: "
                    f"{', '.join(sorted(labels))})")
        if m.op == "=" and m.name in known_values and m.value not in known_values[m.name]:
            return f"unknown {m.name} '{m.value}'{close(m.value, known_values[m.name])}"
    return None


@silence.command("list")
@spec_option
@click.option("--all", "show_all", is_flag=True, help="include expired silences")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def silence_list(spec, show_all, fmt):
    """List active silences."""
    # lazy: kpi --help stays fast
    from ..alerting.silences import list_silences
    from ..alerting.state import AlertStore, history_file

    project = load(spec)
    store = AlertStore.open(history_file(project))
    try:
        items = list_silences(store.con, include_expired=show_all)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps([{"id": s.id, "matchers": s.matchers, "starts_at": s.starts_at, "ends_at": s.ends_at,
                                "reason": s.reason, "created_by": s.created_by, "expired_at": s.expired_at}
                               for s in items], indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("no active silence")
        return
    fmt_t = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "-"  # noqa: E731
    click.echo(render_table(["id", "matchers", "from", "until", "expired", "reason", "by"],
                            [[str(s.id), s.describe(), fmt_t(s.starts_at),
                              fmt_t(s.ends_at), fmt_t(s.expired_at), s.reason, s.created_by or "-"] for s in items]))


@silence.command("expire")
@spec_option
@click.argument("silence_id", type=int)
@handle_errors
def silence_expire(spec, silence_id):
    """End a silence now."""
    # lazy: kpi --help stays fast
    from ..alerting.silences import expire_silence
    from ..alerting.state import AlertStore, history_file

    project = load(spec)
    store = AlertStore.open(history_file(project))
    try:
        ok = expire_silence(store.con, silence_id)
    finally:
        store.close()
    if not ok:
        raise KpiEngineError(f"no active silence with id {silence_id} (see `kpi silence list --all`)")
    click.echo(f"silence {silence_id} expired")


# --------------------------------------------------------------------------- test
@click.command("test")
@spec_option
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@handle_errors
def test_rules(spec, files):
    """Run the rule unit tests (*.test.yml next to the specs); exit 1 when one fails."""
    # lazy: kpi --help stays fast
    from ..alerting.unittest import run_tests

    project = load(spec)
    results = run_tests(project, spec, list(files) or None)
    if not results:
        click.echo(f"no rule tests found (*.test.yml under {spec})")
        return
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = click.style("PASS", fg="green") if r.passed else click.style("FAIL", fg="red")
        click.echo(f"{mark} {os.path.relpath(r.file)}: {r.name}")
        for f in r.failures:
            click.echo(f"     {f}")
    click.echo(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


# --------------------------------------------------------------------------- backtest
@click.command("backtest")
@spec_option
@click.argument("rule")
@click.option("--from", "start", required=True, callback=parse_date, help="first period (YYYY-MM-DD)")
@click.option("--to", "end", required=True, callback=parse_date, help="end (exclusive, YYYY-MM-DD)")
@click.option("--history", "from_history", is_flag=True, help="read values from the local history store "
              "instead of querying the warehouse")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def backtest_cmd(spec, rule, start, end, from_history, fmt):
    """Replay RULE over past periods: when it would have fired, resolved, and how many messages it sends."""
    # lazy: kpi --help stays fast
    from ..alerting.backtest import backtest, report_json
    from ..alerting.check import engine_fetch, history_fetch, select_rules
    from ..alerting.routing import load_routing

    project = load(spec)
    rules = select_rules(project, [rule])
    fetch = history_fetch(project) if from_history else engine_fetch(project, record=False)
    report = backtest(project, rules[rule], start, end, fetch, load_routing(project))
    click.echo(report_json(report) if fmt == "json" else report.to_text().rstrip())
