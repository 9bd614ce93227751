"""``kpi funnel NAME``: entities per step, conversions, drop-off and time between steps."""
from __future__ import annotations

import json

import click

from ..formatting import display
from .common import handle_errors, load, parse_date


def register(cli: click.Group) -> None:
    cli.add_command(funnel_cmd)


def _days(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def render_funnel(result) -> str:
    # lazy: kpi --help stays fast
    from ..formatting import render_table

    f = result.funnel
    how = ("cohort view: every step counted in the period the entity entered" if result.view == "cohort"
           else "event view: each step counted in the period it happened")
    window = f"window {f.window_seconds / 86400:g}d from the first step" if f.window_seconds else "no window"
    lines = [f"{f.name} ({f.label}): {how}; {window}; {'ordered' if f.ordered else 'unordered'} steps",
             "steps: " + " -> ".join(f"{s.label}" + (f" [{s.product}]" if s.product else "")
                                     + (f" (within {s.within_seconds / 86400:g}d)" if s.within_seconds else "")
                                     for s in f.steps), ""]
    headers = ["period", *result.by, "step", "product", "entities", "from previous", "from top", "drop-off",
               "median time"]
    rows = []
    for r in result.rows:
        for i, st in enumerate(r.steps):
            mark = " (maturing)" if r.maturing else " *" if not r.complete else ""
            lead = ([r.period_start.isoformat() + mark, *[display(r.dimensions[d]) for d in result.by]] if i == 0
                    else [""] * (1 + len(result.by)))
            rows.append(lead + [st.label, st.product or "", f"{st.entities:,}", _pct(st.conversion_from_previous),
                                _pct(st.conversion_from_top), "—" if st.drop_off is None else f"{st.drop_off:,}",
                                _days(st.median_seconds)])
    if not rows:
        lines.append("no entities entered the funnel in this range")
    else:
        right = [False] * (3 + len(result.by)) + [True] * 5
        lines.append(render_table(headers, rows, right))
    lines += ["", "median time: from the previous step" if f.ordered else "median time: from the first step"]
    if any(r.maturing for r in result.rows):
        lines.append("(maturing): a cohort younger than the window: its entities can still convert")
    if any(not r.complete and not r.maturing for r in result.rows):
        lines.append("*: partial period: the data does not cover it whole yet")
    return "\n".join(lines)


@click.command("funnel")
@click.option("--spec", "-s", "spec", envvar="KPI_SPECS", default="kpi_specs", show_default=True,
              type=click.Path(), help="spec folder (or one YAML file); env KPI_SPECS")
@click.argument("name", required=False)
@click.option("--grain", "-g", default="week", show_default=True, help="day, week, month, quarter or year")
@click.option("--by", "-b", "by", multiple=True,
              help="break down by a dimension of the entry step (repeat for more); default: the funnel's breakdown")
@click.option("--from", "start", default=None, help="first period (YYYY-MM-DD, inclusive)")
@click.option("--to", "end", default=None, help="end (YYYY-MM-DD, exclusive)")
@click.option("--view", type=click.Choice(["cohort", "event"]), default=None,
              help="cohort: by entry date (default); event: each step when it happened")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--sql", "show_sql", is_flag=True, help="print the compiled SQL instead of running it")
def funnel_cmd(spec, name, grain, by, start, end, view, fmt, show_sql):
    """Show a funnel: entities per step, conversion from the previous step and from the top, drop-off,
    median time between steps, per period and breakdown. Without NAME, list the funnels."""

    handle_errors(_funnel)(spec, name, grain, by, start, end, view, fmt, show_sql)


def _funnel(spec, name, grain, by, start, end, view, fmt, show_sql):
    # lazy: kpi --help stays fast
    from ..analysis.funnels import get_funnel, parse_funnels, run_funnel
    from ..errors import SpecError
    from ..run.engine import Engine

    project = load(spec)
    if not name:
        funnels, issues = parse_funnels(project)
        if issues:
            raise SpecError(issues)
        if not funnels:
            click.echo("no funnels in this spec (see docs/funnels.md)")
        for f in funnels.values():
            click.echo(f"{f.name}: {f.label} — " + " -> ".join(s.name for s in f.steps))
        return
    start_d, end_d = parse_date(None, None, start), parse_date(None, None, end)
    engine = Engine(project)
    by_list = list(by) if by else None
    if show_sql:
        # lazy: kpi --help stays fast
        from ..sql.funnel_sql import compile_funnel

        f = get_funnel(project, name)
        dialect = engine.dialect_of(f.source)
        q = compile_funnel(project, f, grain, list(f.breakdown if by_list is None else by_list), start_d, end_d,
                           view or f.view, dialect)
        click.echo(q.sql(pretty=True))
        return
    result = run_funnel(engine, name, grain=grain, by=by_list, start=start_d, end=end_d, view=view)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(render_funnel(result))
