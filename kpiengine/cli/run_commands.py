"""``kpi compile``, ``kpi run``, ``kpi explain`` and ``kpi history``: KPIs as SQL, as numbers, as a story."""
from __future__ import annotations

import json

import click

from ..errors import KpiEngineError
from ..formatting import render_table
from .common import handle_errors, load, request_options, spec_option
from .json_output import run_json
from .tables import LAYOUTS, values_csv, values_table


WHERE_HELP = ("query filter over dimension names, the KPI's own or reached through entities: "
              "\"region = 'east' AND rep.team IN ('a', 'b')\" (a filtered run is not recorded in history)")


def register(cli: click.Group) -> None:
    for command in (compile_cmd, run, explain, history):
        cli.add_command(command)


@click.command("compile")
@spec_option
@request_options
@click.option("--dialect", "-d", default=None, help="sqlglot dialect (default: each source's own)")
@click.option("--where", "-w", default=None, help=WHERE_HELP)
@click.option("--per-model", is_flag=True, help="one query per model scan, without the formulas (what "
                                               "root cause and drill-downs read)")
@handle_errors
def compile_cmd(spec, kpis, grain, by, start, end, dialect, where, per_model):
    """Print the SQL a warehouse would run: one statement per source, formulas included."""
    from ..run.engine import (
        Engine,  # lazy: kpi --help must not import the engine and sqlglot
    )

    project = load(spec)
    engine = Engine(project)
    compile_fn = engine.compile if per_model else engine.compile_statements
    queries = compile_fn(kpis, grain, by, start, end, dialect=dialect, where=where)
    for q in queries:
        if hasattr(q, "outputs"):
            click.echo(f"-- source {q.source} (dialect {q.dialect}), one statement over "
                       f"{', '.join(dict.fromkeys(q.models))}, columns: "
                       + ", ".join(f"{o.alias} = {o.kpi}" for o in q.outputs))
        else:
            click.echo(f"-- model {q.model} (source {q.source}, dialect {q.dialect}): {', '.join(q.kpis)}")
        for line in q.joins:
            click.echo(f"-- join {line}")
        click.echo(q.pretty() + ";\n")


@click.command()
@spec_option
@request_options
@click.option("--last", type=int, default=None, help="only the last N periods in the output")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--pretty", is_flag=True, help="indent the JSON for humans (default: compact, fastest)")
@click.option("--layout", type=click.Choice(LAYOUTS), default="auto", show_default=True,
              help="table: wide (a column per KPI), rows (a row per KPI), long (a line per value); "
                   "auto takes the first that fits the terminal")
@click.option("--raw", is_flag=True, help="CSV: write text as it is, without the apostrophe that keeps a "
                                          "spreadsheet from running =, +, -, @ cells as formulas")
@click.option("--no-history", is_flag=True, help="do not record this run in the history store")
@click.option("--timeout", type=float, default=None, help="query timeout in seconds")
@click.option("--incremental", is_flag=True,
              help="compute only the periods whose rows changed since the last run of this request; the rest "
                   "comes from history")
@click.option("--lookback", type=click.IntRange(min=0), default=0, show_default=True,
              help="with --incremental: also recompute this many periods before the first change (late corrections)")
@click.option("--where", "-w", default=None, help=WHERE_HELP)
@click.option("--order-by", "order_by", default=None, metavar="KPI[:asc]",
              help="rank each period's dimension values by this KPI, highest first (KPI:asc for lowest first)")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="with --order-by: keep only the first N dimension values of each period (top 10 reps)")
@click.option("--having", default=None, metavar="CONDITION",
              help="keep only the groups whose KPI values pass: \"visits > 20\", \"conversion >= 10% AND visits > 20\"")
@click.option("--fill", type=click.Choice(["zero", "null"]), default=None,
              help="periods without rows: 0 for counts and sums (zero) or null, for every KPI (overrides `fill:`)")
@handle_errors
def run(spec, kpis, grain, by, start, end, last, fmt, pretty, layout, raw, no_history, timeout, incremental,
        lookback, where, order_by, limit, having, fill):
    """Compute KPIs per period and dimension, print them and record them in history."""
    from ..run.runs import (
        execute_run,  # lazy: kpi --help must not import the engine and sqlglot
    )

    project = load(spec)
    rs = execute_run(project, kpis, grain, by, start, end, timeout=timeout, record=not no_history,
                     incremental=incremental, lookback=lookback, where=where, fill=fill)
    if fmt != "table":  # a table lists stale models under it; JSON and CSV keep stdout for the data
        for note in rs.stale_notes():
            click.echo(f"warning: {note}", err=True)
    if having:
        from ..run.ranking import having_rows  # lazy: only a filtered run needs it

        rs.rows = having_rows(rs, having)
    if order_by or limit:
        from ..run.ranking import (
            rank_rows,  # lazy: only a ranked run needs it
        )

        rs.rows = rank_rows(rs, order_by, limit)
    if fmt == "json":
        click.echo(run_json(project, rs, last_periods(rs, last), pretty=pretty))  # bytes: no decode round trip
        return
    # color=True: click would strip what looks like an ANSI escape from data when the output is a pipe;
    # a table shows control characters as visible escapes already, and CSV keeps the data as it is.
    click.echo(render_result(project, rs, fmt, last=last, layout=layout, raw=raw), color=True)


