"""``kpi review``, ``kpi ack``: the review meeting's evidence, and the record of what was decided and done.

``kpi review --from 2026-07-01 --to 2026-11-02`` prints, per KPI, attainment of
the targets set in advance, trend, volatility, alerts, driver share, lead/lag,
data health and a suggested decision (``--format json|html``).
``kpi review --decide visits=strengthen --reason "..."`` writes the decision
into the KPI's YAML file. ``kpi ack RULE --where region=east --note "..."``
records what was done about an alert, which the review counts as acted on.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import date

import click

from .common import handle_errors, load, parse_date, spec_option


def register(cli: click.Group) -> None:
    cli.add_command(review)
    cli.add_command(ack)


@click.command()
@spec_option
@click.option("--from", "start", callback=parse_date, help="first day of the review window (YYYY-MM-DD)")
@click.option("--to", "end", callback=parse_date, help="end of the window, exclusive (default: today)")
@click.option("--grain", "-g", default="week", show_default=True, help="period of the trend: day, week, month...")
@click.option("--kpi", "-k", "kpis", multiple=True, help="only this KPI (repeatable); default every KPI")
@click.option("--outcome", "outcomes", multiple=True,
              help="outcome KPI to judge the others against (repeatable); default: KPIs tagged outcome")
@click.option("--by", "-b", "by", multiple=True, help="also judge rates per value of this dimension")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
@click.option("--decide", "decisions", multiple=True, metavar="KPI=DECISION",
              help="record a decision (activate, strengthen, weaken, adjust, retire, keep) in the KPI's YAML")
@click.option("--reason", help="why (required with --decide)")
@click.option("--who", default=lambda: os.environ.get("USER"), help="who decided (default: $USER)")
@click.option("--date", "day", callback=parse_date, help="day of the decision (default: today)")
@handle_errors
def review(spec, start, end, grain, kpis, outcomes, by, fmt, output, decisions, reason, who, day):
    """Evidence for the KPI review over a window, or (--decide) record a decision in the spec."""
    if decisions:
        _decide(spec, decisions, reason, who, day)
        return
    if start is None:
        raise click.UsageError("give the review window: --from YYYY-MM-DD [--to YYYY-MM-DD]")
    text = review_output(spec, start, end, grain, kpis, outcomes, by, fmt)
    if output:
        write_file(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)


def review_output(spec, start, end, grain, kpis, outcomes, by, fmt: str) -> str:
    """The review as text, JSON or the printable HTML page (what kpi review and kpi report --review write)."""
    # lazy: kpi --help stays fast
    from ..analysis.review_text import review_table, short_review_notes
    from ..dashboard.review_feed import review_document
    from ..dashboard.review_page import render_review_page

    project = load(spec)
    doc = review_document(project, start, end or date.today(), grain=grain, kpis=list(kpis) or None,
                          outcomes=list(outcomes) or None, by=by)
    if fmt == "json":
        return json.dumps(doc.to_dict(), indent=2, ensure_ascii=False, default=str)
    if fmt == "html":
        return render_review_page(project, doc)
    return review_table(doc.review) + short_review_notes(doc)


def write_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)  # never leave a half-written file behind
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None


def _decide(spec, decisions, reason, who, day) -> None:
    # lazy: kpi --help stays fast
    from ..spec.decide import Decision, parse_decide, record_decisions
    from ..spec.loader import load_project

    if not reason:
        raise click.UsageError("--decide needs --reason: the next review reads why")
    project = load(spec)
    items = [Decision(*parse_decide(text), reason=reason, who=who, day=day) for text in decisions]
    for w in record_decisions(project, items, load=load_project):
        change = f"status {w.status_before} -> {w.status_after}" if w.status_before != w.status_after \
            else f"status stays {w.status_after}"
        click.echo(f"{w.kpi}: recorded {w.entry['decision']} on {w.entry['date']} in {w.path} ({change})")


@click.command()
@spec_option
@click.argument("rule")
@click.option("--where", "where", multiple=True, metavar="DIM=VALUE", help="the alert's dimension value")
@click.option("--note", required=True, help="what was done about it")
@click.option("--who", default=lambda: os.environ.get("USER"), help="who acted (default: $USER)")
@handle_errors
def ack(spec, rule, where, note, who):
    """Record that an alert was acted on (the review counts acted-on and silenced alerts)."""
    # lazy: kpi --help stays fast
    from ..alerting.acks import add_ack
    from ..alerting.evaluate import dims_key
    from ..alerting.state import AlertStore, history_file

    project = load(spec)
    dims = {}
    for item in where:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write DIM=VALUE", param_hint="--where")
        k, v = item.split("=", 1)
        dims[k.strip()] = v.strip()
    path = history_file(project)
    if not path.exists():
        raise click.ClickException("no alert state yet: run kpi check first")
    store = AlertStore.open(path)
    try:
        states = store.states(rule)
        key = dims_key(dims)
        if not states:
            raise click.ClickException(f"rule '{rule}' has no alerts (kpi alerts --all lists them)")
        state = states.get((rule, key)) or _match_loose(states, rule, dims)
        if state is None:
            known = "; ".join(k for (_r, k) in sorted(states))
            raise click.ClickException(f"rule '{rule}' has no alert for {dims or 'the total'}; its alerts: {known}")
        period = date.fromisoformat(state.fired_period or state.last_period)
        try:
            a = add_ack(store.con, rule, state.key, period, note, created_by=who)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    finally:
        store.close()
    click.echo(f"acknowledged {rule} {state.key} (fired {period}): {a.note}")
    if state.state != "firing":
        click.echo(f"note: the alert is {state.state} now", err=True)
    sys.exit(0)


def _match_loose(states, rule, dims):
    """Dimension values typed as text match numbers or booleans stored in the state."""
    for (r, _k), st in states.items():
        if r == rule and {k: str(v) for k, v in st.dimensions.items()} == dims:
            return st
    return None
