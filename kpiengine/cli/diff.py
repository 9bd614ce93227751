"""``kpi diff REV_A [REV_B]``: how the KPI set changed between two git revisions (or two folders).

REV_B defaults to the spec folder as it is now. ``--values`` also computes the
changed KPIs with both versions on the same data, side by side.
"""
from __future__ import annotations

import json

import click

from .common import handle_errors, spec_option


def register(cli: click.Group) -> None:
    cli.add_command(diff)


@click.command()
@spec_option
@click.argument("rev_a")
@click.argument("rev_b", required=False)
@click.option("--values", is_flag=True, help="compute the changed KPIs with both versions, side by side")
@click.option("--last", type=int, default=4, show_default=True, help="periods compared with --values")
@click.option("--grain", "-g", default="week", show_default=True, help="period of --values")
@click.option("--by", "-b", "by", multiple=True, help="breakdown of --values")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@handle_errors
def diff(spec, rev_a, rev_b, values, last, grain, by, fmt):
    """KPIs added, retired, status, formula, filter, target and threshold changes between two versions."""
    # lazy: kpi --help stays fast
    from ..analysis.diff_values import compare_values, values_text, with_dependents
    from ..spec.diff import diff_projects, diff_text
    from ..spec.loader import load_project, load_project_unchecked
    from ..spec.revisions import spec_at

    with spec_at(rev_a, spec) as (folder_a, label_a), spec_at(rev_b or spec, spec) as (folder_b, label_b):
        a, _ = load_project_unchecked(folder_a)
        b, _ = load_project_unchecked(folder_b)
        d = diff_projects(a, b, label_a, label_b if rev_b else f"{spec} (working tree)")
        cmp = None
        if values:
            new, old = load_project(folder_b), load_project(folder_a)
            changed = [c.name for c in d.kpis if c.change in ("added", "removed") or "definition" in c.kinds()]
            changed = with_dependents(new, changed) + [k for k in with_dependents(old, changed) if k not in new.kpis]
            cmp = compare_values(old, new, changed, grain=grain, by=by, last=last) if changed else None
    if fmt == "json":
        out = d.to_dict()
        if values:
            out["values"] = cmp.to_dict() if cmp else None
        click.echo(json.dumps(out, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(diff_text(d))
    if values:
        click.echo("")
        if cmp is None:
            click.echo("--values: no KPI definition changed, so the numbers are the same")
        else:
            click.echo(f"Values, last {len(cmp.periods)} {grain}(s), {d.a} vs {d.b}:")
            click.echo(values_text(cmp, b, "a", "b"))
