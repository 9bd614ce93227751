"""The ``kpi`` command line: validate, compile, run, explain, schema, plugins (and more from cli_* modules).

Errors a user can cause are printed as located messages with hints and a
non-zero exit code, never as tracebacks (set KPIENGINE_DEBUG=1 to see one).
"""
from __future__ import annotations

import csv
import functools
import importlib
import importlib.util
import io
import json
import os
import sys
from datetime import date

import click

from . import __version__
from .errors import KpiEngineError, SourceError, SpecError
from .formatting import format_value, render_table

EXIT_SPEC = 2
EXIT_SOURCE = 3
EXIT_INTERNAL = 4

DEFAULT_SPEC = "kpi_specs"


def spec_option(f):
    return click.option("--spec", "-s", "spec", envvar="KPI_SPECS", default=DEFAULT_SPEC, show_default=True,
                        type=click.Path(), help="spec folder (or one YAML file); env KPI_SPECS")(f)


def handle_errors(f):
    """Turn the errors a user can cause into messages and exit codes."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except SpecError as exc:
            click.secho(f"{len(exc.issues)} problem(s) found:", fg="red", err=True)
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            sys.exit(EXIT_SPEC)
        except SourceError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_SOURCE)
        except KpiEngineError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_SPEC)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # pragma: no cover - a bug: still no raw traceback unless asked
            if os.environ.get("KPIENGINE_DEBUG"):
                raise
            click.secho(f"internal error: {exc!r} (set KPIENGINE_DEBUG=1 for a traceback; please report it)",
                        fg="red", err=True)
            sys.exit(EXIT_INTERNAL)
    return wrapper


def parse_date(ctx, param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: write YYYY-MM-DD") from None


def load(spec: str):
    from .loader import load_project

    return load_project(spec)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="kpi")
def main():
    """kpiengine: define, compute, watch and explain key indicators from YAML specs."""


# --------------------------------------------------------------------------- validate
@main.command()
@spec_option
@click.option("--connect", is_flag=True, help="also check that models' tables and columns exist in the warehouse")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def validate(spec, connect, fmt):
    """Check every spec file; report all problems at once, each with file:line:column and a hint."""
    from .loader import load_project_unchecked
    from .validate import validate_project

    project, issues = load_project_unchecked(spec)
    issues += validate_project(project)
    if connect and not issues:
        from .connectcheck import check_connections

        issues += check_connections(project)
    if fmt == "json":
        click.echo(json.dumps({"ok": not issues, "problems": [i.to_dict() for i in issues]}, ensure_ascii=False,
                              indent=2))
        sys.exit(EXIT_SPEC if issues else 0)
    if issues:
        raise SpecError(issues)
    click.secho(f"ok: {len(project.files)} file(s), {len(project.kpis)} KPIs, {len(project.models)} models, "
                f"{len(project.process)} process nodes", fg="green")


# --------------------------------------------------------------------------- compile
def request_options(f):
    f = click.option("--kpi", "-k", "kpis", multiple=True, help="KPI name (repeatable); default all")(f)
    f = click.option("--grain", "-g", default="week", show_default=True,
                     help="period: day, week, month, quarter, year")(f)
    f = click.option("--by", "-b", "by", multiple=True, help="dimension to break down by (repeatable)")(f)
    f = click.option("--from", "start", callback=parse_date, help="first day, inclusive (YYYY-MM-DD)")(f)
    f = click.option("--to", "end", callback=parse_date, help="last day, exclusive (YYYY-MM-DD)")(f)
    return f


@main.command("compile")
@spec_option
@request_options
@click.option("--dialect", "-d", default=None, help="sqlglot dialect (default: each source's own)")
@handle_errors
def compile_cmd(spec, kpis, grain, by, start, end, dialect):
    """Print the SQL a warehouse would run: one query per model."""
    from .engine import Engine

    project = load(spec)
    queries = Engine(project).compile(kpis, grain, by, start, end, dialect=dialect)
    for q in queries:
        click.echo(f"-- model {q.model} (source {q.source}, dialect {q.dialect}): {', '.join(q.kpis)}")
        click.echo(q.pretty() + ";\n")


# --------------------------------------------------------------------------- run
@main.command()
@spec_option
@request_options
@click.option("--last", type=int, default=None, help="only the last N periods in the output")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--no-history", is_flag=True, help="do not record this run in the history store")
@click.option("--timeout", type=float, default=None, help="query timeout in seconds")
@handle_errors
def run(spec, kpis, grain, by, start, end, last, fmt, no_history, timeout):
    """Compute KPIs per period and dimension, print them and record them in history."""
    project = load(spec)
    rs = execute_run(project, kpis, grain, by, start, end, timeout=timeout, record=not no_history)
    click.echo(render_result(project, rs, fmt, last=last))


def execute_run(project, kpis, grain, by, start, end, *, timeout=None, record=True, registry=None):
    """Compute, store in history, and tell kpiengine_run_finished plugins: what `kpi run` does."""
    from .engine import Engine
    from .history import HistoryStore
    from .runs import RunSummary, notify_run_finished

    engine = Engine(project, registry, timeout=timeout)
    store = HistoryStore.for_project(project) if record else None
    try:
        rs = engine.compute(kpis, grain, by, start, end)
    except SourceError as exc:
        if store is not None:
            store.record_failure(project, grain, list(by), list(kpis), str(exc))
        raise
    if store is not None:
        store.record_run(project, rs)
        notify_run_finished(engine.registry, RunSummary(
            run_id=rs.run_id, project=project.name, spec_version=rs.spec_version, grain=rs.grain, by=tuple(rs.by),
            kpis=tuple(rs.kpis), rows=tuple(rs.rows)))
    return rs


def render_result(project, rs, fmt: str, *, last: int | None = None) -> str:
    rows = rs.rows
    if last:
        keep = set(rs.periods()[-last:])
        rows = [r for r in rows if r.period_start in keep]
    if fmt == "json":
        return json.dumps({
            "grain": rs.grain, "by": rs.by, "start": rs.start.isoformat() if rs.start else None,
            "end": rs.end.isoformat() if rs.end else None, "spec_version": rs.spec_version, "run_id": rs.run_id,
            "rows": [{**r.to_dict(), "label": project.kpis[r.kpi].label, "unit": project.kpis[r.kpi].unit,
                      "process_path": project.kpi_path(r.kpi)} for r in rows]}, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["kpi", "period_start", *rs.by, "value"])
        for r in rows:
            writer.writerow([r.kpi, r.period_start.isoformat(), *[r.dimensions.get(d) for d in rs.by],
                             "" if r.value is None else r.value])
        return buf.getvalue().rstrip("\n")
    return pivot_table(project, rs, rows)


def pivot_table(project, rs, rows) -> str:
    """One line per period and dimension values, one column per KPI (labels as headers)."""
    if not rows:
        return "no data for this period range"
    kpis = [k for k in rs.kpis if any(r.kpi == k for r in rows)]
    grid: dict[tuple, dict[str, object]] = {}
    for r in rows:
        key = (r.period_start, *[r.dimensions.get(d) for d in rs.by])
        grid.setdefault(key, {})[r.kpi] = r.value
    headers = ["period", *rs.by, *[project.kpis[k].label for k in kpis]]
    body = []
    for key in sorted(grid, key=lambda k: tuple((v is None, str(v)) for v in k)):
        vals = grid[key]
        body.append([key[0].isoformat(), *["(null)" if v is None else str(v) for v in key[1:]],
                     *[format_value(vals.get(k), project.kpis[k].unit) if k in vals else "" for k in kpis]])
    right = [False] * (1 + len(rs.by)) + [True] * len(kpis)
    return render_table(headers, body, right)


# --------------------------------------------------------------------------- explain
@main.command()
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
              help="nats a segment must add beyond the cost of naming it (higher: fewer segments) [2]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def explain(spec, kpi, dialect, grain, by, change, at, baseline, window, search, strictness, fmt):
    """Show how a KPI is built (process path, formula tree, SQL), or why it changed (--change, --at)."""
    from .engine import Engine
    from .explain import describe_kpi

    project = load(spec)
    engine = Engine(project)
    name = engine.resolve_kpis([kpi])[0]
    if change and (at or baseline):
        raise KpiEngineError("use either --change FROM TO, or --at PERIOD with --baseline")
    if change or at:
        try:
            from .explain_change import explain_change
        except ImportError:
            raise KpiEngineError("--change needs the root-cause module (kpiengine.explain_change)") from None
        params = {} if strictness is None else {"strictness": strictness}
        frm, to = change if change else (None, at)
        chosen = _baseline_for(project, name, baseline or "previous", window, grain) if at else None
        click.echo(explain_change(engine, name, frm, to, list(by), fmt, grain=grain, baseline=chosen,
                                  search=search, search_params=params))
        return
    click.echo(describe_kpi(engine, name, grain=grain, by=list(by), dialect=dialect, fmt=fmt))


def _baseline_for(project, kpi: str, kind: str, window: int | None, grain: str):
    """The baseline for --at: a forecast uses the window of the KPI's own anomaly rule when it has one."""
    from .analysis.baselines import parse_baseline

    seasonal = False
    if kind == "forecast" and window is None:
        try:
            from .alerting.rules import load_rules  # lazy: alerting is optional here
            rules = load_rules(project)
        except (ImportError, KpiEngineError):
            rules = {}
        rule = next((r for r in rules.values() if r.kpi == kpi and r.type == "anomaly" and r.grain == grain), None)
        if rule is not None:
            window, seasonal = rule.window, bool(rule.seasonal)
    return parse_baseline(kind, window, seasonal)