def last_periods(rs, last: int | None):
    if not last:
        return rs.rows
    keep = set(rs.periods()[-last:])
    return [r for r in rs.rows if r.period_start in keep]


def render_result(project, rs, fmt: str, *, last: int | None = None, layout: str = "auto", raw: bool = False,
                  width: int | None = None) -> str:
    """The run's values as JSON, CSV or a table (a note on the chosen table layout goes to stderr)."""
    rows = last_periods(rs, last)
    if fmt == "json":
        return run_json(project, rs, rows).decode()
    if fmt == "csv":
        return values_csv(rs, rows, raw=raw)
    table, note = values_table(project, rs, rows, layout, width)
    if note:
        click.echo(note, err=True)
    return table


@click.command()
@spec_option
@click.argument("kpi")
@click.option("--dialect", "-d", default=None, help="show the SQL in this dialect")
@click.option("--grain", "-g", default="week", show_default=True)
@click.option("--by", "-b", "by", multiple=True,
              help="breakdown for the SQL; with --change/--at the dimensions to search, repeated or "
                   "comma-separated (region,channel,rep); region*channel splits a pair")
@click.option("--change", nargs=2, metavar="FROM_PERIOD TO_PERIOD", default=None,
              help="explain why the KPI changed between two periods (2026-03-02, 2026-W10, 2026-03, 2026-Q1)")
@click.option("--at", "at", metavar="PERIOD", default=None,
              help="explain the KPI's move in PERIOD against --baseline")
@click.option("--baseline", type=click.Choice(["previous", "last_year", "forecast", "average"]), default=None,
              help="what --at compares with: the period before, the same period last year, the expected value "
                   "of the KPI's anomaly rule (median of its window), or the trailing average [previous]")
@click.option("--window", type=int, default=None,
              help="periods behind forecast/average (default: the KPI's anomaly rule's window, else 8)")
@click.option("--search", type=click.Choice(["auto", "combinations", "dimensions"]), default="auto",
              show_default=True, help="combinations: segments over any number of the --by dimensions (default "
                                      "with two or more); dimensions: each dimension on its own")
@click.option("--strictness", type=float, default=None,
              help="nats a segment must add beyond the cost of naming it (higher: fewer segments) [3]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def explain(spec, kpi, dialect, grain, by, change, at, baseline, window, search, strictness, fmt):
    """Show how a KPI is built (process path, formula tree, SQL), or why it changed (--change, --at)."""
    # lazy: kpi --help must not import the engine and sqlglot
    from ..analysis.explain import describe_kpi
    from ..analysis.explain_change import explain_change
    from ..run.engine import Engine

    project = load(spec)
    engine = Engine(project)
    name = engine.resolve_kpis([kpi])[0]
    if change and (at or baseline):
        raise KpiEngineError("use either --change FROM TO, or --at PERIOD with --baseline")
    if change or at:
        params = {} if strictness is None else {"strictness": strictness}
        frm, to = change if change else (None, at)
        chosen = _baseline_for(project, name, baseline or "previous", window, grain) if at else None
        click.echo(explain_change(engine, name, frm, to, list(by), fmt, grain=grain, baseline=chosen,
                                  search=search, search_params=params))
        return
    click.echo(describe_kpi(engine, name, grain=grain, by=list(by), dialect=dialect, fmt=fmt))


def _baseline_for(project, kpi: str, kind: str, window: int | None, grain: str):
    """The baseline for --at: a forecast uses the window of the KPI's own anomaly rule when it has one."""
    from ..alerting.rules import load_rules  # lazy: kpi --help must not import alerting
    from ..analysis.baselines import parse_baseline

    seasonal = False
    if kind == "forecast" and window is None:
        try:
            rules = load_rules(project)
        except KpiEngineError:
            rules = {}
        rule = next((r for r in rules.values() if r.kpi == kpi and r.type == "anomaly" and r.grain == grain), None)
        if rule is not None:
            window, seasonal = rule.window, bool(rule.seasonal)
    return parse_baseline(kind, window, seasonal)


@click.command()
@spec_option
@click.option("--limit", default=20, show_default=True)
@handle_errors
def history(spec, limit):
    """List recent runs recorded in the history store."""
    from ..run.history import HistoryStore  # lazy: kpi --help stays fast

    project = load(spec)
    runs = HistoryStore.for_project(project).runs(limit)
    rows = [[str(r["id"]), r["started_at"], r["status"], r["grain"], ",".join(json.loads(r["by_dims"])) or "-",
             str(r["rows"]), r["spec_version"], (r["error"] or "")[:60]] for r in runs]
    click.echo(render_table(["run", "started", "status", "grain", "by", "rows", "spec", "error"], rows))
