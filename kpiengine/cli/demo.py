"""``kpi demo``: build the demo warehouse, compute the demo KPIs and say what to try next."""
from __future__ import annotations

import dataclasses
import os
from datetime import timedelta

import click

from . import demo_data as demo
from .common import handle_errors, load
from .run_commands import render_result

#: What the printed table shows (all KPIs are computed and recorded in history).
SHOWN_KPIS = ("visits", "deals_won", "conversion", "revenue", "mindset", "performance")
#: Breakdowns recorded in history so `kpi report`, `kpi serve` and `kpi check` have data at once.
RECORDED_BREAKDOWNS = ((), ("region",), ("channel",), ("rep",))


def register(cli: click.Group) -> None:
    cli.add_command(demo_cmd)


@click.command("demo")
@click.option("--path", default="demo.duckdb", show_default=True, type=click.Path(dir_okay=False),
              help="DuckDB file to write (replaced if it exists)")
@click.option("--spec", "--specs", "spec", envvar="KPI_SPECS", default="kpi_specs", show_default=True,
              type=click.Path(), help="spec folder with the demo KPIs; env KPI_SPECS")
@click.option("--no-run", is_flag=True, help="only build the warehouse, do not compute KPIs")
@click.option("--seed", type=int, default=demo.DEFAULT_SEED, show_default=True, help="random seed of the data")
@click.option("--weeks", type=int, default=demo.DEFAULT_WEEKS, show_default=True,
              help=f"weeks of data, ending before {demo.DEMO_END}")
@click.option("--scale", type=float, default=1.0, show_default=True, help="volume multiplier (1.0: ~400k rows)")
@click.option("--last", type=int, default=4, show_default=True, help="weeks shown in the table")
def demo_cmd(path, spec, no_run, seed, weeks, scale, last):
    """Build a realistic demo sales warehouse (DuckDB) and compute the demo KPIs on it."""

    handle_errors(_demo)(path, spec, no_run, seed, weeks, scale, last)


def _demo(path, spec, no_run, seed, weeks, scale, last):
    # lazy: kpi --help stays fast
    from ..run.runs import execute_run
    from ..spec.dimensions import available_dimensions

    click.echo(f"Building the demo warehouse in {path} ...")
    info = demo.build_demo(path, seed=seed, weeks=weeks, scale=scale)
    counts = ", ".join(f"{t} {n:,}" for t, n in info.row_counts.items())
    click.echo(f"  {info.total_rows:,} rows in {len(info.row_counts)} tables ({counts})")
    click.echo(f"  {info.weeks} weeks from {info.start} to {info.end - _ONE_DAY} (seed {info.seed}), "
               f"built in {info.seconds:.1f} s")
    if no_run:
        _next_steps(path, spec, ran=False)
        return
    if not os.path.exists(spec):
        raise click.ClickException(
            f"the warehouse is built, but there is no spec folder {spec!r} here to compute KPIs with; "
            "run `kpi demo` from the repository root (where kpi_specs/ is) or pass --spec FOLDER")
    # The demo spec reads its warehouse from ${KPI_DEMO_DB:-demo.duckdb}: point it at this file.
    os.environ["KPI_DEMO_DB"] = info.path
    project = load(spec)
    shown = None
    for by in RECORDED_BREAKDOWNS:
        kpis = [k for k in project.kpis if set(by) <= set(available_dimensions(project, k))]
        rs = execute_run(project, kpis, "week", list(by), None, None)
        if by == ("region",):
            shown = rs
    keep = [k for k in SHOWN_KPIS if k in project.kpis] or list(shown.kpis)
    table = dataclasses.replace(shown, kpis=keep, rows=[r for r in shown.rows if r.kpi in keep])
    click.echo("")
    click.echo(f"Demo KPIs by week and region, last {last} weeks (all {len(project.kpis)} KPIs are in history):")
    click.echo(render_result(project, table, "table", last=last))
    _next_steps(path, spec, ran=True)


_ONE_DAY = timedelta(days=1)


def _next_steps(path: str, spec: str, *, ran: bool) -> None:
    available = set(click.get_current_context().find_root().command.commands)
    planted = demo.PLANTED_WEEK
    previous = planted - 7 * _ONE_DAY
    steps = [
        ("run", "kpi run --by region --last 4", "all KPIs by week and region"),
        ("run", "kpi run --kpi conversion --by channel --last 6", "one KPI by another dimension"),
        ("explain", "kpi explain conversion", "how conversion is built: formula, models, SQL"),
        ("explain", f"kpi explain conversion --change {previous} {planted} --by region",
         "why conversion moved last week"),
        ("check", "kpi check", "evaluate the alert rules in kpi_specs/alerts.yml"),
        ("review", "kpi review --from 2026-07-01 --to 2026-11-02", "the Q3/Q4 review: targets, drivers, decisions"),
        ("report", "kpi report --html report.html", "a one-file HTML report"),
        ("serve", "kpi serve", "the dashboard on http://127.0.0.1"),
        ("compile", "kpi compile --dialect snowflake --kpi conversion", "the SQL for another warehouse"),
    ]
    click.echo("")
    click.echo(f"The warehouse is {os.path.abspath(path)}.")
    if os.path.abspath(path) != os.path.abspath("demo.duckdb"):
        click.echo(f"The demo spec reads ./demo.duckdb by default; for the commands below first run:\n"
                   f"  export KPI_DEMO_DB={os.path.abspath(path)}")
    if spec != "kpi_specs":
        click.echo(f"Add --spec {spec} to the commands below (or export KPI_SPECS={spec}).")
    if not ran:
        steps.insert(0, ("run", "kpi run --by region --last 4", "compute the KPIs"))
    click.echo("Try next:")
    seen = set()
    for command, line, what in steps:
        if command in available and line not in seen:
            seen.add(line)
            click.echo(f"  {line:<66} # {what}")