# --------------------------------------------------------------------------- schema / plugins / history
@main.command()
def schema():
    """Print the JSON Schema of a spec file (for editors: yaml-language-server $schema)."""
    from .schema import spec_schema

    click.echo(json.dumps(spec_schema(), indent=2, ensure_ascii=False))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def plugins(fmt):
    """List installed plugins, their versions and the source and sink types they add."""
    from .plugins import default_registry

    reg = default_registry()
    infos = reg.plugins()
    if fmt == "json":
        click.echo(json.dumps({
            "plugins": [info.__dict__ for info in infos],
            "source_types": sorted(reg.source_types), "sink_types": sorted(reg.sink_types),
            "problems": [{"plugin": p.plugin, "distribution": p.distribution, "message": p.message}
                         for p in reg.problems]}, indent=2))
        return
    rows = [[i.name, i.distribution or "-", i.version or "-", ", ".join(i.source_types) or "-",
             ", ".join(i.sink_types) or "-"] for i in infos]
    click.echo(render_table(["plugin", "distribution", "version", "sources", "sinks"], rows))
    for p in reg.problems:
        click.secho(f"warning: {p}", fg="yellow", err=True)


@main.command()
@spec_option
@click.option("--limit", default=20, show_default=True)
@handle_errors
def history(spec, limit):
    """List recent runs recorded in the history store."""
    from .history import HistoryStore

    project = load(spec)
    runs = HistoryStore.for_project(project).runs(limit)
    rows = [[str(r["id"]), r["started_at"], r["status"], r["grain"], ",".join(json.loads(r["by_dims"])) or "-",
             str(r["rows"]), r["spec_version"], (r["error"] or "")[:60]] for r in runs]
    click.echo(render_table(["run", "started", "status", "grain", "by", "rows", "spec", "error"], rows))


# Commands contributed by other core modules register themselves here.
for _mod in ("cli_demo", "cli_alerting", "cli_funnels", "cli_dashboard"):
    if importlib.util.find_spec(f"kpiengine.{_mod}") is not None:
        importlib.import_module(f"kpiengine.{_mod}").register(main)


if __name__ == "__main__":  # pragma: no cover
    main()
